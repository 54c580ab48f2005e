/** Command-line flags and `BENCH_*` environment variables of the benchmark suite. */

import { availableParallelism } from "node:os";
import { ATTACK_CLASSES } from "../attacks/plan.js";
import type { Placement } from "./procs.js";

/** The backends the unary and latency phases can run on (bench/lib/targets.ts starts them). */
const BACKENDS = ["greeter", "fixed", "nghttpd"] as const;
type Backend = (typeof BACKENDS)[number];

/** Every setting of one run. Flags win over environment variables, which win over the defaults. */
export interface BenchOptions {
  /** Tiny loads, no apt-get, targets with missing binaries skipped, nothing written to RESULTS.md. */
  smoke: boolean;
  /** Phases to run: unary, latency, streaming, attacks, micro. */
  phases: Set<string>;
  /** Backends for the unary and latency phases. */
  backends: Backend[];
  /** Target names to measure (unknown ones are reported). */
  targets: string[];
  /** Targets of the streaming phase (a subset of `targets`). */
  streamTargets: string[];
  connections: number;
  streams: number;
  /** Seconds per measured h2load run. */
  durationSec: number;
  /** Seconds of unmeasured load per target before the repetitions. */
  warmupSec: number;
  /** Repetitions of the unary phase (medians are reported). */
  reps: number;
  /** Repetitions of the latency and streaming phases. */
  shortReps: number;
  /** Share of direct's saturated req/s used for the latency phase. */
  latencyLoad: number;
  /** Streaming: message size in bytes, seconds per run, concurrent streams. */
  streamSize: number;
  streamSec: number;
  streamConcurrency: number;
  /** Micro benchmark route counts. */
  microSizes: number[];
  /** Workers of each proxy (HAProxy threads, nginx worker processes, grpcroute `--workers`). */
  proxyWorkers: number;
  /** `dist`: compile the gateway first and run the output; `tsx`: run the sources. */
  gatewayRuntime: "dist" | "tsx";
  /** Extra arguments for every `grpcroute serve` (alternatives such as `--log-level warn`). */
  gatewayArgs: string[];
  /** Run the gateway under `node --cpu-prof` and report its hottest functions. */
  profile: boolean;
  /** apt-get the missing binaries. */
  install: boolean;
  /** Where the summary goes, and the section of it this run replaces. */
  resultsFile: string | undefined;
  section: string;
  /** A note printed with the results (e.g. what else was running). */
  note: string;
  /** CPUs of the backends and of every other process, when pinned (`--pin-backend`). */
  placement: Placement | undefined;
  /** Targets of the attacks phase (bench/lib/attacks.ts). */
  attackTargets: string[];
  /** Attack classes to run (bench/attacks/plan.ts). */
  attackClasses: Set<string>;
  /** The file whose `bench:attacks` section gets the attacks' short table (docs/security.md). */
  securityDoc: string | undefined;
}

const HELP = `usage: npm run bench -- [options]     (node scripts/bench.mjs [options])

  --smoke                 short check that the suite works (< 60 s; no apt-get; skips what is missing)
  --phases LIST           unary,latency,streaming,tls,conns,attacks,micro      BENCH_PHASES
                          (all)
  --backends LIST         greeter,fixed,nghttpd (smoke: fixed)                 BENCH_BACKENDS
                          (nghttpd: nghttp2's C server, no collector; Debian nghttp2-server)
  --targets LIST          direct,grpcroute-relay,grpcroute-default,             BENCH_TARGETS
                          grpcroute-workers-2,grpcroute-retry,haproxy,nginx
                          (grpcroute-relay and grpcroute both run serve --workers as --proxy-workers;
                          grpcroute-default runs serve with no --workers flag, as users start it;
                          grpcroute-workers-2 runs --workers 2; grpcroute-retry adds a TrafficPolicy)
                          floors, not in the default list: node-pipe, haproxy-tcp
  --stream-targets LIST  targets of the streaming phase (all; smoke: direct, grpcroute*) BENCH_STREAM_TARGETS
  --connections N         h2load connections (8)                               BENCH_CONNECTIONS
  --streams N             concurrent streams per connection (16)               BENCH_STREAMS
  --duration S            seconds per measured run (10)                        BENCH_DURATION
  --warmup S              unmeasured seconds per target first (3)              BENCH_WARMUP
  --reps N                unary repetitions, interleaved (5)                   BENCH_REPS
  --short-reps N          latency and streaming repetitions (3)                BENCH_SHORT_REPS
  --latency-load F        share of direct's saturated rate for latency (0.5)   BENCH_LATENCY_LOAD
  --stream-size BYTES     streaming message size (1048576)                     BENCH_STREAM_SIZE
  --stream-seconds S      seconds per streaming run (5)                        BENCH_STREAM_SECONDS
  --stream-concurrency N  concurrent streams (2)                               BENCH_STREAM_CONCURRENCY
  --micro-sizes LIST      route counts (10,1000,10000)                         BENCH_MICRO_SIZES
  --attack-targets LIST   targets of the attacks phase (grpcroute,haproxy;     BENCH_ATTACK_TARGETS
                          smoke: grpcroute)
  --attack-classes LIST   continuation,rapid-reset,control,malformed,slow,     BENCH_ATTACK_CLASSES
                          useless (all)
  --security-doc FILE     where the attacks' short table goes, between its     BENCH_SECURITY_DOC
                          bench:attacks markers (docs/security.md; none with
                          --smoke or --results '')
  --proxy-workers N       threads/processes of every proxy (1)                 BENCH_PROXY_WORKERS
  --pin-backend CPUS      run backends on these CPUs (taskset -c list, e.g. 0)  BENCH_PIN_BACKEND
                          and everything else on the others (none: unpinned)
  --gateway-runtime R     dist (compile first) or tsx (dist)                   BENCH_GATEWAY_RUNTIME
  --gateway-args "ARGS"   extra arguments for grpcroute serve, space-separated  BENCH_GATEWAY_ARGS
  --profile               run the gateway with node --cpu-prof; report its hottest functions
  --no-install            never run apt-get
  --results FILE          summary file (bench/RESULTS.md; none with --smoke)   BENCH_RESULTS
  --section NAME          section of the summary file this run replaces         BENCH_SECTION
                          (main; attacks when that is the only phase)
  --note TEXT             note recorded with the figures                       BENCH_NOTE
`;

