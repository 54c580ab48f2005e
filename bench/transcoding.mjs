#!/usr/bin/env node
// JSON transcoding's cost per call against plain gRPC, through the same gateway (dist/ of a tree).
//
// A grpc-js Greeter with @grpc/reflection runs in this process; the gateway runs in a child process with one
// listener whose rule enables transcoding. h2load sends unary SayHello calls, alternately as gRPC and as
// JSON (POST /helloworld.Greeter/SayHello), and the gateway's CPU time (utime + stime from /proc) is divided
// by the calls. Build first: npx tsc -p tsconfig.build.json.
// Usage: node bench/transcoding.mjs [--tree DIR] [--calls N] [--reps R]
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};

if (process.argv[2] === "--gateway") {
  // The gateway: node bench/transcoding.mjs --gateway TREE BACKEND_PORT
  const [tree, bport] = process.argv.slice(3);
  const { Dataplane } = await import(`${tree}/dist/dataplane/index.js`);
  const c = "service/default/greeter/port/50051";
  const src = { kind: "Service", namespace: "default", name: "greeter" };
  const table = {
    version: 1,
    clusters: {
      [c]: { name: c, source: src, endpoints: [{ host: "127.0.0.1", port: Number(bport) }], tls: false },
    },
    listeners: [
      {
        name: "gateway/default/gw/listener/http",
        gateway: { namespace: "default", name: "gw" },
        listener: "http",
        profile: "standard",
        port: 80,
        protocol: "HTTP",
        noRoute: { kind: "direct", grpcStatus: 12, message: "no route" },
        routes: [
          {
            name: "grpcroute/default/greeter/rule/0/match/0",
            source: { kind: "GRPCRoute", namespace: "default", name: "greeter", rule: 0, match: 0 },
            hostnames: [],
            match: { method: { type: "Exact", service: "helloworld.Greeter" }, headers: [] },
            action: { kind: "forward", mirrors: [], backends: [{ weight: 1, cluster: c, source: src }] },
            policy: { transcoding: { enabled: true, source: "TrafficPolicy default/json" } },
          },
        ],
      },
    ],
  };
  const dp = new Dataplane({ address: "127.0.0.1", portMap: new Map([[80, 0]]) });
  await dp.apply(table);
  console.log(`LISTENING ${dp.boundPorts().get(80)}`);
  process.on("SIGTERM", () => void dp.close(0).then(() => process.exit(0)));
} else {
  const tree = resolve(arg("--tree", fileURLToPath(new URL("..", import.meta.url))));
  const calls = Number(arg("--calls", "20000"));
  const reps = Number(arg("--reps", "3"));
  const protoPath = fileURLToPath(new URL("./proto/helloworld.proto", import.meta.url));
  const def = protoLoader.loadSync(protoPath, { keepCase: true, defaults: true });
  const server = new grpc.Server();
  server.addService(grpc.loadPackageDefinition(def).helloworld.Greeter.service, {
    SayHello: (call, cb) => cb(null, { message: `Hello ${call.request.name}` }),
  });
  new ReflectionService(def).addToServer(server);
  const bport = await new Promise((ok, fail) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))),
  );
  const gw = spawn(process.execPath, [fileURLToPath(import.meta.url), "--gateway", tree, String(bport)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const gport = await new Promise((ok) => {
    let out = "";
    gw.stdout.on("data", (c) => {
      out += c;
      const m = /LISTENING (\d+)/.exec(out);
      if (m) ok(Number(m[1]));
    });
  });
  const grpcBody = join(tmpdir(), "grpcroute-bench-grpc.bin");
  const jsonBody = join(tmpdir(), "grpcroute-bench-json.json");
  writeFileSync(grpcBody, Buffer.from([0, 0, 0, 0, 7, 0x0a, 5, ...Buffer.from("world")]));
  writeFileSync(jsonBody, '{"name":"world"}');
  const url = `http://127.0.0.1:${gport}/helloworld.Greeter/SayHello`;
  const kinds = {
    grpc: ["-d", grpcBody, "-H", "content-type: application/grpc", "-H", "te: trailers"],
    json: ["-d", jsonBody, "-H", "content-type: application/json"],
  };
  const cpuMs = () => {
    const f = readFileSync(`/proc/${gw.pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  };
  // Asynchronous: the backend runs in this process.
  const h2load = async (kind, n) => {
    const child = spawn("h2load", ["-n", String(n), "-c", "8", "-m", "16", ...kinds[kind], url]);
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    await new Promise((ok) => child.on("close", ok));
    const done = /(\d+) succeeded/.exec(out)?.[1];
    if (Number(done) !== n) throw new Error(`h2load ${kind}: ${out}`);
  };

  // Warm-up: descriptors fetched, code optimised.
  await h2load("grpc", 2000);
  await h2load("json", 2000);
  const results = { grpc: [], json: [] };
  for (let i = 0; i < reps; i++) {
    for (const kind of ["grpc", "json"]) {
      const before = cpuMs();
      await h2load(kind, calls);
      results[kind].push(((cpuMs() - before) * 1000) / calls);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const g = median(results.grpc);
  const j = median(results.json);
  console.log(`gateway CPU per call (median of ${reps} x ${calls} calls, h2load -c 8 -m 16):`);
  console.log(`  gRPC unary SayHello             ${g.toFixed(1)} us`);
  console.log(`  JSON POST /helloworld.Greeter/SayHello  ${j.toFixed(1)} us  (${(j / g).toFixed(2)} x gRPC)`);
  gw.kill("SIGTERM");
  server.forceShutdown();
}
