#!/usr/bin/env node
// Quick CPU-per-call comparison of the relay and a direct connection, with h2load
// driving real gRPC unary calls at the fixed-answer backend (bench/backends/fixed.mjs). The bench suite
// (`npm run bench`) records the official figures; this is the relay's own before/after check.
// With --streaming, moves 1 MiB messages (server streaming and bidi, bench/clients/stream.mjs) through each
// target against the grpc-js backend instead, and reports bytes/s.
// Usage: node test/relay/measure.mjs [--seconds 10] [--reps 3] [--backend fixed|greeter] [--streaming]
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const seconds = Number(arg("seconds", "10"));
const reps = Number(arg("reps", "3"));
const streaming = process.argv.includes("--streaming");
const backendKind = streaming ? "greeter" : arg("backend", "fixed");
const TICK_US = 1e6 / Number(spawnSync("getconf", ["CLK_TCK"]).stdout.toString().trim() || 100);

/** Starts a process and resolves once it prints `LISTENING <port>`. */
function startListening(cmd, args) {
  const p = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let buf = "";
    p.stdout.on("data", (d) => {
      buf += d;
      const m = /LISTENING (\d+)/.exec(buf);
      if (m) resolve({ proc: p, port: Number(m[1]) });
    });
    p.on("exit", (c) => reject(new Error(`${cmd} ${args.join(" ")} exited with ${c}`)));
  });
}

/** CPU time (µs) of a process and its children so far, from /proc. */
function cpuUs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  // utime, stime, cutime, cstime are fields 14..17 (1-based), i.e. 11..14 after the ") " split.
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_US;
}

// HelloRequest{name: "world"} behind the 5-byte gRPC prefix.
const body = join(tmpdir(), "grpcroute-relay-measure.bin");
const msg = Buffer.concat([Buffer.from([0x0a, 5]), Buffer.from("world")]);
const frame = Buffer.alloc(5 + msg.length);
frame.writeUInt32BE(msg.length, 1);
msg.copy(frame, 5);
writeFileSync(body, frame);

function h2load(port) {
  const r = spawnSync(
    "h2load",
    [
      "-t",
      "1",
      "-c",
      "8",
      "-m",
      "16",
      "-D",
      String(seconds),
      "-d",
      body,
      "-H",
      "content-type: application/grpc",
      "-H",
      "te: trailers",
      `http://127.0.0.1:${port}/helloworld.Greeter/SayHello`,
    ],
    { encoding: "utf8" },
  );
  const done = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded/.exec(r.stdout);
  const rps = /finished in [\d.]+s, ([\d.]+) req\/s/.exec(r.stdout);
  if (!done || !rps) throw new Error(`h2load: ${r.stdout}\n${r.stderr}`);
  return { done: Number(done[2]), rps: Number(rps[1]) };
}

const backendScript = backendKind === "greeter" ? "bench/backends/greeter.mjs" : "bench/backends/fixed.mjs";
const backend = await startListening(process.execPath, [backendScript]);
// `node --import tsx` (not the tsx binary, which runs node as a child) so the PID measured is the gateway's.
const serve = (impl) =>
  startListening(process.execPath, [
    "--import",
    "tsx",
    "test/relay/serve-one.ts",
    impl,
    `127.0.0.1:${backend.port}`,
  ]);
const targets = { direct: null, relay: await serve("relay") };
const results = {};

function stream(port, mode) {
  const r = spawnSync(
    process.execPath,
    [
      "bench/clients/stream.mjs",
      "--target",
      `127.0.0.1:${port}`,
      "--mode",
      mode,
      "--seconds",
      String(seconds),
    ],
    { cwd: root, encoding: "utf8" },
  );
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`stream.mjs: ${r.stdout}\n${r.stderr}`);
  }
}

if (streaming) {
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const mode of ["download", "echo"]) {
        for (const [name, t] of Object.entries(targets)) {
          const r = stream(t === null ? backend.port : t.port, mode);
          const key = `${mode} ${name}`;
          if (results[key] === undefined) results[key] = [];
          results[key].push(r);
        }
      }
    }
  } finally {
    for (const t of Object.values(targets)) t?.proc.kill("SIGTERM");
    backend.proc.kill("SIGTERM");
  }
  console.log(
    `1 MiB messages, ${seconds} s runs, ${reps} reps; last run's figures as stream.mjs prints them`,
  );
  for (const [k, rs] of Object.entries(results)) console.log(k.padEnd(16), JSON.stringify(rs.at(-1)));
  process.exit(0);
}

try {
  for (let rep = 0; rep < reps; rep++) {
    for (const [name, t] of Object.entries(targets)) {
      const port = t === null ? backend.port : t.port;
      const pid = t === null ? backend.proc.pid : t.proc.pid;
      const before = cpuUs(pid);
      const r = h2load(port);
      const cpu = cpuUs(pid) - before;
      if (results[name] === undefined) results[name] = [];
      results[name].push({ rps: r.rps, usPerCall: cpu / r.done });
    }
  }
} finally {
  for (const t of Object.values(targets)) t?.proc.kill("SIGTERM");
  backend.proc.kill("SIGTERM");
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`backend ${backendKind}; h2load -c 8 -m 16 -D ${seconds}; ${reps} interleaved reps; medians`);
console.log("target   req/s     CPU us/call (of the process measured: backend for direct, proxy otherwise)");
for (const [name, rs] of Object.entries(results)) {
  console.log(
    `${name.padEnd(8)} ${String(Math.round(median(rs.map((r) => r.rps)))).padStart(7)}   ${median(rs.map((r) => r.usPerCall)).toFixed(1)}`,
  );
}