/** The phases, in the order a run takes them. */
const PHASES = ["unary", "latency", "streaming", "tls", "conns", "attacks", "micro"] as const;

/** A file option: undefined when empty. */
function optionalFile(s: string): string | undefined {
  return s === "" ? undefined : s;
}

/** Thrown for a bad flag: the message is for the user, without a stack trace. */
export class UsageError extends Error {}

function list(s: string): string[] {
  return s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");
}

/**
 * `--pin-backend`: a `taskset -c` list (`0`, `0,2`, `1-3`) of CPUs for the backends; every other process gets
 * the CPUs left over. Both sets must be non-empty and within the machine.
 */
function parsePlacement(raw: string, cpuCount: number): BenchOptions["placement"] {
  if (raw === "") return undefined;
  const backend = new Set<number>();
  for (const part of list(raw)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    const lo = Number(m?.[1]);
    const hi = m?.[2] === undefined ? lo : Number(m[2]);
    if (!m || hi < lo || hi >= cpuCount) {
      throw new UsageError(
        `--pin-backend (BENCH_PIN_BACKEND) must list CPUs from 0 to ${cpuCount - 1} (like 0 or 0-1), got "${raw}"`,
      );
    }
    for (let c = lo; c <= hi; c++) backend.add(c);
  }
  const other: number[] = [];
  for (let c = 0; c < cpuCount; c++) if (!backend.has(c)) other.push(c);
  if (other.length === 0) {
    throw new UsageError(
      `--pin-backend ${raw} leaves no CPU for the proxy and the load generator (this machine has ${cpuCount})`,
    );
  }
  return { backend: [...backend].sort((a, b) => a - b).join(","), other: other.join(",") };
}

