/**
 * The things a benchmark run measures: backends (what answers the calls) and targets (what the load is sent
 * to: the backend itself, grpcroute, HAProxy, nginx). Each starts on 127.0.0.1 and is stopped by PID.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
// The flags the grpcroute command starts node with (its #! line): the suite runs the gateway the same way.
import { NODE_FLAGS } from "../../src/runner/node-flags.js";
import { helloReply } from "./check.js";
import { freePort, type Proc, start, stop, tail, waitForLine, waitForPort } from "./procs.js";

/** Root of the repository (bench/lib/ -> ../..). */
export const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * What answers the calls: `greeter` (grpc-js, the realistic case), `fixed` (node:http2, one fixed reply) and
 * `nghttpd` (nghttp2's C server with the same reply as a file: no garbage collector to pause it).
 */
export type BackendKind = "greeter" | "fixed" | "nghttpd";

/** A running backend. */
export interface Backend {
  kind: BackendKind;
  port: number;
  proc: Proc;
}

/** Starts a backend on a port it picks and reads back. */
export async function startBackend(kind: BackendKind, outDir: string): Promise<Backend> {
  if (kind === "nghttpd") return startNghttpd(outDir);
  const script = join(ROOT, "bench/backends", `${kind}.mjs`);
  const proc = start(`backend ${kind}`, process.execPath, [script], {
    logFile: join(outDir, `backend-${kind}.log`),
    cwd: ROOT,
    role: "backend",
  });
  const port = Number(await waitForLine(proc, /LISTENING (\d+)/));
  return { kind, port, proc };
}

/**
 * nghttpd (Debian nghttp2-server) serving SayHello's reply as a static file, with `grpc-status: 0` as a
 * trailer: a backend in C, with no collector whose pauses would decide the p99 of every target. It sends no
 * `content-type` (it picks one by the file's extension, and the path has none), so grpc-js clients refuse
 * its answers: its check is raw HTTP/2 (`checkGreeterRaw`). It serves unary SayHello only.
 */
async function startNghttpd(outDir: string): Promise<Backend> {
  const dir = join(outDir, "nghttpd");
  const htdocs = join(dir, "htdocs");
  mkdirSync(join(htdocs, "helloworld.Greeter"), { recursive: true });
  writeFileSync(join(htdocs, "helloworld.Greeter/SayHello"), helloReply());
  const port = await freePort();
  const proc = start(
    "backend nghttpd",
    "nghttpd",
    [
      "--no-tls",
      "-a",
      "127.0.0.1",
      "-d",
      htdocs,
      "--trailer",
      "grpc-status: 0",
      // The fixed backend's stream limit: nghttpd's default of 100 would queue a proxy that multiplexes
      // h2load's 128 streams over one connection, and the backend would set the pace, not the proxy.
      "-m",
      "1000",
      String(port),
    ],
    { logFile: join(outDir, "backend-nghttpd.log"), cwd: dir, role: "backend" },
  );
  await waitForPort(port, proc);
  return { kind: "nghttpd", port, proc };
}

/** Where the load goes. `proc` is absent for `direct` (the backend is the target). */
export interface RunningTarget {
  name: string;
  port: number;
  /** Folder of the V8 CPU profiles, when the target runs under `--cpu-prof`. */
  profileDir?: string;
  /** The proxy process; its process tree is what CPU per call is measured on. */
  proc?: Proc;
}

/** A kind of target, able to start in front of a backend. */
export interface TargetKind {
  name: string;
  /** Why it cannot run here, or undefined when it can. */
  unavailable(): string | undefined;
  /** Why it cannot serve calls to `backend`, or undefined when it can (absent: every backend). */
  refuses?(backend: BackendKind): string | undefined;
  start(backend: Backend, outDir: string): Promise<RunningTarget>;
}

/** Settings shared by the proxies, so they are compared on equal terms. */
export interface ProxySettings {
  /** Worker threads (HAProxy), worker processes (nginx), `--workers` (grpcroute, when it has the flag). */
  workers: number;
}

function have(bin: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" }).status === 0;
}

/** The backend itself: the ceiling every proxy is compared to. */
export const direct: TargetKind = {
  name: "direct",
  unavailable: () => undefined,
  start: async (backend) => ({ name: "direct", port: backend.port }),
};

/**
 * HAProxy as target `name`: `mode http` with h2c on the bind and h2 to the server (`proto h2`), or `mode tcp`
 * passing the bytes through.
 */
/** What an HAProxy target's configuration varies in; the rest is the same for every HAProxy target. */
export interface HaproxyConfig {
  /** Target name, also its folder under the run's output (`<dir>-<backend kind>`). */
  name: string;
  dir?: string;
  workers: number;
  maxconn: number;
  mode: "http" | "tcp";
  /** A `maxconn` in `defaults` too (the listener's own limit), for runs with many connections. */
  listenerMaxconn?: number;
  /** Client and server timeouts, in seconds. */
  timeoutS: number;
  /** What follows the bind address (`proto h2`, `ssl crt ... alpn h2`). */
  bind: string;
  /** What follows the server address (`proto h2`). */
  server: string;
}

/** An HAProxy process in front of the backend, as `c` says. */
export function haproxyTarget(c: HaproxyConfig): TargetKind {
  return {
    name: c.name,
    unavailable: () => (have("haproxy") ? undefined : "haproxy is not installed"),
    async start(backend, outDir) {
      const port = await freePort();
      const dir = join(outDir, `${c.dir ?? c.name}-${backend.kind}`);
      mkdirSync(dir, { recursive: true });
      const cfg = join(dir, "haproxy.cfg");
      const after = (x: string) => (x === "" ? "" : ` ${x}`);
      writeFileSync(
        cfg,
        [
          "global",
          `  nbthread ${c.workers}`,
          `  maxconn ${c.maxconn}`,
          "defaults",
          `  mode ${c.mode}`,
          ...(c.listenerMaxconn === undefined ? [] : [`  maxconn ${c.listenerMaxconn}`]),
          "  timeout connect 5s",
          `  timeout client ${c.timeoutS}s`,
          `  timeout server ${c.timeoutS}s`,
          "listen pass",
          `  bind 127.0.0.1:${port}${after(c.bind)}`,
          `  server s1 127.0.0.1:${backend.port}${after(c.server)}`,
          "",
        ].join("\n"),
      );
      const proc = start(c.name, "haproxy", ["-db", "-f", cfg], { logFile: join(dir, "haproxy.log") });
      await waitForPort(port, proc);
      return { name: c.name, port, proc };
    },
  };
}

const h2Pass = (name: string, s: ProxySettings, mode: "http" | "tcp"): HaproxyConfig => ({
  name,
  workers: s.workers,
  maxconn: 4096,
  mode,
  timeoutS: 60,
  bind: mode === "http" ? "proto h2" : "",
  server: mode === "http" ? "proto h2" : "",
});

/** HAProxy in `mode http`, h2c on the bind, h2 to the server (`proto h2`). */
export function haproxy(s: ProxySettings): TargetKind {
  return haproxyTarget(h2Pass("haproxy", s, "http"));
}

/**
 * Floors, not proxies: byte pass-throughs that never read an HTTP/2 frame, one backend connection per client
 * connection. `node-pipe` is what a Node.js process that does nothing else pays to move the bytes
 * (`socket.pipe()` both ways); `haproxy-tcp` is HAProxy in `mode tcp`. They keep no flow-control windows of
 * their own, so on streams they can also be slower than a proxy that does.
 */
export const nodePipe: TargetKind = {
  name: "node-pipe",
  unavailable: () => undefined,
  async start(backend, outDir) {
    const script = join(ROOT, "bench/floors/pipe.mjs");
    const proc = start("node-pipe", process.execPath, [script, "--backend", String(backend.port)], {
      logFile: join(outDir, `node-pipe-${backend.kind}.log`),
    });
    const port = Number(await waitForLine(proc, /LISTENING (\d+)/));
    return { name: "node-pipe", port, proc };
  },
};

/** HAProxy in `mode tcp`: the same pass-through in C (see {@link nodePipe}). */
export function haproxyTcp(s: ProxySettings): TargetKind {
  return haproxyTarget(h2Pass("haproxy-tcp", s, "tcp"));
}

/** nginx with `grpc_pass` (h2c on the listen); upstream keepalive so it reuses connections as best it can. */
export function nginx(s: ProxySettings): TargetKind {
  return {
    name: "nginx",
    unavailable: () => (have("nginx") ? undefined : "nginx is not installed"),
    async start(backend, outDir) {
      const port = await freePort();
      const dir = join(outDir, `nginx-${backend.kind}`);
      mkdirSync(join(dir, "tmp"), { recursive: true });
      const cfg = join(dir, "nginx.conf");
      const asRoot = process.getuid?.() === 0;
      writeFileSync(
        cfg,
        [
          asRoot ? "user root root;" : "",
          `worker_processes ${s.workers};`,
          "daemon off;",
          `pid ${join(dir, "nginx.pid")};`,
          `error_log ${join(dir, "error.log")} warn;`,
          "events { worker_connections 8192; }",
          "http {",
          "  access_log off;",
          `  client_body_temp_path ${join(dir, "tmp")};`,
          `  proxy_temp_path ${join(dir, "tmp")};`,
          `  fastcgi_temp_path ${join(dir, "tmp")};`,
          `  uwsgi_temp_path ${join(dir, "tmp")};`,
          `  scgi_temp_path ${join(dir, "tmp")};`,
          // The defaults (1,000 requests per connection) would close h2load's connections mid-run.
          "  keepalive_requests 100000000;",
          "  keepalive_timeout 120s;",
          "  client_max_body_size 0;",
          "  upstream be {",
          `    server 127.0.0.1:${backend.port};`,
          "    keepalive 512;",
          "    keepalive_requests 100000000;",
          "  }",
          "  server {",
          `    listen 127.0.0.1:${port} http2;`,
          "    location / { grpc_pass grpc://be; }",
          "  }",
          "}",
          "",
        ].join("\n"),
      );
      const proc = start("nginx", "nginx", ["-p", dir, "-c", cfg, "-e", join(dir, "error.log")], {
        logFile: join(dir, "nginx.out"),
      });
      await waitForPort(port, proc);
      return { name: "nginx", port, proc };
    },
  };
}

/** What `grpcroute serve --help` offers, read once per run. */
export interface GatewayFeatures {
  /** Why the gateway cannot run, or undefined. */
  missing?: string;
  /** `--workers` exists. */
  workers: boolean;
  /** `--admin` exists. */
  admin: boolean;
}

/** How the gateway is started: the compiled `dist/` (as the package's `bin`), or the sources through tsx. */
export interface GatewayRuntime {
  /** Command line prefix, e.g. `[node, <out>/cli/main.js]`. */
  argv: string[];
  describe: string;
}

/**
 * Compiles the sources into `outDir/dist` (the same `tsconfig.build.json` as `npm run build`, another output
 * folder so the tree's `dist/` is left alone) and returns how to run the result. Type errors elsewhere in the
 * tree do not stop the emit; a missing entry point does.
 */
export function buildGateway(outDir: string): GatewayRuntime | string {
  const dist = join(outDir, "dist");
  const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
  spawnSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.build.json"), "--outDir", dist], {
    cwd: ROOT,
    stdio: "ignore",
  });
  const main = join(dist, "cli/main.js");
  if (!existsSync(join(dist, "cli/commands/serve.js"))) return "the build produced no cli/commands/serve.js";
  return {
    argv: [process.execPath, ...NODE_FLAGS, main],
    describe: `node ${NODE_FLAGS.map((f) => `${f} `).join("")}<compiled dist>/cli/main.js`,
  };
}

