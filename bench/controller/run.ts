/**
 * Controller mode at scale, against the fake API server of the tests (test/kube/fake), with real greeter
 * backends: `node --import tsx bench/controller/run.ts [--routes N] [--endpoints-per-service M] [--changes K]`.
 *
 * - time from the first request to ready (the first full sync applied), and to the first status pass;
 * - resident memory and V8 heap of the controller process with N routes, N Services and N x M endpoints;
 * - K times: a route changed in the API server (the moment the fake stores it) until a new call follows it
 *   (calls are made back to back until one reaches the new backend), p50 and max.
 *
 * Prints a Markdown table for bench/RESULTS.md. Everything runs on 127.0.0.1; endpoints of the N Services are
 * addresses in 192.0.2.0/24 (TEST-NET-1) that no call is ever sent to.
 */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { callGreeter } from "../../examples/call.mjs";
import { Cluster, ourConditions } from "../../test/kube/support.js";

const { values } = parseArgs({
  options: {
    routes: { type: "string", default: "1000" },
    "endpoints-per-service": { type: "string", default: "10" },
    changes: { type: "string", default: "20" },
  },
});
const N = Number(values.routes);
const M = Number(values["endpoints-per-service"]);
const K = Number(values.changes);

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

async function heapOf(get: (p: string) => Promise<{ body: string }>): Promise<number> {
  const text = (await get("/metrics")).body;
  const m = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(0)} MiB`;
const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

const cluster = await Cluster.start();
try {
  // The example's Gateway admits routes from every namespace.
  const gw0 = structuredClone(cluster.fake.get("Gateway", "greeter", "my-hotel")!);
  (gw0.spec as { listeners: Record<string, unknown>[] }).listeners[0]!.allowedRoutes = {
    namespaces: { from: "All" },
  };
  cluster.fake.apply(gw0);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const ns = `team-${i % 10}`;
    if (i < 10) cluster.fake.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    cluster.fake.apply({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `svc-${i}`, namespace: ns },
      spec: { ports: [{ name: "grpc", port: 50051 }] },
    });
    cluster.fake.apply({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `svc-${i}-a`, namespace: ns, labels: { "kubernetes.io/service-name": `svc-${i}` } },
      addressType: "IPv4",
      ports: [{ name: "grpc", port: 50051 }],
      endpoints: Array.from({ length: M }, (_, j) => ({
        addresses: [`192.0.2.${(j % 250) + 1}`],
        conditions: { ready: true },
      })),
    });
    cluster.fake.apply({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GRPCRoute",
      metadata: { name: `route-${i}`, namespace: ns },
      spec: {
        parentRefs: [{ name: "my-hotel", namespace: "greeter" }],
        rules: [
          {
            matches: [{ method: { service: `bench.Service${i}`, method: "Call" } }],
            backendRefs: [{ name: `svc-${i}`, port: 50051 }],
          },
        ],
      },
    });
  }
  const seeded = performance.now() - t0;

  const started = performance.now();
  const gw = cluster.controller(["--log-level", "info"]);
  await gw.ready();
  const ready = performance.now() - started;
  await cluster.waitObject(
    "GRPCRoute",
    `team-${(N - 1) % 10}`,
    `route-${N - 1}`,
    (o) => ourConditions(o).Accepted !== undefined,
    "the last route's status",
    600_000,
  );
  const statusDone = performance.now() - started;
  const target = `127.0.0.1:${gw.localPort(8080)}`;
  // Warm: the first call opens the upstream session.
  await callGreeter({ target, method: "SayHello" });

  const lags: number[] = [];
  for (let k = 0; k < K; k++) {
    const route = structuredClone(cluster.fake.get("GRPCRoute", "greeter", "greeter-grpc-route")!);
    const ref = (route.spec as { rules: { backendRefs: { port: number }[] }[] }).rules[1]!.backendRefs[0]!;
    ref.port = ref.port === 443 ? 50051 : 443;
    const want = ref.port === 443 ? "greeter-grpc-server:443" : "greeter-grpc-server:50051";
    const t = performance.now();
    cluster.fake.apply(route);
    for (;;) {
      const r = await callGreeter({ target, method: "SayHello" });
      if (r.backend === want) break;
      if (performance.now() - t > 30_000) throw new Error(`calls did not follow change ${k} in 30 s`);
    }
    lags.push(performance.now() - t);
  }
  const rss = rssOf(gw.child.pid!);
  const heap = await heapOf((p) => gw.get(p));

  const cpu = cpus()[0]?.model ?? "unknown";
  process.stdout.write(`
Controller mode: ${N} GRPCRoutes, ${N} Services, ${N * M} endpoints (${M} per EndpointSlice), one gateway
process (--workers 1), fake API server in the bench process; ${cpus().length} x ${cpu}, Node ${process.version}.

| measure | value |
| --- | --- |
| objects written to the fake API server | ${(seeded / 1000).toFixed(1)} s |
| start to ready (first full list of 8 kinds, translated, applied) | ${(ready / 1000).toFixed(2)} s |
| start to the last route's status written (${N + 3} status writes) | ${(statusDone / 1000).toFixed(2)} s |
| route change in the API server to new calls following it, p50 (${K} changes) | ${pct(lags, 50).toFixed(0)} ms |
| ... max | ${Math.max(...lags).toFixed(0)} ms |
| controller resident memory (VmRSS) after the changes | ${mib(rss)} |
| controller V8 heap used | ${mib(heap)} |
`);
} finally {
  await cluster.close();
}
