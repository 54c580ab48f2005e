#!/usr/bin/env node
// The floor of a Node.js proxy: a TCP pass-through that pipes the bytes of each client connection to a
// connection of its own to the backend and back, without reading a single HTTP/2 frame (no routing, no
// framing, no flow control of its own). What it costs per call or per MiB is what a Node process pays just
// to move the bytes through the kernel; a real proxy can only add to it.
// Usage: node bench/floors/pipe.mjs --backend PORT   prints "LISTENING <port>" once bound (127.0.0.1).
import net from "node:net";

const i = process.argv.indexOf("--backend");
const backendPort = i > 0 ? Number(process.argv[i + 1]) : Number.NaN;
if (!Number.isInteger(backendPort) || backendPort <= 0) {
  process.stderr.write("usage: pipe.mjs --backend PORT\n");
  process.exit(2);
}

const server = net.createServer({ noDelay: true }, (client) => {
  const upstream = net.connect({ host: "127.0.0.1", port: backendPort, noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", close).on("close", close);
  upstream.on("error", close).on("close", close);
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
