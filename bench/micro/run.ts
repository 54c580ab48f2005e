/**
 * Micro benchmarks: the router's `match()` and the translator at N routes, over manifests generated here and
 * read by the same parser `serve` uses. Prints one JSON line `{rows, skipped?, problems}` for bench/main.ts.
 *
 * Route mix (one match per rule, ten rules per GRPCRoute): 40 % exact service + method, 20 % service only,
 * 20 % regular expression (service and method), 20 % exact method plus two header matches (one Exact, one
 * RegularExpression). Calls hit random routes of every kind, plus 10 % that match nothing.
 *
 * Usage: node --expose-gc --import tsx bench/micro/run.ts --sizes 10,1000,10000 [--quick]
 *        node --import tsx bench/micro/run.ts --dump-yaml N     (prints the manifests for N routes)
 */
import { performance } from "node:perf_hooks";
import type { MicroRow } from "../lib/report.js";
import { median } from "../lib/stats.js";

type RouterModule = typeof import("../../src/dataplane/router.js");
type TranslatorModule = typeof import("../../src/translate/translator.js");
type ParseModule = typeof import("../../src/api/parse.js");

const RULES_PER_ROUTE = 10;

/** Fewest `match()` calls in one timed sample, so the clock reads are a negligible part of it. */
const MIN_CALLS_PER_SAMPLE = 1000;

/** The generated manifests for `n` routes, and the calls that exercise them. */
interface Workload {
  yaml: string;
  calls: Call[];
}

/** One call of the workload, the route it must reach (undefined: none) and the kind of that route. */
interface Call {
  authority: string;
  path: string;
  headers: Record<string, string>;
  expect: string | undefined;
  kind: Kind;
}

type Kind = "exact" | "service" | "regex" | "headers" | "miss";

function kindOf(i: number): Exclude<Kind, "miss"> {
  const k = i % 10;
  return k < 4 ? "exact" : k < 6 ? "service" : k < 8 ? "regex" : "headers";
}

function matchYaml(i: number): string {
  switch (kindOf(i)) {
    case "exact":
      return `        - method: {service: ex${i}.Service, method: Call${i}}`;
    case "service":
      return `        - method: {service: sv${i}.Service}`;
    case "regex":
      return `        - method: {type: RegularExpression, service: 'rx${i}\\.S[a-z]+', method: 'M[a-z]*'}`;
    case "headers":
      return [
        `        - method: {service: hd${i}.Service, method: Call}`,
        "          headers:",
        `            - {name: x-tenant, value: t${i}}`,
        `            - {type: RegularExpression, name: x-region, value: 'eu-[a-z]+-${i % 7}'}`,
      ].join("\n");
  }
}

/** A call that only route `i` accepts. */
function callFor(i: number): Call {
  const authority = "bench.example.com:8080";
  const rule = i % RULES_PER_ROUTE;
  const expect = `grpcroute/default/r${Math.floor(i / RULES_PER_ROUTE)}/rule/${rule}/match/0`;
  switch (kindOf(i)) {
    case "exact":
      return { authority, path: `/ex${i}.Service/Call${i}`, headers: {}, expect, kind: "exact" };
    case "service":
      return { authority, path: `/sv${i}.Service/Anything`, headers: {}, expect, kind: "service" };
    case "regex":
      return { authority, path: `/rx${i}.Sfoo/Mbar`, headers: {}, expect, kind: "regex" };
    case "headers":
      return {
        authority,
        path: `/hd${i}.Service/Call`,
        headers: { "x-tenant": `t${i}`, "x-region": `eu-west-${i % 7}`, "content-type": "application/grpc" },
        expect,
        kind: "headers",
      };
  }
}

/** Deterministic pseudo-random numbers (xorshift), so every run asks the same calls. */
function rng(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

function workload(n: number): Workload {
  const docs: string[] = [
    `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: grpcroute}
spec: {controllerName: grpcroute.dev/gateway-controller}`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench, namespace: default}
spec:
  gatewayClassName: grpcroute
  listeners:
    - {name: http, protocol: HTTP, port: 8080}`,
    `apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec:
  ports: [{name: grpc, port: 50051}]`,
    `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: backend-1, namespace: default, labels: {kubernetes.io/service-name: backend}}
addressType: IPv4
ports: [{name: grpc, port: 50051}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]`,
  ];
  for (let r = 0; r * RULES_PER_ROUTE < n; r++) {
    const rules: string[] = [];
    for (let j = 0; j < RULES_PER_ROUTE && r * RULES_PER_ROUTE + j < n; j++) {
      rules.push(
        `    - matches:\n${matchYaml(r * RULES_PER_ROUTE + j)}\n      backendRefs: [{name: backend, port: 50051}]`,
      );
    }
    docs.push(`apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: r${r}, namespace: default}
spec:
  parentRefs: [{name: bench}]
  hostnames: [bench.example.com]
  rules:
