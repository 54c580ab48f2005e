#!/usr/bin/env node
// The minimal benchmark backend: a node:http2 server that answers every POST with one fixed
// length-prefixed protobuf HelloReply ("Hello world") and `grpc-status: 0` trailers, whatever the path or
// body. It does no routing and no decoding, so with it the proxy, not the backend, is the bottleneck.
// Usage: node bench/backends/fixed.mjs [--port N]   prints "LISTENING <port>" once bound (127.0.0.1).
import http2 from "node:http2";

const portArg = process.argv.indexOf("--port");
const wantPort = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;

// HelloReply{message: "Hello world"}: field 1, wire type 2, length 11; behind the 5-byte gRPC prefix.
const message = Buffer.concat([Buffer.from([0x0a, 11]), Buffer.from("Hello world")]);
const reply = Buffer.alloc(5 + message.length);
reply.writeUInt32BE(message.length, 1);
message.copy(reply, 5);

const RESPONSE_HEADERS = { ":status": 200, "content-type": "application/grpc" };
const TRAILERS = { "grpc-status": "0" };

function sendTrailers() {
  this.sendTrailers(TRAILERS);
}

function onStream(stream, headers) {
  if (headers[":method"] !== "POST") {
    stream.respond({ ":status": 405 }, { endStream: true });
    return;
  }
  // Drain the request body; the answer does not depend on it.
  stream.resume();
  stream.on("error", noop);
  stream.once("wantTrailers", sendTrailers);
  stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
  stream.end(reply);
}
function noop() {}

const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
server.on("stream", onStream);
server.on("sessionError", noop);
server.listen(wantPort, "127.0.0.1", () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
for (const sig of ["SIGTERM", "SIGINT"]) process.once(sig, () => process.exit(0));