/** Parses flags and environment into options. Throws {@link UsageError} on bad input; prints help on `-h`. */
export function parseOptions(
  argv: string[],
  env: NodeJS.ProcessEnv,
  cpuCount = availableParallelism(),
): BenchOptions | "help" {
  const flags = new Map<string, string>();
  const bools = new Set<string>();
  const BOOL = new Set(["smoke", "no-install", "help", "profile"]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "-h") {
      bools.add("help");
      continue;
    }
    if (!a.startsWith("--")) throw new UsageError(`unexpected argument "${a}"\n\n${HELP}`);
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (BOOL.has(name)) {
      bools.add(name);
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value\n\n${HELP}`);
    flags.set(name, value);
  }
  if (bools.has("help")) return "help";
  const known = new Set(HELP.match(/--[a-z-]+/g)?.map((f) => f.slice(2)));
  for (const f of flags.keys()) if (!known.has(f)) throw new UsageError(`unknown option --${f}\n\n${HELP}`);

  const smoke = bools.has("smoke");
  const str = (flag: string, envName: string, dflt: string): string =>
    flags.get(flag) ?? env[envName] ?? dflt;
  const num = (flag: string, envName: string, dflt: number, min: number, max: number): number => {
    const raw = str(flag, envName, String(dflt));
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new UsageError(`--${flag} (${envName}) must be a number from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  };

  const phases = new Set(list(str("phases", "BENCH_PHASES", PHASES.join(","))));
  for (const p of phases) {
    if (!(PHASES as readonly string[]).includes(p)) {
      throw new UsageError(`--phases: unknown phase "${p}" (${PHASES.join(", ")})`);
    }
  }
  const attackClasses = new Set(
    list(str("attack-classes", "BENCH_ATTACK_CLASSES", ATTACK_CLASSES.join(","))),
  );
  for (const c of attackClasses) {
    if (!(ATTACK_CLASSES as readonly string[]).includes(c))
      throw new UsageError(`--attack-classes: unknown class "${c}" (${ATTACK_CLASSES.join(", ")})`);
  }
  const attackTargets = list(
    str("attack-targets", "BENCH_ATTACK_TARGETS", smoke ? "grpcroute" : "grpcroute,haproxy"),
  );
  // The smoke run keeps one backend for the unary phases (greeter still serves the streaming phase), one
  // that needs no package beyond Node: CI has no nghttpd.
  const backends = list(str("backends", "BENCH_BACKENDS", smoke ? "fixed" : BACKENDS.join(",")));
  for (const b of backends) {
    if (!(BACKENDS as readonly string[]).includes(b))
      throw new UsageError(`--backends: unknown backend "${b}" (${BACKENDS.join(", ")})`);
  }
  const targets = list(
    str(
      "targets",
      "BENCH_TARGETS",
      "direct,grpcroute-relay,grpcroute-default,grpcroute-workers-2,grpcroute-retry,haproxy,nginx",
    ),
  );
  if (!targets.includes("direct")) targets.unshift("direct");
  const streamTargets = list(
    str("stream-targets", "BENCH_STREAM_TARGETS", smoke ? "direct,grpcroute-relay" : targets.join(",")),
  );
  const runtime = str("gateway-runtime", "BENCH_GATEWAY_RUNTIME", smoke ? "tsx" : "dist");
  if (runtime !== "dist" && runtime !== "tsx") {
    throw new UsageError(`--gateway-runtime must be dist or tsx, got "${runtime}"`);
  }
  const sizes = list(str("micro-sizes", "BENCH_MICRO_SIZES", smoke ? "10,1000" : "10,1000,10000")).map(
    Number,
  );
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 100_000)) {
    throw new UsageError("--micro-sizes must list whole numbers from 1 to 100000");
  }
  const resultsDefault = smoke ? "" : "bench/RESULTS.md";
  const results = str("results", "BENCH_RESULTS", resultsDefault);
  const onlyAttacks = phases.size === 1 && phases.has("attacks");
  const section = str("section", "BENCH_SECTION", onlyAttacks ? "attacks" : "main");
  if (!/^[a-z0-9-]+$/.test(section))
    throw new UsageError(`--section must be lowercase letters, digits and -`);

  const placement = parsePlacement(str("pin-backend", "BENCH_PIN_BACKEND", ""), cpuCount);
  return {
    placement,
    smoke,
    phases,
    backends: backends as Backend[],
    targets,
    streamTargets,
    connections: num("connections", "BENCH_CONNECTIONS", smoke ? 2 : 8, 1, 1000),
    streams: num("streams", "BENCH_STREAMS", smoke ? 4 : 16, 1, 1000),
    durationSec: num("duration", "BENCH_DURATION", smoke ? 1 : 10, 1, 3600),
    warmupSec: num("warmup", "BENCH_WARMUP", smoke ? 0 : 3, 0, 600),
    reps: num("reps", "BENCH_REPS", smoke ? 1 : 5, 1, 100),
    shortReps: num("short-reps", "BENCH_SHORT_REPS", smoke ? 1 : 3, 1, 100),
    latencyLoad: num("latency-load", "BENCH_LATENCY_LOAD", 0.5, 0.01, 1),
    streamSize: num("stream-size", "BENCH_STREAM_SIZE", 1024 * 1024, 1, 16 * 1024 * 1024),
    streamSec: num("stream-seconds", "BENCH_STREAM_SECONDS", smoke ? 1 : 5, 1, 3600),
    streamConcurrency: num("stream-concurrency", "BENCH_STREAM_CONCURRENCY", 2, 1, 64),
    microSizes: sizes,
    proxyWorkers: num("proxy-workers", "BENCH_PROXY_WORKERS", 1, 1, 64),
    gatewayRuntime: runtime,
    install: !smoke && !bools.has("no-install"),
    profile: bools.has("profile"),
    gatewayArgs: str("gateway-args", "BENCH_GATEWAY_ARGS", "")
      .split(" ")
      .filter((a) => a !== ""),
    resultsFile: results === "" ? undefined : results,
    section,
    note: str("note", "BENCH_NOTE", ""),
    attackTargets,
    attackClasses,
    securityDoc: optionalFile(
      str("security-doc", "BENCH_SECURITY_DOC", results === "" ? "" : "docs/security.md"),
    ),
  };
}

export { HELP };
