/**
 * The `attacks` phase: every attack of bench/attacks/plan.ts against every attack target (grpcroute as users
 * run it, HAProxy with its default HTTP/2 settings), in one run, each with a well-behaved grpc-js client
 * (bench/clients/steady.mjs) calling through the target before, during and after the attack, and the
 * target's process tree's RSS sampled every 100 ms meanwhile. See bench/README.md.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type AttackOutcome, type AttackSpec, attackPlan } from "../attacks/plan.js";
import { type AttackRow, type GoodCall, goodFigures, RSS_GOAL_BYTES } from "./attack-report.js";
import { checkGreeter } from "./check.js";
import { type Proc, start, stop, waitForLine, waitForQuiet } from "./procs.js";
import { RssSampler, sumRss } from "./rss.js";
import { type Backend, ROOT, type RunningTarget, stopTarget, type TargetKind } from "./targets.js";

/** Settings of the phase. */
export interface AttackPhaseOptions {
  smoke: boolean;
  /** Classes to run (all by default). */
  classes: ReadonlySet<string>;
  /** Seconds of good calls left out at first (a fresh target's code is still cold), then before the attack, and after it. */
  warmupSec: number;
  beforeSec: number;
  afterSec: number;
  /** The good client's calls per second. */
  goodRate: number;
  outDir: string;
  log: (line: string) => void;
  /** Records a failure against a target (a problem for grpcroute, a finding for a reference proxy). */
  report: (target: string, message: string) => void;
}

/** The good client's calls may take this long before they count as failed (DEADLINE_EXCEEDED). */
const GOOD_DEADLINE_MS = 10_000;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The last line of a log that parses as a JSON object, or undefined. */
function lastJson<T>(file: string): T | undefined {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.trim().split("\n").reverse()) {
    if (!line.startsWith("{")) continue;
    try {
      return JSON.parse(line) as T;
    } catch {
      // A line cut short: keep looking.
    }
  }
  return undefined;
}

/** Starts the good client and waits until its first call succeeded. */
async function startGoodClient(t: RunningTarget, o: AttackPhaseOptions, tag: string): Promise<Proc> {
  const logFile = join(o.outDir, `${tag}.good.log`);
  writeFileSync(logFile, "");
  const p = start(
    `good client ${t.name}`,
    process.execPath,
    [
      join(ROOT, "bench/clients/steady.mjs"),
      "--target",
      `127.0.0.1:${t.port}`,
      "--rate",
      String(o.goodRate),
      "--deadline-ms",
      String(GOOD_DEADLINE_MS),
    ],
    { logFile, cwd: ROOT },
  );
  try {
    await waitForLine(p, /^(FIRST)$/m, 20_000);
  } catch (e: unknown) {
    await stop(p);
    throw new Error(`the good client's first call did not succeed: ${e instanceof Error ? e.message : e}`);
  }
  return p;
}

/** Runs the attacker process to its end; resolves with what it reported, or throws saying why not. */
async function runAttacker(t: RunningTarget, spec: AttackSpec, logFile: string): Promise<AttackOutcome> {
  writeFileSync(logFile, "");
  const p = start(
    `attacker ${spec.class}`,
    process.execPath,
    ["--import", "tsx", join(ROOT, "bench/attacks/run.ts"), String(t.port), JSON.stringify(spec)],
    { logFile, cwd: ROOT },
  );
  // Its own caps end it well before this: a slow start, the probe, the fence and the close wait included.
  const limitMs = (spec.seconds + spec.holdSeconds + 60) * 1000;
  const timer = setTimeout(() => void stop(p), limitMs);
  const code = await p.exited;
  clearTimeout(timer);
  const outcome = lastJson<AttackOutcome>(logFile);
  if (outcome === undefined || outcome.startedAt === undefined || outcome.endedAt === undefined) {
    const tail = readFileSync(logFile, "utf8").trim().split("\n").slice(-5).join(" | ");
    throw new Error(`the attacker exited ${code} without its figures: ${tail}`);
  }
  return outcome;
}

/** One attack on one running target, with the good client beside it. */
async function attackOnce(
  t: RunningTarget,
  backend: Backend,
  spec: AttackSpec,
  o: AttackPhaseOptions,
): Promise<AttackRow> {
  const tag = `attack-${spec.class}-${spec.variant.replace(/[^a-zA-Z0-9]+/g, "-")}-${t.name}`;
  const quiet = await waitForQuiet([backend.proc.pid, ...(t.proc ? [t.proc.pid] : [])], {
    timeoutMs: 30_000,
  });
  if (!quiet.settled)
    o.log(
      `bench: ${tag}: the backend and ${t.name} still used ${quiet.lastCores.toFixed(2)} cores after 30 s`,
    );
  const good = await startGoodClient(t, o, tag);
  try {
    return await measure(t, backend, spec, o, tag, good);
  } finally {
    await stop(good);
  }
}