/** Runs the sources through tsx (no build step: the smoke run uses it). */
export function tsxGateway(): GatewayRuntime {
  return {
    argv: [process.execPath, ...NODE_FLAGS, "--import", "tsx", join(ROOT, "src/cli/main.ts")],
    describe: `node ${NODE_FLAGS.map((f) => `${f} `).join("")}--import tsx src/cli/main.ts`,
  };
}

/** Reads the gateway's options from `serve --help`. */
export function gatewayFeatures(rt: GatewayRuntime): GatewayFeatures {
  if (!existsSync(join(ROOT, "src/cli/commands/serve.ts"))) {
    return {
      missing: "src/cli/commands/serve.ts does not exist yet",
      workers: false,
      admin: false,
    };
  }
  const [cmd, ...pre] = rt.argv;
  const r = spawnSync(cmd as string, [...pre, "serve", "--help"], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 30_000,
  });
  const help = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  if (!/--port-map/.test(help)) {
    return {
      missing: `\`serve --help\` does not offer --port-map (exit ${r.status}): ${help.trim().split("\n")[0] ?? ""}`,
      workers: false,
      admin: false,
    };
  }
  return {
    workers: /--workers\b/.test(help),
    admin: /--admin\b/.test(help),
  };
}

/** The listener port written in the manifests; `--port-map` binds it to a free local port. */
const LISTENER_PORT = 8080;
/** The Service port the route names; the EndpointSlice maps it to the backend's real port. */
const SERVICE_PORT = 50051;

