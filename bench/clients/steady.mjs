#!/usr/bin/env node
// The well-behaved client of the attacks phase: a @grpc/grpc-js Greeter client on its own connection that
// calls SayHello("world") at a fixed rate (open loop: call k is due at start + k / rate, whatever the target
// does) until SIGTERM, then prints every call as one JSON line.
//   Usage: node bench/clients/steady.mjs --target 127.0.0.1:PORT [--rate 200] [--deadline-ms 10000]
// Prints "FIRST" once the first call succeeded (the connection is up), and on SIGTERM, once the calls in
// flight ended: {"calls": [[due, ms, code], ...], "firstError": "..."}, where `due` is the call's due time
// (ms since the epoch, performance.timeOrigin + performance.now(), as the suite marks the attack), `ms` its
// latency from that time to its status, and `code` its gRPC status (-1: the answer was not "Hello world").
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const target = arg("target");
const rate = Number(arg("rate", "200"));
const deadlineMs = Number(arg("deadline-ms", "10000"));
if (!target || !(rate > 0) || !(deadlineMs > 0)) {
  process.stderr.write("usage: steady.mjs --target HOST:PORT [--rate N] [--deadline-ms MS]\n");
  process.exit(2);
}

const protoPath = fileURLToPath(new URL("../proto/helloworld.proto", import.meta.url));
const def = protoLoader.loadSync(protoPath, { keepCase: true, defaults: true });
const { Greeter } = grpc.loadPackageDefinition(def).helloworld;
const client = new Greeter(target, grpc.credentials.createInsecure(), {
  // A connection of its own, never shared with another channel of this process.
  "grpc.use_local_subchannel_pool": 1,
});

const now = () => performance.timeOrigin + performance.now();
const calls = [];
let firstError = "";
let inFlight = 0;
let stopping = false;
let first = false;
let onIdle = null;

function call(due) {
  inFlight++;
  client.SayHello({ name: "world" }, { deadline: Date.now() + deadlineMs }, (err, reply) => {
    let code = err ? err.code : 0;
    if (!err && reply?.message !== "Hello world") code = -1;
    calls.push([due, now() - due, code]);
    if (code !== 0 && firstError === "")
      firstError = err
        ? `${grpc.status[err.code] ?? err.code}: ${err.details}`
        : `answered ${reply?.message}`;
    if (code === 0 && !first) {
      first = true;
      process.stdout.write("FIRST\n");
    }
    if (--inFlight === 0 && onIdle) onIdle();
  });
}

const start = now();
let k = 0;
// A 1 ms timer sends every call due by now: at a few hundred calls a second each leaves on time.
const timer = setInterval(() => {
  const t = now();
  while (start + (k * 1000) / rate <= t) call(start + (k++ * 1000) / rate);
}, 1);

process.on("SIGTERM", () => {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  const finish = () => {
    process.stdout.write(`${JSON.stringify({ calls, firstError })}\n`);
    client.close();
    process.exit(0);
  };
  if (inFlight === 0) finish();
  else onIdle = finish;
});