async function measure(
  t: RunningTarget,
  backend: Backend,
  spec: AttackSpec,
  o: AttackPhaseOptions,
  tag: string,
  good: Proc,
): Promise<AttackRow> {
  await sleep(o.warmupSec * 1000);
  const from = now();
  await sleep(o.beforeSec * 1000);
  const pid = t.proc?.pid ?? backend.proc.pid;
  const rssBefore = sumRss([pid]);
  const sampler = new RssSampler(pid, 100);
  let outcome: AttackOutcome | undefined;
  let error: string | undefined;
  const spawned = now();
  try {
    outcome = await runAttacker(t, spec, join(o.outDir, `${tag}.attacker.log`));
  } catch (e: unknown) {
    error = e instanceof Error ? e.message : String(e);
  }
  const rss = sampler.stop();
  const attackEnd = outcome?.endedAt ?? now();
  await sleep(o.afterSec * 1000);
  const to = now();
  await stop(good, GOOD_DEADLINE_MS + 5000);
  const calls = lastJson<{ calls: GoodCall[]; firstError: string }>(good.logFile);
  const row: AttackRow = {
    class: spec.class,
    variant: spec.variant,
    target: t.name,
    good: goodFigures(
      calls?.calls ?? [],
      { from, attackStart: outcome?.startedAt ?? spawned, attackEnd, to },
      calls?.firstError ?? "the good client printed no figures",
    ),
    rssBeforeBytes: rssBefore,
    rssPeakBytes: rss.peakBytes,
  };
  if (outcome !== undefined) row.outcome = outcome;
  if (error !== undefined) row.error = error;
  return row;
}

/** What went wrong with a row, for the problems or findings list; undefined when nothing did. */
function rowFault(r: AttackRow): string | undefined {
  const what = `attack ${r.class} (${r.variant}) on ${r.target}`;
  if (r.error !== undefined) return `${what}: ${r.error}`;
  if (r.good.calls === 0) return `${what}: the good client made no calls (${r.good.firstError})`;
  if (r.good.failed > 0)
    return `${what}: ${r.good.failed} of the good client's ${r.good.calls} calls failed (first: ${r.good.firstError})`;
  if (r.rssPeakBytes >= RSS_GOAL_BYTES) return `${what}: peak RSS ${(r.rssPeakBytes / 1e6).toFixed(0)} MB`;
  return undefined;
}

/**
 * Runs the phase: every attack of the plan on every target, a fresh target process for each (the smoke
 * run keeps one per target, to stay short). Returns one row per attack and target.
 */
export async function attacksPhase(
  targets: readonly TargetKind[],
  backend: Backend,
  o: AttackPhaseOptions,
): Promise<AttackRow[]> {
  const rows: AttackRow[] = [];
  const plan = attackPlan(o.smoke).filter((s) => o.classes.has(s.class));
  const running = new Map<string, RunningTarget>();
  const startTarget = async (k: TargetKind): Promise<RunningTarget> => {
    const t = running.get(k.name) ?? (await k.start(backend, o.outDir));
    try {
      await checkGreeter(t.port, `${k.name} (attacks)`);
    } catch (e: unknown) {
      await stopTarget(t);
      running.delete(k.name);
      throw e;
    }
    return t;
  };
  try {
    for (const spec of plan) {
      for (const k of targets) {
        let t: RunningTarget;
        try {
          t = await startTarget(k);
        } catch (e: unknown) {
          o.report(k.name, `attack ${spec.class} (${spec.variant}): ${k.name} did not start: ${String(e)}`);
          continue;
        }
        if (o.smoke) running.set(k.name, t);
        o.log(`bench: attack ${spec.class} (${spec.variant}) on ${k.name}`);
        let row: AttackRow;
        try {
          row = await attackOnce(t, backend, spec, o);
        } catch (e: unknown) {
          o.report(k.name, `attack ${spec.class} (${spec.variant}) on ${k.name}: ${String(e)}`);
          continue;
        } finally {
          if (!o.smoke) await stopTarget(t);
        }
        rows.push(row);
        const fault = rowFault(row);
        if (fault !== undefined) o.report(k.name, fault);
        o.log(
          `bench: ${spec.class} (${spec.variant}) on ${k.name}: good calls ${row.good.calls}, failed ${row.good.failed}, ` +
            `p99 ${row.good.before.p99Ms.toFixed(1)} / ${row.good.during.p99Ms.toFixed(1)} / ${row.good.after.p99Ms.toFixed(1)} ms, ` +
            `peak RSS ${(row.rssPeakBytes / 1e6).toFixed(0)} MB`,
        );
      }
    }
  } finally {
    for (const t of running.values()) await stopTarget(t);
  }
  return rows;
}
