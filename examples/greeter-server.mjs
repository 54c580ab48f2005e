#!/usr/bin/env node
// helloworld.Greeter backends for the examples. Every answer says which backend served it, in the reply
// message and in the `x-backend` response header, so a call through the gateway shows where it was routed.
//
// Usage: node examples/greeter-server.mjs NAME=HOST:PORT [NAME=HOST:PORT ...]
//   e.g. node examples/greeter-server.mjs greeter-a=127.0.0.1:50151 greeter-b=127.0.0.1:50152
// Ctrl-C (SIGINT) or SIGTERM stops them.
import { fileURLToPath, pathToFileURL } from "node:url";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

/** The proto of the examples. */
export const PROTO_PATH = fileURLToPath(new URL("./helloworld.proto", import.meta.url));

let greeterService;
/** The helloworld.Greeter service definition (loaded once). */
export function greeterDefinition() {
  if (greeterService === undefined) {
    const pkg = protoLoader.loadSync(PROTO_PATH, { keepCase: true, defaults: true });
    greeterService = grpc.loadPackageDefinition(pkg).helloworld.Greeter;
  }
  return greeterService;
}

function hostPort(host, port) {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Starts one greeter on host:port (h2c). Resolves with { name, address, close() } once it listens; rejects
 * with the bind error (for example EADDRINUSE) otherwise.
 */
export function startGreeter({ name, host = "127.0.0.1", port }) {
  const address = hostPort(host, port);
  const server = new grpc.Server();
  const answer = (greeting) => (call, callback) => {
    const md = new grpc.Metadata();
    md.set("x-backend", name);
    call.sendMetadata(md);
    const who = call.request.name || "world";
    callback(null, { message: `${greeting}, ${who}! (from ${name} at ${address})` });
  };
  server.addService(greeterDefinition().service, {
    SayHello: answer("Hello"),
    SayHelloAgain: answer("Hello again"),
  });
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err) {
        reject(new Error(`greeter ${name}: cannot listen on ${address}: ${err.message}`));
        return;
      }
      resolve({
        name,
        address: hostPort(host, bound),
        close: () =>
          new Promise((done) => {
            // Let calls in flight finish, but never wait more than a second.
            const timer = setTimeout(() => server.forceShutdown(), 1000);
            server.tryShutdown(() => {
              clearTimeout(timer);
              done();
            });
          }),
      });
    });
  });
}

async function main(args) {
  if (args.length === 0 || args.includes("-h") || args.includes("--help")) {
    process.stdout.write("usage: node examples/greeter-server.mjs NAME=HOST:PORT [NAME=HOST:PORT ...]\n");
    return args.length === 0 ? 2 : 0;
  }
  const specs = [];
  for (const arg of args) {
    const m = /^([^=]+)=(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(arg);
    if (!m) {
      process.stderr.write(
        `greeter-server: "${arg}": expected NAME=HOST:PORT, e.g. greeter-a=127.0.0.1:50151\n`,
      );
      return 2;
    }
    specs.push({ name: m[1], host: m[2] ?? m[3], port: Number(m[4]) });
  }
  let servers;
  try {
    servers = await Promise.all(specs.map(startGreeter));
  } catch (err) {
    process.stderr.write(`greeter-server: ${err.message}\n`);
    return 1;
  }
  for (const s of servers) process.stdout.write(`greeter ${s.name} listening on ${s.address}\n`);
  await new Promise((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await Promise.all(servers.map((s) => s.close()));
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
