#!/usr/bin/env node
// Calls helloworld.Greeter through the gateway and prints the answer and the backend that served it.
//
// Usage: node examples/call.mjs [SayHello|SayHelloAgain] [NAME] [options]
//   --target HOST:PORT   gateway listener (default localhost:8080)
//   --authority HOST     :authority to send (default: the target)
//   --ca FILE            use TLS, trusting this certificate (PEM), e.g. a generated listener certificate
//   -H KEY=VALUE         request metadata (repeatable), e.g. -H testKey1=testValue1
//   --timeout MS         deadline (default 5000)
// Exit code 0 when the call succeeded, 1 when it failed.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import grpc from "@grpc/grpc-js";
import { greeterDefinition } from "./greeter-server.mjs";

const CODE_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([name, code]) => [code, name]));

/**
 * Makes one call. Resolves with { ok, code, codeName, message, details, backend } and never rejects.
 */
export function callGreeter({
  target = "localhost:8080",
  method = "SayHello",
  name = "world",
  authority,
  caPem,
  metadata = {},
  timeoutMs = 5000,
}) {
  const Greeter = greeterDefinition();
  const options = { "grpc.use_local_subchannel_pool": 1 };
  if (authority !== undefined) options["grpc.default_authority"] = authority;
  if (caPem !== undefined && authority !== undefined) options["grpc.ssl_target_name_override"] = authority;
  const creds =
    caPem !== undefined ? grpc.credentials.createSsl(Buffer.from(caPem)) : grpc.credentials.createInsecure();
  const client = new Greeter(target, creds, options);
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.add(k, v);
  return new Promise((resolve) => {
    let backend;
    const call = client[method]({ name }, md, { deadline: Date.now() + timeoutMs }, (err, reply) => {
      client.close();
      if (err) {
        resolve({
          ok: false,
          code: err.code,
          codeName: CODE_NAMES[err.code] ?? String(err.code),
          details: err.details,
        });
      } else {
        resolve({ ok: true, code: 0, codeName: "OK", message: reply.message, backend });
      }
    });
    call.on("metadata", (m) => {
      backend = m.get("x-backend")[0]?.toString();
    });
  });
}

/** One line describing a result, as `npm start` and this script print it. */
export function describeResult(method, r) {
  return r.ok
    ? `helloworld.Greeter/${method} -> OK: "${r.message}"`
    : `helloworld.Greeter/${method} -> ${r.codeName}: ${r.details}`;
}

function parse(args) {
  const opts = { metadata: {} };
  const positional = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const next = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--target") opts.target = next();
    else if (a === "--authority") opts.authority = next();
    else if (a === "--ca") opts.caPem = readFileSync(next(), "utf8");
    else if (a === "--timeout") opts.timeoutMs = Number(next());
    else if (a === "-H" || a === "--header") {
      const kv = next();
      const eq = kv.indexOf("=");
      const colon = kv.indexOf(":");
      const at = eq > 0 ? eq : colon;
      if (at <= 0) throw new Error(`-H "${kv}": expected KEY=VALUE`);
      opts.metadata[kv.slice(0, at).trim().toLowerCase()] = kv.slice(at + 1).trim();
    } else if (a === "-h" || a === "--help") opts.help = true;
    else if (a.startsWith("-")) throw new Error(`unknown option ${a}`);
    else positional.push(a);
  }
  if (positional[0] !== undefined) opts.method = positional[0];
  if (positional[1] !== undefined) opts.name = positional[1];
  if (opts.method !== undefined && !["SayHello", "SayHelloAgain"].includes(opts.method)) {
    throw new Error(`method "${opts.method}": expected SayHello or SayHelloAgain`);
  }
  return opts;
}

async function main(args) {
  let opts;
  try {
    opts = parse(args);
  } catch (err) {
    process.stderr.write(
      `call: ${err.message}\nusage: node examples/call.mjs [SayHello|SayHelloAgain] [NAME] [--target HOST:PORT] [--authority HOST] [--ca FILE] [-H KEY=VALUE]\n`,
    );
    return 2;
  }
  if (opts.help) {
    process.stdout.write(
      "usage: node examples/call.mjs [SayHello|SayHelloAgain] [NAME] [--target HOST:PORT] [--authority HOST] [--ca FILE] [-H KEY=VALUE]\n",
    );
    return 0;
  }
  const method = opts.method ?? "SayHello";
  const r = await callGreeter({ ...opts, method });
  process.stdout.write(`${describeResult(method, r)}\n`);
  return r.ok ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
