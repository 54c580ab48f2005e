/**
 * The fuzz loop shared by the targets: seeded cases, a greedy shrinker, and a report that says how to replay
 * a failure.
 *
 * Environment:
 * - `FUZZ_SEED`: the campaign seed (default 1, so `npm test` runs the same cases every time; `random` picks one
 *   and prints it).
 * - `FUZZ_CASES`: cases per target (default: the target's own, a few thousand in all for `npm test`).
 * - `FUZZ_CASE`: run only this case number (a replay).
 * - `FUZZ_SHRINK=0`: report failures as generated, without shrinking.
 */
import { hashName, Rng } from "./rng.js";

/** What a case broke: `kind` names the invariant (the shrinker keeps it), `detail` says how. */
export interface Failure {
  kind: string;
  detail: string;
}

export interface FuzzTarget<C> {
  /** Short name; also salts the seed, so each target has its own cases. */
  name: string;
  /** Cases per run when `FUZZ_CASES` is not set. */
  defaultCases: number;
  generate(rng: Rng): C;
  /** Runs a case: null when every invariant held. */
  run(c: C): Failure | null;
  /** Smaller variants of a failing case, most promising first (the shrinker tries them in order). */
  shrinkCandidates?(c: C): Iterable<C>;
  /** Size of a case in bytes (for the report). */
  size(c: C): number;
  /** What the shrinker makes smaller: it keeps only variants that weigh strictly less. */
  weight(c: C): number;
  /** The case written out so it can be replayed or pasted into a regression test (hex and parameters). */
  describe(c: C): string;
}

export interface FuzzSettings {
  seed: number;
  /** Overrides every target's case count. */
  cases: number | undefined;
  only: number | undefined;
  shrink: boolean;
}

/** Reads the `FUZZ_*` variables. */
export function fuzzSettings(env: NodeJS.ProcessEnv = process.env): FuzzSettings {
  const rawSeed = env.FUZZ_SEED;
  let seed = 1;
  if (rawSeed === "random") seed = Math.floor(Math.random() * 0xffffffff);
  else if (rawSeed !== undefined && rawSeed !== "") seed = parseUint("FUZZ_SEED", rawSeed);
  const cases = env.FUZZ_CASES ? parseUint("FUZZ_CASES", env.FUZZ_CASES) : undefined;
  const only = env.FUZZ_CASE ? parseUint("FUZZ_CASE", env.FUZZ_CASE) : undefined;
  return { seed, cases, only, shrink: env.FUZZ_SHRINK !== "0" };
}

function parseUint(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new Error(`${name}=${v}: expected an integer from 0 to 4294967295`);
  return n;
}

/** Cases a target runs under these settings. */
export function caseCount(t: { defaultCases: number }, s: FuzzSettings): number {
  return s.only !== undefined ? 1 : (s.cases ?? t.defaultCases);
}

/** A generous node:test timeout for `cases` cases (long campaigns run for many minutes). */
export function fuzzTimeoutMs(cases: number): number {
  return 60_000 + cases * 20;
}

export interface FuzzOutcome {
  cases: number;
  /** One shrunk report per distinct failure kind, and how often each kind was seen. */
  failures: { kind: string; count: number; report: string }[];
}

/** The most distinct failure kinds one run collects before it stops. */
const MAX_KINDS = 8;

/**
 * Runs a target's cases. Every kind of failure is shrunk and reported once; the run goes on after a failure
 * (a long campaign finds more than one thing), up to `MAX_KINDS` kinds.
 */