/**
 * Ordinary manifests for one Gateway in front of `backendPort`: GatewayClass, Gateway with an HTTP listener,
 * a GRPCRoute (Greeter SayHello, and the bench.Streamer service) to a Service, and its EndpointSlice on
 * 127.0.0.1. The benchmark thereby goes through the real routing path.
 */
export function gatewayManifests(backendPort: number, retryPolicy = false): string {
  return `# Written by the benchmark (bench/lib/targets.ts): grpcroute in front of one local backend.
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: grpcroute
spec:
  controllerName: grpcroute.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: bench
  namespace: default
spec:
  gatewayClassName: grpcroute
  listeners:
    - name: http
      protocol: HTTP
      port: ${LISTENER_PORT}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: bench
  namespace: default
spec:
  parentRefs:
    - name: bench
      sectionName: http
  rules:
    - matches:
        - method:
            service: helloworld.Greeter
            method: SayHello
        - method:
            service: bench.Streamer
      backendRefs:
        - name: backend
          port: ${SERVICE_PORT}
---
apiVersion: v1
kind: Service
metadata:
  name: backend
  namespace: default
spec:
  ports:
    - name: grpc
      port: ${SERVICE_PORT}
      protocol: TCP
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: backend-1
  namespace: default
  labels:
    kubernetes.io/service-name: backend
addressType: IPv4
ports:
  - name: grpc
    port: ${backendPort}
    protocol: TCP
endpoints:
  - addresses: ["127.0.0.1"]
    conditions:
      ready: true
${retryPolicy ? RETRY_POLICY : ""}`;
}

