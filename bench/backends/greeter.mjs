#!/usr/bin/env node
// The realistic benchmark backend: a @grpc/grpc-js server with the helloworld Greeter (protobuf through
// proto-loader, as applications write it) and a bench.Streamer service for the streaming figures.
// bench.Streamer carries raw bytes (identity serializers), so the cost measured is the transport's, not
// protobuf's:
//   Download (server streaming): request = uint32 BE count, uint32 BE size; answers `count` messages of `size`
//   bytes, honouring write backpressure.
//   Echo (bidi): answers every message with the same bytes.
// Usage: node bench/backends/greeter.mjs [--port N]   prints "LISTENING <port>" once bound (127.0.0.1).
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { streamerService } from "../proto/streamer.mjs";

const portArg = process.argv.indexOf("--port");
const wantPort = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;

const protoPath = fileURLToPath(new URL("../proto/helloworld.proto", import.meta.url));
const def = protoLoader.loadSync(protoPath, { keepCase: true, defaults: true });
const helloworld = grpc.loadPackageDefinition(def).helloworld;

// One shared payload per size: the backend should spend its time sending, not filling buffers.
const payloads = new Map();
function payload(size) {
  let b = payloads.get(size);
  if (b === undefined) {
    b = Buffer.alloc(size, 0x61);
    payloads.set(size, b);
  }
  return b;
}

function download(call) {
  const req = call.request;
  const count = req.length >= 8 ? req.readUInt32BE(0) : 1;
  const size = Math.min(req.length >= 8 ? req.readUInt32BE(4) : 1024, 16 * 1024 * 1024);
  const buf = payload(size);
  let sent = 0;
  let done = false;
  call.on("cancelled", () => {
    done = true;
  });
  const pump = () => {
    while (!done && sent < count) {
      sent++;
      if (!call.write(buf)) {
        call.once("drain", pump);
        return;
      }
    }
    if (!done) {
      done = true;
      call.end();
    }
  };
  pump();
}

function echo(call) {
  call.on("data", (msg) => {
    if (!call.write(msg)) {
      call.pause();
      call.once("drain", () => call.resume());
    }
  });
  call.on("end", () => call.end());
  call.on("error", () => {});
}

const server = new grpc.Server({
  "grpc.max_receive_message_length": 32 * 1024 * 1024,
  "grpc.max_send_message_length": 32 * 1024 * 1024,
});
server.addService(helloworld.Greeter.service, {
  SayHello(call, callback) {
    callback(null, { message: `Hello ${call.request.name}` });
  },
});
server.addService(streamerService, { Download: download, Echo: echo });
server.bindAsync(`127.0.0.1:${wantPort}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`greeter: cannot bind 127.0.0.1:${wantPort}: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`LISTENING ${port}\n`);
});

for (const sig of ["SIGTERM", "SIGINT"]) process.once(sig, () => server.forceShutdown() || process.exit(0));
process.on("exit", () => server.forceShutdown());
