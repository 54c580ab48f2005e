#!/usr/bin/env node
// gRPC-Web's cost per call beside plain gRPC's, in one run: the relay (built `dist/`, one process) in front
// of bench/backends/fixed.mjs, loaded by h2load with unary SayHello calls as plain gRPC over HTTP/2, gRPC-Web
// over HTTP/2, and gRPC-Web over HTTP/1.1 (`h2load --h1`, one call at a time per connection), in interleaved
// repetitions. CPU per call is the gateway process's user+system time (/proc/<pid>/stat) over the calls made.
// Usage: npx tsc -p tsconfig.build.json && node bench/grpc-web.mjs [--calls 20000] [--reps 3]
// Needs h2load (Debian package nghttp2-client). Prints one line per mode: median µs of CPU per call, calls/s.
import { execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const CALLS = arg("calls", 20_000);
const REPS = arg("reps", 3);
const TICK_US = 1e6 / Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());

/** Starts `args` with node and resolves with the process and the port it prints as `LISTENING <port>`. */
function start(args) {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /LISTENING (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited (${code}) before listening`)));
  });
}

function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]);
}

const gatewayScript = `
const { Dataplane } = await import(${JSON.stringify(join(root, "dist/dataplane/index.js"))});
const bport = Number(process.argv[1]);
const c = "service/default/greeter/port/50051";
const table = {
  version: 1,
  clusters: { [c]: { name: c, source: { kind: "Service", namespace: "default", name: "greeter" }, endpoints: [{ host: "127.0.0.1", port: bport }], tls: false } },
  listeners: [{ name: "gateway/default/gw/listener/http", gateway: { namespace: "default", name: "gw" }, listener: "http", profile: "standard", port: 80, protocol: "HTTP",
    noRoute: { kind: "direct", grpcStatus: 12, message: "no route" },
    routes: [{ name: "grpcroute/default/greeter/rule/0/match/0", source: { kind: "GRPCRoute", namespace: "default", name: "greeter", rule: 0, match: 0 }, hostnames: [], match: { headers: [] },
      action: { kind: "forward", mirrors: [], backends: [{ weight: 1, cluster: c, source: { kind: "Service", namespace: "default", name: "greeter" } }] } }] }],
};
const dp = new Dataplane({ address: "127.0.0.1", portMap: new Map([[80, 0]]) });
await dp.apply(table);
console.log("LISTENING " + dp.boundPorts().get(80));
`;

const body = join(tmpdir(), `grpc-web-bench-${process.pid}.bin`);
writeFileSync(body, Buffer.from([0, 0, 0, 0, 7, 0x0a, 5, ...Buffer.from("world")]));

const MODES = [
  {
    name: "gRPC, HTTP/2",
    flags: ["-c", "8", "-m", "16", "-H", "content-type: application/grpc", "-H", "te: trailers"],
  },
  {
    name: "gRPC-Web, HTTP/2",
    flags: ["-c", "8", "-m", "16", "-H", "content-type: application/grpc-web+proto"],
  },
  {
    name: "gRPC-Web, HTTP/1.1",
    flags: ["--h1", "-c", "64", "-m", "1", "-H", "content-type: application/grpc-web+proto"],
  },
];

const backend = await start(["bench/backends/fixed.mjs"]);
const gateway = await start(["--input-type=module", "-e", gatewayScript, String(backend.port)]);
const url = `http://127.0.0.1:${gateway.port}/helloworld.Greeter/SayHello`;
const runs = new Map(MODES.map((m) => [m.name, []]));
try {
  for (const m of MODES)
    execFileSync("h2load", ["-n", "2000", "-d", body, ...m.flags, url], { stdio: "ignore" });
  for (let rep = 0; rep < REPS; rep++) {
    for (const m of MODES) {
      const before = cpuTicks(gateway.child.pid);
      const t0 = process.hrtime.bigint();
      const out = execFileSync("h2load", ["-n", String(CALLS), "-d", body, ...m.flags, url]).toString();
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const ok = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
      const status2xx = Number(/status codes: (\d+) 2xx/.exec(out)?.[1] ?? 0);
      if (ok !== CALLS || status2xx !== CALLS)
        throw new Error(`${m.name}: ${ok} of ${CALLS} calls succeeded`);
      runs
        .get(m.name)
        .push({ us: ((cpuTicks(gateway.child.pid) - before) * TICK_US) / CALLS, rate: CALLS / secs });
    }
  }
} finally {
  gateway.child.kill();
  backend.child.kill();
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const m of MODES) {
  const r = runs.get(m.name);
  console.log(
    `${m.name.padEnd(20)} CPU per call ${median(r.map((x) => x.us)).toFixed(1)} µs (runs: ${r.map((x) => x.us.toFixed(1)).join(", ")}), ${Math.round(median(r.map((x) => x.rate)))} calls/s`,
  );
}