export async function fuzz<C>(t: FuzzTarget<C>, s: FuzzSettings = fuzzSettings()): Promise<FuzzOutcome> {
  const salt = hashName(t.name);
  const first = s.only ?? 0;
  const n = caseCount(t, s);
  const kinds = new Map<string, { count: number; report: string }>();
  const progressEvery = n >= 100_000 ? Math.floor(n / 20) : 0;
  const started = Date.now();
  let ran = 0;
  for (let i = first; i < first + n; i++) {
    // Let timers and the writers' next-tick flushes run now and then, as they would between socket reads.
    if (ran % 256 === 255) await new Promise((r) => setImmediate(r));
    ran++;
    let c: C;
    try {
      c = t.generate(new Rng(s.seed, salt, i));
    } catch (e: unknown) {
      throw new Error(`fuzz target ${t.name}: the generator failed on FUZZ_SEED=${s.seed} case ${i}`, {
        cause: e,
      });
    }
    const f = runGuarded(t, c);
    if (f === null) {
      if (progressEvery > 0 && ran % progressEvery === 0)
        console.log(`fuzz ${t.name}: ${ran}/${n} cases, ${Math.round((Date.now() - started) / 1000)} s`);
      continue;
    }
    const seen = kinds.get(f.kind);
    if (seen !== undefined) {
      seen.count++;
      continue;
    }
    kinds.set(f.kind, { count: 1, report: report(t, s, i, c, f) });
    if (kinds.size >= MAX_KINDS) break;
  }
  return {
    cases: ran,
    failures: [...kinds].map(([kind, v]) => ({ kind, count: v.count, report: v.report })),
  };
}

/** Runs a case; an exception from the target itself is a failure too. */
export function runGuarded<C>(t: FuzzTarget<C>, c: C): Failure | null {
  try {
    return t.run(c);
  } catch (e: unknown) {
    return { kind: "threw", detail: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
}

function report<C>(t: FuzzTarget<C>, s: FuzzSettings, caseNo: number, c: C, f: Failure): string {
  const original = t.size(c);
  const shrunk = s.shrink ? shrink(t, c, f.kind) : { c, f, runs: 0 };
  return [
    `fuzz target ${t.name}, FUZZ_SEED=${s.seed} case ${caseNo}: ${shrunk.f.kind}: ${shrunk.f.detail}`,
    `replay: FUZZ_SEED=${s.seed} FUZZ_CASE=${caseNo} node scripts/run-tests.mjs test/fuzz/`,
    `minimal input (${t.size(shrunk.c)} of ${original} bytes after ${shrunk.runs} shrink runs):`,
    t.describe(shrunk.c),
  ].join("\n");
}

/** Shrinker budget: runs and wall time. */
const SHRINK_RUNS = 4000;
const SHRINK_MS = 20_000;

/**
 * Greedy shrinking: take the first smaller candidate that still fails the same way, and start over from it,
 * until no candidate fails or the budget is spent.
 */
export function shrink<C>(t: FuzzTarget<C>, c: C, kind: string): { c: C; f: Failure; runs: number } {
  let best = c;
  let bestF = runGuarded(t, c) ?? { kind, detail: "(did not fail again)" };
  let runs = 0;
  const deadline = Date.now() + SHRINK_MS;
  if (t.shrinkCandidates === undefined) return { c, f: bestF, runs };
  let improved = true;
  while (improved && runs < SHRINK_RUNS && Date.now() < deadline) {
    improved = false;
    const weight = t.weight(best);
    for (const cand of t.shrinkCandidates(best)) {
      if (runs >= SHRINK_RUNS || Date.now() >= deadline) break;
      if (t.weight(cand) >= weight) continue;
      runs++;
      const f = runGuarded(t, cand);
      if (f !== null && f.kind === kind) {
        best = cand;
        bestF = f;
        improved = true;
        break;
      }
    }
  }
  return { c: best, f: bestF, runs };
}

/** Byte-range removals of `b`, large chunks first: the candidates of a delta-debugging pass. */
export function* chunkRemovals(length: number): Iterable<[number, number]> {
  for (let chunk = 1 << Math.floor(Math.log2(Math.max(1, length))); chunk >= 1; chunk >>= 1) {
    for (let start = length - chunk; start >= 0; start -= chunk) yield [start, start + chunk];
  }
}
