#!/usr/bin/env node
// `npm start`: runs a bundled example. Starts the example's greeter backends (one per loopback endpoint its
// EndpointSlices name, from examples/greeter-server.mjs), then `grpcroute serve` on the example's manifests,
// waits until the gateway is ready, makes the sample calls through it and prints them with their answers.
// Ctrl-C stops the gateway (it drains calls in flight) and the backends.
//
// Usage: node scripts/start-example.mjs [EXAMPLE] [--admin HOST:PORT] [--port-map LISTENER_PORT=LOCAL_PORT ...]
//   EXAMPLE is a folder of examples/ (default greeter; `lattice` runs the VPC Lattice profile example).
//   Listener ports below 1024 are served on port + 8000 (443 -> 8443) unless --port-map says otherwise.
// The built CLI (dist/, made by `npm ci` through `prepare`) is used when present; GRPCROUTE_FROM_SOURCE=1
// runs the TypeScript sources through tsx instead.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { isIP } from "node:net";
import { join, relative } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { callGreeter, describeResult } from "../examples/call.mjs";
import { startGreeter } from "../examples/greeter-server.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = (s = "") => process.stdout.write(`${s}\n`);
const fail = (s) => {
  process.stderr.write(`start-example: ${s}\n`);
  process.exit(1);
};

// ----- arguments

const args = process.argv.slice(2);
let example = "greeter";
let admin = "127.0.0.1:9901";
const portMapArgs = new Map();
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--admin") admin = args[++i] ?? fail("--admin needs HOST:PORT");
  else if (a === "--port-map") {
    const m = /^(\d+)=(\d+)$/.exec(args[++i] ?? "");
    if (!m) fail("--port-map needs LISTENER_PORT=LOCAL_PORT");
    portMapArgs.set(Number(m[1]), Number(m[2]));
  } else if (a === "-h" || a === "--help") {
    out(
      "usage: node scripts/start-example.mjs [EXAMPLE] [--admin HOST:PORT] [--port-map LISTENER_PORT=LOCAL_PORT ...]",
    );
    process.exit(0);
  } else if (a.startsWith("-")) fail(`unknown option ${a}`);
  else example = a;
}

const examplesDir = join(root, "examples");
const dir = join(examplesDir, example);
if (!existsSync(dir) || !statSync(dir).isDirectory()) {
  const names = readdirSync(examplesDir).filter((n) => statSync(join(examplesDir, n)).isDirectory());
  fail(`no example "${example}" in examples/ (available: ${names.join(", ")})`);
}

// ----- read the example's manifests

function manifests(d) {
  const objs = [];
  for (const name of readdirSync(d).sort()) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) objs.push(...manifests(p));
    else if (/\.(ya?ml|json)$/.test(name)) {
      for (const doc of parseAllDocuments(readFileSync(p, "utf8"))) {
        const o = doc.toJS();
        if (o && typeof o === "object")
          objs.push(...(o.kind === "List" && Array.isArray(o.items) ? o.items : [o]));
      }
    }
  }
  return objs;
}

const objects = manifests(dir);
const services = new Map(
  objects
    .filter((o) => o.kind === "Service")
    .map((s) => [`${s.metadata?.namespace ?? "default"}/${s.metadata?.name}`, s]),
);
const isLoopback = (a) => a === "localhost" || a === "::1" || (isIP(a) === 4 && a.startsWith("127."));

/** One greeter per loopback endpoint address and port, named after the Service port it stands for. */
const backends = new Map();
for (const slice of objects.filter((o) => o.kind === "EndpointSlice")) {
  const ns = slice.metadata?.namespace ?? "default";
  const svcName = slice.metadata?.labels?.["kubernetes.io/service-name"] ?? slice.metadata?.name;
  const svc = services.get(`${ns}/${svcName}`);
  for (const ep of slice.endpoints ?? []) {
    if (ep.conditions?.ready === false) continue;
    for (const addr of ep.addresses ?? []) {
      for (const p of slice.ports ?? []) {
        const key = `${addr}:${p.port}`;
        if (!isLoopback(addr)) {
          out(
            `note: endpoint ${key} of ${svcName} is not a loopback address; no local backend is started for it`,
          );
          continue;
        }
        const svcPort = (svc?.spec?.ports ?? []).find((sp) => (sp.name ?? "") === (p.name ?? ""));
        const label = svcPort ? `${svcName}:${svcPort.port}` : `${svcName}/${p.name ?? p.port}`;
        if (!backends.has(key))
          backends.set(key, { name: label, host: addr === "localhost" ? "127.0.0.1" : addr, port: p.port });
      }
    }
  }
}

