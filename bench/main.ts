/**
 * The benchmark suite (`npm run bench`): grpcroute against a direct connection, HAProxy and nginx, on the
 * same load in one run, targets interleaved, medians of repetitions; then streaming throughput, latency at
 * part load, and micro benchmarks of the router and translator. Prints a one-screen table and records it in
 * bench/RESULTS.md. See bench/README.md.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { writeSecurityDoc } from "./lib/attack-report.js";
import { attacksPhase } from "./lib/attacks.js";
import { checkGreeter, checkGreeterRaw } from "./lib/check.js";
import { connsPhase, haproxyConns } from "./lib/conns.js";
import { type Load, runH2load, writeHelloRequest } from "./lib/h2load.js";
import { installMissing, missingBinaries, wantedBinaries } from "./lib/install.js";
import {
  BESIDE_SHARE,
  OPEN_LOOP_COALESCE_MS,
  type OpenLoad,
  openLoopConnections,
  runOpenLoop,
} from "./lib/openloop.js";
import { type BenchOptions, HELP, parseOptions, UsageError } from "./lib/options.js";
import { recordRun } from "./lib/page.js";
import {
  installCleanup,
  setClockTicks,
  setPlacement,
  start,
  stop,
  stopAll,
  treeCpuSeconds,
  waitForQuiet,
} from "./lib/procs.js";
import { hotFunctions } from "./lib/profile.js";
import {
  greeterLatencyRate,
  type LatencyRow,
  latencyRate,
  type MachineInfo,
  pairedP99Added,
  type Results,
  renderReport,
} from "./lib/report.js";
import { median, spread } from "./lib/stats.js";
import {
  type Backend,
  type BackendKind,
  buildGateway,
  direct,
  type GatewayRuntime,
  gatewayFeatures,
  grpcroute,
  haproxy,
  haproxyTcp,
  nginx,
  nodePipe,
  ROOT,
  type RunningTarget,
  startBackend,
  stopTarget,
  type TargetKind,
  tsxGateway,
} from "./lib/targets.js";
import { haproxyTls, makeCert, runTlsPhase, tlsManifests } from "./lib/tls.js";

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Quotes an argument for the recorded command line, so it can be pasted back into a shell. */
function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`;
}

/** Steal and total CPU ticks so far (first line of /proc/stat), or undefined where there is none. */
function cpuTicks(): { steal: number; total: number } | undefined {
  try {
    const f =
      readFileSync("/proc/stat", "utf8").split("\n")[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return undefined;
    return { steal: f[7] as number, total: f.slice(0, 8).reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}

function machine(opts: BenchOptions): MachineInfo {
  const model =
    /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpus()[0]?.model ?? "?";
  const h2 = spawnSync("h2load", ["--version"], { encoding: "utf8" }).stdout?.trim() ?? "";
  const ha = spawnSync("haproxy", ["-v"], { encoding: "utf8" }).stdout?.split("\n")[0]?.trim() ?? "";
  const ng = spawnSync("nginx", ["-v"], { encoding: "utf8" }).stderr?.trim() ?? "";
  const nd = opts.backends.includes("nghttpd")
    ? (spawnSync("nghttpd", ["--version"], { encoding: "utf8" }).stdout?.trim() ?? "")
    : "";
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    cores: cpus().length,
    model: model.trim(),
    node: process.version,
    tools: [h2, ha, ng, nd].filter((s) => s !== "").join("; "),
    loadBefore: loadavg()
      .map((x) => x.toFixed(2))
      .join(" "),
    loadAfter: "",
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).map(shellQuote).join(" ")}` : ""}`,
    note: opts.note,
  };
}

/** Whether a phase that measures `--targets` runs (the attacks phase has targets of its own). */
function needsTargets(opts: BenchOptions): boolean {
  return opts.phases.has("unary") || opts.phases.has("latency") || opts.phases.has("streaming");
}

/** Reference proxies and floors: when one of them fails, that is a finding about it, not a fault of the suite. */
const REFERENCE = new Set(["haproxy", "nginx", "haproxy-tcp", "node-pipe"]);

/** Records a failure against a target: reference proxies' failures are findings, others are problems. */
function report(results: Results, target: string, message: string): void {
  (REFERENCE.has(target) ? results.findings : results.problems).push(message);
}

/** One measured h2load run of one target. */
interface UnarySample {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Proxy CPU µs per completed call (NaN for direct). */
  proxyCpuUs: number;
  backendCpuUs: number;
  failed: number;
}

async function measureUnary(
  t: RunningTarget,
  backend: Backend,
  load: Load,
  bodyFile: string,
  outDir: string,
  tag: string,
): Promise<UnarySample> {
  const cpu0 = t.proc ? treeCpuSeconds(t.proc.pid) : 0;
  const b0 = treeCpuSeconds(backend.proc.pid);
  const r = await runH2load({
    port: t.port,
    path: "/helloworld.Greeter/SayHello",
    bodyFile,
    load,
    outDir,
    tag,
  });
  const cpu1 = t.proc ? treeCpuSeconds(t.proc.pid) : 0;
  const b1 = treeCpuSeconds(backend.proc.pid);
  const calls = Math.max(1, r.succeeded);
  return {
    reqPerSec: r.reqPerSec,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    proxyCpuUs: t.proc ? ((cpu1 - cpu0) * 1e6) / calls : Number.NaN,
    backendCpuUs: ((b1 - b0) * 1e6) / calls,
    failed: r.failed,
  };
}

/** Rotates `items` by `k`, so each target takes every position in turn across repetitions. */
function rotate<T>(items: T[], k: number): T[] {
  if (items.length === 0) return items;
  const s = k % items.length;
  return [...items.slice(s), ...items.slice(0, s)];
}

/** The targets that can serve `backend`; the others are listed under "Skipped" with their reason. */
function kindsFor(backend: BackendKind, kinds: TargetKind[], results: Results): TargetKind[] {
  return kinds.filter((k) => {
    const why = k.refuses?.(backend);
    if (why !== undefined) results.skipped.push(`${k.name} on the ${backend} backend: ${why}`);
    return why === undefined;
  });
}

async function startTargets(
  kinds: TargetKind[],
  backend: Backend,
  bodyFile: string,
  outDir: string,
  results: Results,
): Promise<RunningTarget[]> {
  const running: RunningTarget[] = [];
  for (const k of kinds) {
    try {
      const t = await k.start(backend, outDir);
      running.push(t);
      try {
        const label = `${k.name} (${backend.kind})`;
        // nghttpd's answers have no content-type, which grpc-js refuses: its calls are checked as raw HTTP/2.
        if (backend.kind === "nghttpd") await checkGreeterRaw(t.port, label, bodyFile);
        else await checkGreeter(t.port, label);
        log(`bench: checked ${label}: SayHello answered "Hello world", grpc-status 0`);
      } catch (e: unknown) {
        await stopTarget(t);
        running.pop();
        throw e;
      }
    } catch (e: unknown) {
      const msg = e instanceof Error ? e.message : String(e);
      report(
        results,
        k.name,
        `${k.name} with the ${backend.kind} backend: ${msg.split("\n").slice(0, 6).join(" | ")}`,
      );
      log(`bench: ${k.name} (${backend.kind}) left out: ${msg.split("\n")[0]}`);
    }
  }
  return running;
}

async function unaryPhase(
  opts: BenchOptions,
  backend: Backend,
  targets: RunningTarget[],
  bodyFile: string,
  outDir: string,
  results: Results,
): Promise<void> {
  const load: Load = { connections: opts.connections, streams: opts.streams, durationSec: opts.durationSec };
  if (opts.warmupSec > 0) {
    for (const t of targets) {
      log(`bench: warm-up ${t.name} (${backend.kind}), ${opts.warmupSec} s`);
      await runH2load({
        port: t.port,
        path: "/helloworld.Greeter/SayHello",
        bodyFile,
        load: { ...load, durationSec: opts.warmupSec },
        outDir,
        tag: `warmup-${backend.kind}-${t.name}`,
      });
    }
  }
  const samples = new Map<string, UnarySample[]>(targets.map((t) => [t.name, []]));
  for (let rep = 0; rep < opts.reps; rep++) {
    for (const t of rotate(targets, rep)) {
      const s = await measureUnary(
        t,
        backend,
        load,
        bodyFile,
        outDir,
        `unary-${backend.kind}-${t.name}-${rep}`,
      );
      samples.get(t.name)?.push(s);
      log(
        `bench: unary ${backend.kind} ${t.name} rep ${rep + 1}/${opts.reps}: ${Math.round(s.reqPerSec)} req/s, ` +
          `p99 ${s.p99Ms.toFixed(2)} ms, proxy ${Number.isFinite(s.proxyCpuUs) ? s.proxyCpuUs.toFixed(1) : "-"} us/call` +
          (s.failed > 0 ? `, ${s.failed} failed` : ""),
      );
    }
  }
  for (const t of targets) {
    const ss = samples.get(t.name) ?? [];
    results.unary.push({
      backend: backend.kind,
      target: t.name,
      reqPerSec: median(ss.map((s) => s.reqPerSec)),
      p50Ms: median(ss.map((s) => s.p50Ms)),
      p99Ms: median(ss.map((s) => s.p99Ms)),
      proxyCpuUs: median(ss.map((s) => s.proxyCpuUs)),
      backendCpuUs: median(ss.map((s) => s.backendCpuUs)),
      failed: ss.reduce((a, s) => a + s.failed, 0),
      runs: ss.length,
    });
    // h2load's figures stand only if every call got an answer: a proxy dropping calls under load is a fault.
    const failed = ss.reduce((a, s) => a + s.failed, 0);
    if (failed > 0) report(results, t.name, `unary ${backend.kind} via ${t.name}: ${failed} calls failed`);
  }
}

/** What one latency run of one target measured. */
interface LatencySample {
  p50Ms: number;
  p99Ms: number;
  reqPerSec: number;
  failed: number;
  /** Open loop only: how late the generator wrote calls, p99 (ms). */
  lateP99Ms?: number;
  /** Open loop through a proxy only: p99 of the calls sent straight to the backend during the same run (ms). */
  besideP99Ms?: number;
}

/** Interleaved, repeated runs of every target at one load; medians of p50, p99 and achieved rate. */
async function latencyRuns(
  opts: BenchOptions,
  backend: Backend,
  targets: RunningTarget[],
  tag: string,
  offered: number,
  results: Results,
  measure: (t: RunningTarget, tag: string) => Promise<LatencySample>,
): Promise<LatencyRow[]> {
  const samples = new Map<string, LatencySample[]>(targets.map((t) => [t.name, []]));
  // An open-loop run keeps sending at its rate whether the target keeps up or not, so one that falls behind
  // leaves calls queued in the backend (and in the proxy) when the generator stops: the next run waits until
  // the backend and every proxy are idle, so that it does not pay for them.
  const busy = [backend.proc.pid, ...targets.flatMap((t) => (t.proc ? [t.proc.pid] : []))];
  let previous = "the phase before";
  for (let rep = 0; rep < opts.shortReps; rep++) {
    for (const t of rotate(targets, rep)) {
      const quiet = await waitForQuiet(busy);
      if (!quiet.settled)
        report(
          results,
          t.name,
          `${tag} ${backend.kind} via ${t.name}: the backend and proxies still used ${quiet.lastCores.toFixed(2)} cores ` +
            `${Math.round(quiet.waitedMs / 1000)} s after ${previous}`,
        );
      else if (quiet.waitedMs > 1000)
        log(
          `bench: ${tag} ${backend.kind}: ${(quiet.waitedMs / 1000).toFixed(1)} s for the calls left by ${previous} to end`,
        );
      previous = `the run via ${t.name}`;
      let r: LatencySample;
      try {
        r = await measure(t, `${tag}-${backend.kind}-${t.name}-${rep}`);
      } catch (e: unknown) {
        const msg = e instanceof Error ? e.message : String(e);
        report(
          results,
          t.name,
          `${tag} ${backend.kind} via ${t.name}: ${msg.split("\n").slice(0, 6).join(" | ")}`,
        );
        continue;
      }
      samples.get(t.name)?.push(r);
      log(
        `bench: ${tag} ${backend.kind} ${t.name}${Number.isFinite(offered) ? ` at ${Math.round(offered)} req/s` : ""}: ` +
          `p50 ${r.p50Ms.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms` +
          (r.lateP99Ms !== undefined ? `, sent late p99 ${r.lateP99Ms.toFixed(3)} ms` : "") +
          (r.besideP99Ms !== undefined ? `, direct calls beside it p99 ${r.besideP99Ms.toFixed(3)} ms` : "") +
          (r.failed > 0 ? `, ${r.failed} failed` : ""),
      );
    }
  }
  const rows: LatencyRow[] = [];
  for (const t of targets) {
    const s = samples.get(t.name) ?? [];
    const failed = s.reduce((a, x) => a + x.failed, 0);
    if (failed > 0) report(results, t.name, `${tag} ${backend.kind} via ${t.name}: ${failed} calls failed`);
    const row: LatencyRow = {
      backend: backend.kind,
      target: t.name,
      offeredPerSec: offered,
      achievedPerSec: median(s.map((x) => x.reqPerSec)),
      p50Ms: median(s.map((x) => x.p50Ms)),
      p99Ms: median(s.map((x) => x.p99Ms)),
    };
    const late = s.flatMap((x) => (x.lateP99Ms === undefined ? [] : [x.lateP99Ms]));
    if (late.length > 0) row.lateP99Ms = median(late);
    const p99Range = spread(s.map((x) => x.p99Ms));
    if (p99Range !== undefined) row.p99RangeMs = p99Range;
    const paired = pairedP99Added(s);
    if (paired !== undefined) Object.assign(row, paired);
    rows.push(row);
  }
  return rows;
}

async function latencyPhase(
  opts: BenchOptions,
  backend: Backend,
  targets: RunningTarget[],
  bodyFile: string,
  outDir: string,
  results: Results,
): Promise<void> {
  const rate = latencyRate(results, backend.kind, opts.latencyLoad);
  if (typeof rate === "string") {
    results.problems.push(`latency (${backend.kind}): ${rate}`);
    return;
  }
  if (rate.note !== undefined) log(`bench: latency ${backend.kind}: ${rate.note}`);
  const path = "/helloworld.Greeter/SayHello";
  // Open loop at a share of direct's saturated rate (on nghttpd: see latencyRate): calls due at evenly
  // spaced times over two connections, latency from each call's due time (bench/clients/open-loop.ts; why
  // this load: bench/README.md).
  const open: OpenLoad = {
    ratePerSec: rate.ratePerSec,
    connections: openLoopConnections(opts.connections),
    durationSec: opts.durationSec,
    warmupSec: opts.warmupSec > 0 ? 1 : 0,
    coalesceMs: OPEN_LOOP_COALESCE_MS,
  };
  // Beside each proxy's run, a second generator sends BESIDE_SHARE of its calls straight to the backend: both
  // see the same moments of the machine, so the difference of their p99s is the proxy's (bench/README.md).
  const beside: OpenLoad = { ...open, ratePerSec: open.ratePerSec * BESIDE_SHARE, connections: 1 };
  const rows = await latencyRuns(
    opts,
    backend,
    targets,
    "latency",
    open.ratePerSec,
    results,
    async (t, tag) => {
      const besideRun =
        t.name === "direct"
          ? undefined
          : runOpenLoop({
              port: backend.port,
              path,
              bodyFile,
              load: beside,
              outDir,
              tag: `${tag}-beside`,
              root: ROOT,
            });
      // Both generators end by themselves; wait for both before the next run, whichever failed.
      const [main, besideResult] = await Promise.allSettled([
        runOpenLoop({ port: t.port, path, bodyFile, load: open, outDir, tag, root: ROOT }),
        besideRun,
      ]);
      if (main.status === "rejected") throw main.reason;
      if (besideResult.status === "rejected") throw besideResult.reason;
      const r = main.value;
      const p = besideResult.value;
      if (r.firstError !== "") log(`bench: ${tag}: ${r.firstError}`);
      if (p !== undefined && p.firstError !== "")
        log(`bench: ${tag} (direct calls beside it): ${p.firstError}`);
      // Calls still open when the generator stopped waiting are late, not failed: the percentiles count them
      // at their age then.
      if (r.unfinished > 0) log(`bench: ${tag}: ${r.unfinished} calls still open at the end`);
      const sample: LatencySample = {
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        reqPerSec: r.achievedPerSec,
        failed: r.failed,
        lateP99Ms: r.lateP99Ms,
      };
      if (p !== undefined) sample.besideP99Ms = p.p99Ms;
      return sample;
    },
  );
  results.latency.push(...rows.map((l) => (rate.note === undefined ? l : { ...l, rateNote: rate.note })));
  // The same calls one at a time on one connection: what the proxy adds to a call when nothing queues.
  const serial: Load = { connections: 1, streams: 1, durationSec: Math.min(opts.durationSec, 5) };
  results.serial.push(
    ...(await latencyRuns(opts, backend, targets, "serial", Number.NaN, results, async (t, tag) => {
      const r = await runH2load({ port: t.port, path, bodyFile, load: serial, outDir, tag });
      return { p50Ms: r.p50Ms, p99Ms: r.p99Ms, reqPerSec: r.reqPerSec, failed: r.failed };
    })),
  );
}

async function streamingPhase(
  opts: BenchOptions,
  targets: RunningTarget[],
  outDir: string,
  results: Results,
): Promise<void> {
  const client = join(ROOT, "bench/clients/stream.mjs");
  targets = targets.filter((t) => opts.streamTargets.includes(t.name));
  for (const mode of ["download", "echo"] as const) {
    const samples = new Map<string, { bps: number[]; cpu: number[] }>(
      targets.map((t) => [t.name, { bps: [], cpu: [] }]),
    );
    for (let rep = 0; rep < opts.shortReps; rep++) {
      for (const t of rotate(targets, rep)) {
        const logFile = join(outDir, `stream-${mode}-${t.name}-${rep}.json`);
        writeFileSync(logFile, "");
        const cpu0 = t.proc ? treeCpuSeconds(t.proc.pid) : 0;
        const p = start(
          `stream client ${t.name}`,
          process.execPath,
          [
            client,
            "--target",
            `127.0.0.1:${t.port}`,
            "--mode",
            mode,
            "--size",
            String(opts.streamSize),
            "--seconds",
            String(opts.streamSec),
            "--concurrency",
            String(opts.streamConcurrency),
          ],
          { logFile, cwd: ROOT },
        );
        const code = await p.exited;
        const cpu1 = t.proc ? treeCpuSeconds(t.proc.pid) : 0;
        const text = readFileSync(logFile, "utf8");
        let r: { bytesPerSec: number; bytes: number; errors: number; firstError: string } | undefined;
        try {
          r = JSON.parse(text.trim().split("\n").at(-1) ?? "");
        } catch {
          r = undefined;
        }
        if (code !== 0 || r === undefined) {
          report(
            results,
            t.name,
            `streaming ${mode} via ${t.name}: no message came through (${r?.firstError || `client exited ${code}: ${text.slice(-300)}`})`,
          );
          // Keeps each target's list of runs in step with direct's, for the ratios of each repetition.
          results.streamingRuns ??= {};
          results.streamingRuns[`${mode} ${t.name}`] = [
            ...(results.streamingRuns[`${mode} ${t.name}`] ?? []),
            Number.NaN,
          ];
          continue;
        }
        if (r.errors > 0)
          report(
            results,
            t.name,
            `streaming ${mode} via ${t.name}: ${r.errors} errors, first: ${r.firstError}`,
          );
        const s = samples.get(t.name);
        s?.bps.push(r.bytesPerSec);
        results.streamingRuns ??= {};
        const runs = results.streamingRuns;
        const key = `${mode} ${t.name}`;
        runs[key] = [...(runs[key] ?? []), r.bytesPerSec];
        if (t.proc) s?.cpu.push(((cpu1 - cpu0) * 1e6) / Math.max(1, r.bytes / (1024 * 1024)));
        log(
          `bench: streaming ${mode} ${t.name} rep ${rep + 1}: ${(r.bytesPerSec / 1048576).toFixed(0)} MiB/s`,
        );
      }
    }
    for (const t of targets) {
      const s = samples.get(t.name);
      if (!s || s.bps.length === 0) continue;
      results.streaming.push({
        mode,
        target: t.name,
        bytesPerSec: median(s.bps),
        proxyCpuUsPerMiB: s.cpu.length > 0 ? median(s.cpu) : Number.NaN,
      });
    }
  }
}

/** The TLS phase (bench/lib/tls.ts): serve as users start it and HAProxy, one certificate, fixed backend. */
async function tlsRun(
  opts: BenchOptions,
  runtime: GatewayRuntime,
  features: ReturnType<typeof gatewayFeatures>,
  bodyFile: string,
  outDir: string,
  results: Results,
): Promise<void> {
  const dir = join(outDir, "tls");
  const cert = makeCert(dir);
  if (typeof cert === "string") {
    results.problems.push(`tls: ${cert}`);
    return;
  }
  const kinds: TargetKind[] = [
    grpcroute({
      name: "grpcroute",
      runtime,
      features,
      settings: { workers: opts.proxyWorkers },
      profile: opts.profile,
      extraArgs: opts.gatewayArgs,
      workers: "default",
      manifests: (port) => tlsManifests(port, cert),
    }),
    // The smoke run checks the wiring against grpcroute alone (as its attacks do), to stay short.
    ...(opts.smoke ? [] : [haproxyTls(cert, opts.proxyWorkers)]),
  ].filter((k) => {
    const why = k.unavailable();
    if (why !== undefined) results.skipped.push(`tls ${k.name}: ${why}`);
    return why === undefined;
  });
  const backend = await startBackend("fixed", dir);
  try {
    results.tls = await runTlsPhase(kinds, backend, {
      reps: opts.shortReps,
      durationSec: opts.durationSec,
      connections: opts.connections,
      streams: opts.streams,
      newConnections: opts.smoke ? 50 : 2000,
      sTimeSec: opts.smoke ? 1 : 5,
      bodyFile,
      outDir: dir,
      log,
      report: (target, message) => report(results, target, message),
    });
  } finally {
    await stop(backend.proc);
  }
}

async function microPhase(opts: BenchOptions, outDir: string, results: Results): Promise<void> {
  const logFile = join(outDir, "micro.json");
  writeFileSync(logFile, "");
  const p = start(
    "micro",
    process.execPath,
    [
      "--expose-gc",
      "--import",
      "tsx",
      join(ROOT, "bench/micro/run.ts"),
      "--sizes",
      opts.microSizes.join(","),
    ].concat(opts.smoke ? ["--quick"] : []),
    { logFile, cwd: ROOT },
  );
  const code = await p.exited;
  const text = readFileSync(logFile, "utf8");
  const last = text.trim().split("\n").at(-1) ?? "";
  try {
    const parsed = JSON.parse(last) as { rows?: Results["micro"]; skipped?: string; problems?: string[] };
    if (parsed.skipped) results.problems.push(`micro: ${parsed.skipped}`);
    for (const p of parsed.problems ?? []) results.problems.push(`micro: ${p}`);
    for (const row of parsed.rows ?? []) results.micro.push(row);
  } catch {
    results.problems.push(`micro: exited ${code}: ${text.slice(-500)}`);
  }
}

async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions | "help";
  try {
    opts = parseOptions(argv, process.env);
  } catch (e: unknown) {
    if (e instanceof UsageError) {
      log(`bench: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (opts === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  installCleanup(stopAll);
  setPlacement(opts.placement);
  const clk = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout);
  setClockTicks(Number.isFinite(clk) ? clk : 100);

  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const outDir = join(ROOT, "bench/out", `${opts.smoke ? "smoke" : "run"}-${stamp}`);
  mkdirSync(outDir, { recursive: true });
  log(`bench: raw output in ${outDir}`);

  // The smoke run checks the suite's own parts first (h2load parsing, statistics, options, results file,
  // gateway manifests, stopping by PID): a broken parser would otherwise pass as odd figures.
  let selfTestFailure: string | undefined;
  if (opts.smoke) {
    const t = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--test",
        "--test-reporter=dot",
        join(ROOT, "bench/lib/bench.test.ts"),
        join(ROOT, "bench/lib/attacks.test.ts"),
        join(ROOT, "bench/lib/page.test.ts"),
      ],
      { cwd: ROOT, encoding: "utf8", timeout: 60_000 },
    );
    writeFileSync(join(outDir, "self-test.log"), `${t.stdout ?? ""}${t.stderr ?? ""}`);
    if (t.status !== 0)
      selfTestFailure = `self-tests failed (bench/lib/*.test.ts; ${join(outDir, "self-test.log")})`;
    log(`bench: self-tests ${t.status === 0 ? "passed" : "FAILED"}`);
  }

  const needsLoad = opts.phases.has("unary") || opts.phases.has("latency") || opts.phases.has("tls");
  // nghttpd is only wanted when its backend would run.
  const wanted = wantedBinaries(needsLoad ? opts.backends : []);
  const stillMissing = opts.install ? installMissing(log, wanted) : missingBinaries(wanted);
  if (stillMissing.length > 0)
    log(`bench: not installed: ${stillMissing.join(", ")} (what needs them is skipped)`);

  const info = machine(opts);
  const ticksBefore = cpuTicks();
  const results: Results = {
    machine: info,
    options: opts,
    unary: [],
    latency: [],
    serial: [],
    streaming: [],
    micro: [],
    attacks: [],
    problems: [],
    findings: [],
    profiles: [],
    skipped: [],
  };
  if (selfTestFailure !== undefined) results.problems.push(selfTestFailure);

  if (needsLoad && stillMissing.includes("h2load")) {
    // Missing tools are skipped, not failed: a machine without them still checks the rest of the suite.
    results.skipped.push("unary and latency phases: h2load is missing (Debian package nghttp2-client)");
    opts.phases.delete("unary");
    opts.phases.delete("latency");
    if (opts.phases.delete("tls")) results.skipped.push("tls phase: h2load is missing");
  }
  const nghttpdMissing = stillMissing.includes("nghttpd");
  if (nghttpdMissing && (opts.phases.has("unary") || opts.phases.has("latency")))
    results.skipped.push("nghttpd backend: nghttpd is missing (Debian package nghttp2-server)");

  // The gateway: compiled like the package's bin, or the sources through tsx.
  let runtime: GatewayRuntime = tsxGateway();
  const wantsGateway =
    (opts.targets.some((t) => t.startsWith("grpcroute")) &&
      (opts.phases.has("unary") || opts.phases.has("latency") || opts.phases.has("streaming"))) ||
    (opts.phases.has("attacks") && opts.attackTargets.some((t) => t.startsWith("grpcroute"))) ||
    opts.phases.has("tls") ||
    opts.phases.has("conns");
  if (wantsGateway && opts.gatewayRuntime === "dist") {
    log("bench: compiling the gateway (tsconfig.build.json -> bench/out/.../dist)");
    const built = buildGateway(outDir);
    if (typeof built === "string") results.problems.push(`gateway build: ${built}; using tsx`);
    else runtime = built;
  }
  const features = wantsGateway
    ? gatewayFeatures(runtime)
    : { missing: "not requested", workers: false, admin: false };
  results.gateway = { runtime: runtime.describe, ...features };

  const settings = { workers: opts.proxyWorkers };
  const all: Record<string, TargetKind> = {
    direct,
    grpcroute: grpcroute({
      name: "grpcroute",
      runtime,
      features,
      settings,
      profile: opts.profile,
      extraArgs: opts.gatewayArgs,
    }),
    "grpcroute-relay": grpcroute({
      name: "grpcroute-relay",
      runtime,
      features,
      settings,
      profile: opts.profile,
      extraArgs: opts.gatewayArgs,
    }),
    "grpcroute-retry": grpcroute({
      name: "grpcroute-retry",
      runtime,
      features,
      settings,
      profile: opts.profile,
      extraArgs: opts.gatewayArgs,
      retryPolicy: true,
    }),
    // serve as users start it (no --workers: its default), and with two workers, against grpcroute-relay's
    // --proxy-workers (one by default): what a second worker costs per call.
    "grpcroute-default": grpcroute({
      name: "grpcroute-default",
      runtime,
      features,
      settings,
      profile: opts.profile,
      extraArgs: opts.gatewayArgs,
      workers: "default",
    }),
    "grpcroute-workers-2": grpcroute({
      name: "grpcroute-workers-2",
      runtime,
      features,
      settings,
      profile: opts.profile,
      extraArgs: opts.gatewayArgs,
      workers: 2,
    }),
    haproxy: haproxy(settings),
    "haproxy-tcp": haproxyTcp(settings),
    "node-pipe": nodePipe,
    nginx: nginx(settings),
  };
  /** The kinds of the targets named, without those unknown or unavailable here (said so in the results). */
  const available = (names: string[], what: string): TargetKind[] => {
    const out: TargetKind[] = [];
    for (const name of names) {
      const k = all[name];
      if (k === undefined) {
        results.problems.push(`unknown ${what} "${name}" (${Object.keys(all).join(", ")})`);
        continue;
      }
      const why = k.unavailable();
      if (why !== undefined) {
        results.skipped.push(`${what} ${name}: ${why}`);
        log(`bench: ${what} ${name} skipped: ${why}`);
        continue;
      }
      out.push(k);
    }
    return out;
  };
  const kinds = needsTargets(opts) ? available(opts.targets, "target") : [];

  const bodyFile = writeHelloRequest(outDir);
  const backendsToRun = new Set<BackendKind>();
  if (opts.phases.has("unary") || opts.phases.has("latency"))
    for (const b of opts.backends) if (b !== "nghttpd" || !nghttpdMissing) backendsToRun.add(b);
  if (opts.phases.has("streaming")) backendsToRun.add("greeter");
  // nghttpd's latency phase runs at the greeter's rate when the greeter's ran first: it goes last.
  if (backendsToRun.delete("nghttpd")) backendsToRun.add("nghttpd");
  for (const kind of backendsToRun) {
    const backend = await startBackend(kind, outDir);
    log(`bench: backend ${kind} on 127.0.0.1:${backend.port}`);
    try {
      const targets = await startTargets(kindsFor(kind, kinds, results), backend, bodyFile, outDir, results);
      const loadPhases = opts.backends.includes(kind);
      try {
        if (loadPhases && opts.phases.has("unary"))
          await unaryPhase(opts, backend, targets, bodyFile, outDir, results);
        if (loadPhases && opts.phases.has("latency")) {
          // Without the unary phase the latency rate still needs saturated figures: direct's, or on nghttpd
          // without the greeter's rate to reuse, every target's (its rate is a share of the slowest one).
          if (!opts.phases.has("unary")) {
            const every = kind === "nghttpd" && greeterLatencyRate(results.latency) === undefined;
            await unaryPhase(
              { ...opts, reps: 1 },
              backend,
              every ? targets : targets.filter((t) => t.name === "direct"),
              bodyFile,
              outDir,
              results,
            );
          }
          await latencyPhase(opts, backend, targets, bodyFile, outDir, results);
        }
        if (kind === "greeter" && opts.phases.has("streaming"))
          await streamingPhase(opts, targets, outDir, results);
      } finally {
        for (const t of targets) {
          await stopTarget(t);
          if (t.profileDir !== undefined) {
            results.profiles.push({
              target: t.name,
              backend: kind,
              dir: t.profileDir,
              top: hotFunctions(t.profileDir, ROOT),
            });
          }
        }
      }
    } finally {
      await stop(backend.proc);
    }
  }

  if (opts.phases.has("tls")) await tlsRun(opts, runtime, features, bodyFile, outDir, results);
  if (opts.phases.has("conns")) {
    const dir = join(outDir, "conns");
    mkdirSync(dir, { recursive: true });
    const backend = await startBackend("greeter", dir);
    // HAProxy needs two descriptors per connection and this host's hard limit is 20,000 (lib/conns.ts).
    const big = opts.smoke ? 200 : 9_900;
    try {
      results.conns = await connsPhase(
        [
          grpcroute({
            name: "grpcroute",
            runtime,
            features,
            settings,
            profile: opts.profile,
            extraArgs: opts.gatewayArgs,
            workers: "default",
          }),
          ...(opts.smoke ? [] : [haproxyConns(opts.proxyWorkers, big + 50)]),
        ].filter((k) => k.unavailable() === undefined),
        backend,
        {
          connections: big,
          streamConnections: opts.smoke ? 2 : 100,
          streamsPerConnection: 100,
          holdSec: opts.smoke ? 1 : 5,
          settleSec: opts.smoke ? 0.5 : 3,
          outDir: dir,
          log,
          report: (target, message) => report(results, target, message),
        },
      );
    } finally {
      await stop(backend.proc);
    }
  }

  if (opts.phases.has("attacks")) {
    const attackKinds = available(opts.attackTargets, "attack target");
    // A folder of its own: the greeter of the streaming phase already wrote backend-greeter.log, whose
    // LISTENING line would be read as this one's.
    const attackDir = join(outDir, "attacks");
    mkdirSync(attackDir, { recursive: true });
    const backend = await startBackend("greeter", attackDir);
    log(`bench: attacks: backend greeter on 127.0.0.1:${backend.port}`);
    try {
      results.attacks = await attacksPhase(attackKinds, backend, {
        smoke: opts.smoke,
        classes: opts.attackClasses,
        warmupSec: opts.smoke ? 0 : 1,
        beforeSec: opts.smoke ? 0.3 : 3,
        afterSec: opts.smoke ? 0.3 : 3,
        goodRate: opts.smoke ? 100 : 200,
        outDir: attackDir,
        log,
        report: (target, message) => report(results, target, message),
      });
    } finally {
      await stop(backend.proc);
    }
  }

  if (opts.phases.has("micro")) {
    log("bench: micro benchmarks (router match, translate)");
    await microPhase(opts, outDir, results);
  }

  info.loadAfter = loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
  const ticksAfter = cpuTicks();
  if (ticksBefore !== undefined && ticksAfter !== undefined && ticksAfter.total > ticksBefore.total) {
    const share = (ticksAfter.steal - ticksBefore.steal) / (ticksAfter.total - ticksBefore.total);
    info.steal = `${(share * 100).toFixed(1)} %`;
  }
  const summary = renderReport(results);
  process.stdout.write(`${summary}\n`);
  writeFileSync(
    join(outDir, "results.json"),
    JSON.stringify(results, (_k, v) => (v instanceof Set ? [...v] : v), 2),
  );
  if (opts.resultsFile !== undefined) {
    const file = resolve(ROOT, opts.resultsFile);
    recordRun(file, opts.section, results);
    log(
      opts.section === "main" || opts.section === "attacks"
        ? `bench: figures recorded in ${opts.resultsFile} and bench/history/runs.md`
        : `bench: figures of section "${opts.section}" appended to bench/history/runs.md`,
    );
  }
  if (opts.securityDoc !== undefined && results.attacks.length > 0) {
    const why = writeSecurityDoc(resolve(ROOT, opts.securityDoc), results.attacks, ["grpcroute", "haproxy"], {
      command: info.command,
      date: info.date.slice(0, 10),
      machine: `${info.cores} cores, ${info.model}, Node ${info.node}; HAProxy ${/HAProxy version (\S+)/.exec(info.tools)?.[1] ?? "?"}`,
    });
    log(
      why === undefined
        ? `bench: attack figures recorded in ${opts.securityDoc}`
        : `bench: ${opts.securityDoc} left as it was: ${why}`,
    );
  }
  // The smoke run is a check: it fails when a target that could run did not work.
  // A run fails when the suite, a backend, direct or the gateway failed (a reference proxy's failure is a
  // finding); its figures are still printed and recorded.
  return results.problems.length > 0 ? 1 : 0;
}

main(process.argv.slice(2))
  .then(async (code) => {
    await stopAll();
    process.exitCode = code;
  })
  .catch(async (e: unknown) => {
    log(`bench: ${e instanceof Error ? e.message : String(e)}`);
    await stopAll();
    process.exitCode = 1;
  });