${rules.join("\n")}`);
  }
  const rand = rng(n);
  const calls: Call[] = [];
  const count = Math.max(100, Math.min(2000, n * 4));
  for (let c = 0; c < count; c++) {
    if (c % 10 === 9) {
      calls.push({
        authority: "bench.example.com",
        path: "/no.such.Service/Nothing",
        headers: {},
        expect: undefined,
        kind: "miss",
      });
    } else calls.push(callFor(Math.floor(rand() * n)));
  }
  return { yaml: `${docs.join("\n---\n")}\n`, calls };
}

/** Runs `fn` in timed batches until `budgetMs` is spent (at least `minSamples` batches); median ms per call. */
function timeIt(fn: () => void, budgetMs: number, minSamples: number): number {
  const samples: number[] = [];
  const end = performance.now() + budgetMs;
  while (samples.length < minSamples || (performance.now() < end && samples.length < 1000)) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

async function main(): Promise<void> {
  const dump = process.argv.indexOf("--dump-yaml");
  if (dump > 0) {
    // The generated manifests, to reproduce a figure with `grpcroute validate` or `explain`.
    process.stdout.write(workload(Number(process.argv[dump + 1] ?? "10")).yaml);
    return;
  }
  const i = process.argv.indexOf("--sizes");
  const sizes = (i > 0 ? (process.argv[i + 1] ?? "") : "10,1000,10000").split(",").map(Number);
  const quick = process.argv.includes("--quick");
  const problems: string[] = [];
  let router: RouterModule;
  let translator: TranslatorModule;
  let parser: ParseModule;
  try {
    router = await import("../../src/dataplane/router.js");
    translator = await import("../../src/translate/translator.js");
    parser = await import("../../src/api/parse.js");
  } catch (e: unknown) {
    process.stdout.write(
      `${JSON.stringify({ rows: [], skipped: `router or translator not loadable yet: ${e instanceof Error ? e.message : e}` })}\n`,
    );
    return;
  }
  const rows: MicroRow[] = [];
  for (const n of sizes) {
    const w = workload(n);
    const parseMs = timeIt(
      () => parser.parseText(w.yaml, `generated-${n}.yaml`),
      quick ? 50 : 1000,
      quick ? 1 : 3,
    );
    const loaded = parser.parseText(w.yaml, `generated-${n}.yaml`);
    const errors = [...loaded.fatal, ...loaded.issues.filter((x) => x.severity === "error")];
    if (errors.length > 0)
      problems.push(`${n} routes: ${errors.length} manifest errors, first: ${errors[0]?.message}`);
    const translateMs = timeIt(
      () => translator.translate(loaded.resources),
      quick ? 50 : 2000,
      quick ? 1 : 3,
    );

    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const result = translator.translate(loaded.resources);
    const listeners = result.table.listeners;
    const t0 = performance.now();
    const compiled = router.compileRouter(listeners);
    const compileMs = performance.now() - t0;
    gc();
    const heapMiB = (process.memoryUsage().heapUsed - heap0) / 1048576;

    // Correctness first: a fast router that picks the wrong route is no result.
    let wrong = 0;
    for (const c of w.calls) {
      const m = compiled.match(c.authority, c.path, c.headers);
      if (m.route?.name !== c.expect) wrong++;
    }
    const routes = listeners.reduce((a, l) => a + l.routes.length, 0);
    if (routes !== n) problems.push(`${n} routes: the table holds ${routes} routes`);
    if (wrong > 0) problems.push(`${n} routes: ${wrong} of ${w.calls.length} calls matched another route`);

    let sink = 0;
    const nsPerCall = (calls: Call[], budgetMs: number): number => {
      if (calls.length === 0) return Number.NaN;
      // Each timed sample makes at least MIN_CALLS_PER_SAMPLE calls (the list repeated): a sample of a few
      // dozen calls lasts about a microsecond, and reading the clock twice (~0.1 us) would be counted in it.
      const reps = Math.ceil(MIN_CALLS_PER_SAMPLE / calls.length);
      const batch = () => {
        for (let k = 0; k < reps; k++) {
          for (const c of calls)
            if (compiled.match(c.authority, c.path, c.headers).route !== undefined) sink++;
        }
      };
      batch(); // warm the JIT
      return (timeIt(batch, quick ? budgetMs / 10 : budgetMs, quick ? 2 : 5) * 1e6) / (calls.length * reps);
    };
    const matchNs = nsPerCall(w.calls, 1500);
    const byKind: Record<string, number> = {};
    for (const k of ["exact", "service", "regex", "headers", "miss"] as const) {
      byKind[k] = nsPerCall(
        w.calls.filter((c) => c.kind === k),
        400,
      );
    }
    if (sink < 0) process.stdout.write(""); // keeps `sink` observable
    rows.push({ routes: n, matchNs, byKind, compileMs, translateMs, parseMs, heapMiB });
    // Keep the measured objects alive until the heap was read.
    if (result.table.version < 0 || compiled.port < 0) process.stdout.write("");
  }
  process.stdout.write(`${JSON.stringify({ rows, problems })}\n`);
}

main().catch((e: unknown) => {
  process.stdout.write(
    `${JSON.stringify({ rows: [], skipped: `micro failed: ${e instanceof Error ? e.message : e}` })}\n`,
  );
});