const listenerPorts = new Set();
for (const gw of objects.filter((o) => o.kind === "Gateway")) {
  for (const l of gw.spec?.listeners ?? []) if (Number.isInteger(l.port)) listenerPorts.add(l.port);
}
const portMap = new Map(portMapArgs);
for (const p of listenerPorts) if (p < 1024 && !portMap.has(p)) portMap.set(p, p + 8000);

// ----- start the backends and the gateway

const servers = [];
try {
  for (const b of backends.values()) servers.push(await startGreeter(b));
} catch (err) {
  await Promise.all(servers.map((s) => s.close()));
  fail(`${err.message}\n(is another copy of the example running?)`);
}

const dist = join(root, "dist", "cli", "main.js");
// A build older than `serve` (a tree built before it existed) cannot run the example: use the sources.
const distServe = join(root, "dist", "cli", "commands", "serve.js");
const cli =
  existsSync(dist) && existsSync(distServe) && process.env.GRPCROUTE_FROM_SOURCE !== "1"
    ? [dist]
    : ["--import", "tsx", join(root, "src", "cli", "main.ts")];
/** node's own flags from the `#!/usr/bin/env -S node <flags>` line of the gateway's entry point. */
function nodeFlags(file) {
  const first = readFileSync(file, "utf8").split("\n", 1)[0] ?? "";
  const m = /^#!\/usr\/bin\/env -S node(.*)$/.exec(first);
  return m
    ? m[1]
        .trim()
        .split(/\s+/)
        .filter((f) => f !== "")
    : [];
}
const flags = nodeFlags(cli.at(-1));
const serveArgs = ["serve", "-f", dir, "--admin", admin];
for (const [from, to] of portMap) serveArgs.push("--port-map", `${from}=${to}`);
// Its own process group: Ctrl-C reaches this script only, which then asks the gateway to drain.
const gateway = spawn(process.execPath, [...flags, ...cli, ...serveArgs], {
  cwd: root,
  stdio: ["ignore", "pipe", "inherit"],
  detached: true,
});
let gatewayExit;
const gatewayExited = new Promise((resolve) => {
  gateway.once("exit", (code, signal) => {
    gatewayExit = { code, signal };
    resolve(gatewayExit);
  });
});
process.on("exit", () => {
  if (gatewayExit === undefined) gateway.kill("SIGTERM");
});

const certificates = new Map();
let showLogs = false;
// Access lines of the sample calls are not echoed: the banner already shows those calls and answers.
let sampleLinesToSkip = 0;
let onReady;
const ready = new Promise((resolve) => {
  onReady = resolve;
});
createInterface({ input: gateway.stdout }).on("line", (line) => {
  let e;
  try {
    e = JSON.parse(line);
  } catch {
    out(`  [gateway] ${line}`);
    return;
  }
  if (e.msg === "gateway ready") onReady(e);
  if (typeof e.path === "string" && e.msg?.startsWith("generated certificate"))
    certificates.set(e.listener, e.path);
  if (e.level === "error" || e.level === "warn" || e.level === "fatal") {
    out(`  [gateway] ${e.level}: ${e.msg}${e.reason ? `: ${e.reason}` : ""}`);
  } else if (e.msg === "access" && sampleLinesToSkip > 0) {
    sampleLinesToSkip--;
  } else if (showLogs && e.msg === "access") {
    const where = e.endpoint ? ` -> ${e.backend ?? ""} ${e.endpoint}` : "";
    out(`  [gateway] ${e.authority} ${e.path}${where} ${e.grpcCode} ${e.durationMs} ms`);
  } else if (showLogs && e.msg !== "access") {
    out(`  [gateway] ${e.msg}`);
  }
});

const first = await Promise.race([ready, gatewayExited.then(() => undefined)]);
if (first === undefined) {
  await Promise.all(servers.map((s) => s.close()));
  fail(`the gateway exited before it was ready (exit code ${gatewayExit.code ?? gatewayExit.signal})`);
}

const readyz = await fetch(`http://${first.admin}/readyz`).then(
  (r) => r.status,
  (e) => e.message,
);
if (readyz !== 200) out(`note: /readyz answered ${readyz}`);
const table = await fetch(`http://${first.admin}/config`).then(
  (r) => r.json(),
  () => ({ listeners: [] }),
);

// ----- sample calls

const GREETER_SAMPLES = [
  {
    method: "SayHello",
    metadata: {},
    why: "rule 1: helloworld.Greeter/SayHello -> greeter-grpc-server port 443",
  },
  {
    method: "SayHelloAgain",
    metadata: { testKey1: "testValue1" },
    why: "rule 0: header testKey1: testValue1 -> greeter-grpc-server port 50051",
  },
  { method: "SayHelloAgain", metadata: {}, why: "no rule matches: the gateway answers UNIMPLEMENTED" },
];

