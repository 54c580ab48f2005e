#!/usr/bin/env node
// Streaming load: a @grpc/grpc-js client that moves large messages through bench.Streamer for a fixed time
// and prints what it measured as one JSON line.
//   download: server streaming; each call asks for --per-call messages of --size bytes, calls repeat.
//   echo:     bidi; each stream keeps --window messages of --size bytes in flight and counts the echoes.
// Usage: node bench/clients/stream.mjs --target 127.0.0.1:PORT --mode download|echo
//          [--size 1048576] [--seconds 5] [--concurrency 2] [--per-call 32] [--window 4]
import * as grpc from "@grpc/grpc-js";
import { streamerService } from "../proto/streamer.mjs";

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const target = arg("target");
const mode = arg("mode", "download");
const size = Number(arg("size", String(1024 * 1024)));
const seconds = Number(arg("seconds", "5"));
const concurrency = Number(arg("concurrency", "2"));
const perCall = Number(arg("per-call", "32"));
const windowSize = Number(arg("window", "4"));
if (!target || !["download", "echo"].includes(mode) || !(size > 0) || !(seconds > 0)) {
  process.stderr.write(
    "usage: stream.mjs --target HOST:PORT --mode download|echo [--size N] [--seconds S]\n",
  );
  process.exit(2);
}

const Client = grpc.makeGenericClientConstructor(streamerService, "Streamer");
const client = new Client(target, grpc.credentials.createInsecure(), {
  "grpc.max_receive_message_length": 32 * 1024 * 1024,
  "grpc.max_send_message_length": 32 * 1024 * 1024,
});

let bytes = 0;
let messages = 0;
let errors = 0;
let firstError = "";
const t0 = process.hrtime.bigint();
const deadline = Date.now() + seconds * 1000;
const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9;

function noteError(err) {
  if (err && err.code === grpc.status.CANCELLED) return;
  errors++;
  if (!firstError) firstError = err ? `${err.code} ${err.details ?? err.message}` : "unknown";
}

function downloadLoop() {
  return new Promise((resolve) => {
    const req = Buffer.alloc(8);
    req.writeUInt32BE(perCall, 0);
    req.writeUInt32BE(size, 4);
    const once = () => {
      if (Date.now() >= deadline) return resolve();
      const call = client.Download(req);
      call.on("data", (m) => {
        bytes += m.length;
        messages++;
        if (Date.now() >= deadline) call.cancel();
      });
      call.on("error", noteError);
      call.on("close", once);
    };
    once();
  });
}

const payload = Buffer.alloc(size, 0x62);
function echoLoop() {
  return new Promise((resolve) => {
    const call = client.Echo();
    let inFlight = 0;
    let stopped = false;
    const fill = () => {
      while (!stopped && inFlight < windowSize) {
        inFlight++;
        if (!call.write(payload)) {
          call.once("drain", fill);
          return;
        }
      }
    };
    call.on("data", (m) => {
      bytes += m.length;
      messages++;
      inFlight--;
      if (Date.now() >= deadline) {
        if (!stopped) {
          stopped = true;
          call.end();
        }
      } else fill();
    });
    call.on("error", noteError);
    call.on("close", resolve);
    fill();
  });
}

const loops = [];
for (let i = 0; i < concurrency; i++) loops.push(mode === "download" ? downloadLoop() : echoLoop());
const guard = setTimeout(
  () => {
    errors++;
    firstError ||= "stalled: no progress before the deadline";
    finish();
  },
  (seconds + 10) * 1000,
);
guard.unref();
void Promise.all(loops).then(finish);

function finish() {
  const s = elapsed();
  client.close();
  process.stdout.write(
    `${JSON.stringify({ mode, size, seconds: s, bytes, messages, bytesPerSec: bytes / s, errors, firstError })}\n`,
  );
  process.exit(errors > 0 && messages === 0 ? 1 : 0);
}