/**
 * A TrafficPolicy that retries the route's calls (the \`grpcroute-retry\` target): every call runs under it,
 * and since the backend answers at once no retry is ever taken, so what it costs is the bookkeeping alone.
 */
const RETRY_POLICY = `---
apiVersion: grpcroute.dev/v1alpha1
kind: TrafficPolicy
metadata:
  name: bench-retry
  namespace: default
spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: GRPCRoute
      name: bench
  retry:
    attempts: 3
    on: [UNAVAILABLE, RESOURCE_EXHAUSTED]
`;

async function waitReady(adminPort: number, proc: Proc, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void proc.exited.then(() => {
    dead = true;
  });
  for (;;) {
    if (dead) throw new Error(`${proc.name} exited before it was ready`);
    try {
      const res = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${proc.name}: /readyz not 200 after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Options of {@link grpcroute}. */
export interface GatewayTargetOptions {
  name: string;
  runtime: GatewayRuntime;
  features: GatewayFeatures;
  settings: ProxySettings;
  /** Run under `node --cpu-prof`, profiles written to `<dir>/profile/`. */
  profile: boolean;
  /** Extra `serve` arguments. */
  extraArgs: string[];
  /** Attach a retrying TrafficPolicy to the route (retries never taken: the backend answers OK). */
  retryPolicy?: boolean;
  /**
   * `--workers` for this target: a count, or `default` for none at all (serve as users start it). Absent:
   * the suite's `--proxy-workers`, like every other proxy.
   */
  workers?: number | "default";
  /** The manifests for a backend port (default: {@link gatewayManifests}, an HTTP listener). */
  manifests?: (backendPort: number) => string;
}

/**
 * grpcroute `serve` on manifests written for the backend. `grpcroute-relay` (the name earlier results use)
 * and `grpcroute` both run it; the relay is its only data path.
 */
export function grpcroute(o: GatewayTargetOptions): TargetKind {
  return {
    name: o.name,
    unavailable() {
      if (o.features.missing !== undefined) return o.features.missing;
      return undefined;
    },
    async start(backend, outDir) {
      const dir = join(outDir, `${o.name}-${backend.kind}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, "gateway.yaml"),
        o.manifests?.(backend.port) ?? gatewayManifests(backend.port, o.retryPolicy === true),
      );
      const port = await freePort();
      const adminPort = await freePort();
      const args = [
        "serve",
        "-f",
        join(dir, "gateway.yaml"),
        "--address",
        "127.0.0.1",
        "--port-map",
        `${LISTENER_PORT}=${port}`,
      ];
      if (o.features.admin) args.push("--admin", `127.0.0.1:${adminPort}`);
      const workers = o.workers ?? o.settings.workers;
      if (o.features.workers && workers !== "default") args.push("--workers", String(workers));
      args.push(...o.extraArgs);
      const [cmd, ...pre] = o.runtime.argv;
      if (o.profile) pre.unshift("--cpu-prof", `--cpu-prof-dir=${join(dir, "profile")}`);
      // Node options to look inside the gateway during a run (bench/README.md), before the suite's own.
      const extra = process.env.BENCH_GATEWAY_NODE_FLAGS?.split(" ").filter((f) => f !== "") ?? [];
      pre.unshift(...extra);
      // The access log stays on (JSON lines on stdout), written to a file as in production.
      const proc = start(o.name, cmd as string, [...pre, ...args], {
        logFile: join(dir, "gateway.log"),
        cwd: ROOT,
      });
      if (o.features.admin) await waitReady(adminPort, proc);
      else await waitForPort(port, proc);
      return o.profile
        ? { name: o.name, port, proc, profileDir: join(dir, "profile") }
        : { name: o.name, port, proc };
    },
  };
}

/** Stops a target's process, if it has one. */
export async function stopTarget(t: RunningTarget): Promise<void> {
  // A profiled gateway writes its profile while it exits: give it the time its drain takes.
  if (t.proc) await stop(t.proc, t.profileDir === undefined ? 3000 : 15_000);
  // The gateway's access log runs to hundreds of MB per run: keep its last lines unless asked for all.
  if (t.proc && t.name.startsWith("grpcroute") && process.env.BENCH_KEEP_LOGS !== "1") {
    writeFileSync(t.proc.logFile, `${tail(t.proc, 200)}\n`);
  }
}