/** Sample calls for any example: one per rule of each listener, built from the routing table. */
function samplesFromTable(listener) {
  const seen = new Set();
  const samples = [];
  for (const r of listener.routes ?? []) {
    const rule = r.name.replace(/\/match\/\d+$/, "");
    if (seen.has(rule)) continue;
    seen.add(rule);
    const m = r.match?.method;
    const method =
      m?.type === "Exact" &&
      (m.service === undefined || m.service.toLowerCase() === "helloworld.greeter") &&
      m.method
        ? m.method
        : "SayHello";
    const metadata = {};
    for (const h of r.match?.headers ?? []) if (h.type === "Exact") metadata[h.name] = h.value;
    const authority = (r.hostnames ?? []).find((h) => !h.startsWith("*"));
    samples.push({
      method,
      metadata,
      authority,
      why: `${r.source?.name ?? rule} rule ${r.source?.rule ?? ""}`,
    });
  }
  return samples;
}

/** A path as short as it stays clear: relative below the working directory, absolute elsewhere. */
const rel = (p) => {
  const r = relative(process.cwd(), p);
  return r === "" ? "." : r.startsWith("..") ? p : r;
};
out();
out(
  `grpcroute is serving examples/${example} (admin http://${first.admin}/: /readyz /config /status /metrics)`,
);
for (const s of servers) out(`  backend  ${s.name} at ${s.address}`);
const lines = [];
for (const l of table.listeners ?? []) {
  const bound = (first.listeners ?? []).find((b) => b.name === l.name);
  const port = bound?.localPort ?? l.port;
  const target = `localhost:${port}`;
  const tls = l.protocol === "HTTPS";
  out(
    `  gateway  ${l.gateway.name} listener ${l.listener}: ${target} (${tls ? "TLS" : "h2c"}, Gateway port ${l.port})`,
  );
  const ca = tls ? (certificates.get(l.name) ?? undefined) : undefined;
  const samples = example === "greeter" && !tls ? GREETER_SAMPLES : samplesFromTable(l);
  for (const s of samples)
    lines.push({
      ...s,
      target,
      tls,
      ca,
      authority: s.authority ?? (l.hostname?.startsWith("*") ? undefined : l.hostname),
    });
}
out();
out("Try it (each answer below was just received through the gateway):");
sampleLinesToSkip = lines.length;
for (const s of lines) {
  const caPem = s.ca ? readFileSync(s.ca, "utf8") : undefined;
  const r = await callGreeter({
    target: s.target,
    method: s.method,
    name: "world",
    metadata: s.metadata,
    ...(s.authority ? { authority: s.authority } : {}),
    ...(caPem ? { caPem } : {}),
  });
  const headers = Object.entries(s.metadata);
  const nodeCmd = [
    "node examples/call.mjs",
    s.method,
    "world",
    ...(s.target !== "localhost:8080" ? [`--target ${s.target}`] : []),
    ...(s.authority ? [`--authority ${s.authority}`] : []),
    ...(s.ca ? [`--ca ${rel(s.ca)}`] : []),
    ...headers.map(([k, v]) => `-H ${k}=${v}`),
  ].join(" ");
  const grpcurlCmd = [
    "grpcurl",
    s.tls ? (s.ca ? `-cacert ${rel(s.ca)}` : "-insecure") : "-plaintext",
    ...(s.authority ? [`-authority ${s.authority}`] : []),
    "-import-path examples -proto helloworld.proto",
    ...headers.map(([k, v]) => `-H '${k}: ${v}'`),
    `-d '{"name":"world"}'`,
    s.target,
    `helloworld.Greeter/${s.method}`,
  ].join(" ");
  out();
  out(`  # ${s.why}`);
  out(`  ${nodeCmd}`);
  out(`  ${grpcurlCmd}`);
  out(`    answers ${describeResult(s.method, r).replace(/^\S+ -> /, "")}`);
}
out();
out("Access-log lines of your calls appear below. Press Ctrl-C to stop.");
showLogs = true;

// ----- stop

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  out("stopping: the gateway drains calls in flight, then the backends stop");
  if (gatewayExit === undefined) gateway.kill("SIGTERM");
  const exit = await gatewayExited;
  await Promise.all(servers.map((s) => s.close()));
  process.exit(exit.code === 0 || exit.code === null ? 0 : exit.code);
}
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
void gatewayExited.then((e) => {
  if (!stopping) {
    out(`the gateway exited (code ${e.code ?? e.signal}); stopping the backends`);
    stopping = true;
    void Promise.all(servers.map((s) => s.close())).then(() => process.exit(1));
  }
});
