/**
 * Runs the open-loop load generator (bench/clients/open-loop.ts) as its own process and reads what it
 * measured: unary calls due at evenly spaced times, latency from each call's due time.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { OpenLoopReport } from "../clients/open-loop.js";
import { start, stop } from "./procs.js";

export type { OpenLoopReport };

/** The steady load one run offers. */
export interface OpenLoad {
  /** Calls per second over all connections. */
  ratePerSec: number;
  connections: number;
  /** Measured seconds, after `warmupSec` seconds of the same load that are not counted. */
  durationSec: number;
  warmupSec: number;
  /** A call may wait this long past its due time for later calls on its connection to share its write. */
  coalesceMs: number;
}

/** Options of {@link runOpenLoop}. */
export interface OpenLoopRun {
  port: number;
  path: string;
  bodyFile: string;
  load: OpenLoad;
  /** The generator's output goes to `<outDir>/<tag>.open-loop.log`. */
  outDir: string;
  tag: string;
  root: string;
}

/**
 * Connections of the open-loop load: two. Every call costs the generator and the target one write and one
 * read on a connection of its own (nothing to batch with), so more connections only add cost on 2 cores;
 * two still give every proxy more than one client connection to serve.
 */
export function openLoopConnections(connections: number): number {
  return Math.min(2, connections);
}

/**
 * Calls due within this many ms of each other on one connection share a write. With every call in a write
 * of its own, the generator, the kernel and the backend each pay a write and a read per call, which on
 * 2 shared cores costs more CPU than the proxy being measured; half a millisecond is 20 times finer than
 * h2load's 10 ms batches, and the wait counts in every call's latency.
 */
export const OPEN_LOOP_COALESCE_MS = 0.5;

/**
 * Share of the proxy's rate sent straight to the backend beside it, at the same time, by a second generator
 * on one connection: enough calls for a p99 (a tenth of the half-load rate gives hundreds a second) while
 * the backend's load grows by only a tenth. Those calls see the same machine moments as the proxied ones.
 */
export const BESIDE_SHARE = 0.1;

/** Reads the generator's report: the last line of its output that is a JSON object. */
export function parseOpenLoopOutput(text: string): OpenLoopReport {
  const line = text
    .trim()
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("{"));
  if (line === undefined) throw new Error(`the open-loop generator printed no figures:\n${text.slice(-800)}`);
  const r = JSON.parse(line) as Partial<OpenLoopReport>;
  for (const k of ["p50Ms", "p99Ms", "achievedPerSec", "succeeded", "failed", "lateP99Ms"] as const) {
    if (typeof r[k] !== "number") throw new Error(`the open-loop generator's figures lack ${k}: ${line}`);
  }
  return r as OpenLoopReport;
}

/** Runs the generator once against 127.0.0.1:`port`. */
export async function runOpenLoop(o: OpenLoopRun): Promise<OpenLoopReport> {
  const logFile = join(o.outDir, `${o.tag}.open-loop.log`);
  writeFileSync(logFile, "");
  const p = start(
    `open-loop ${o.tag}`,
    process.execPath,
    [
      "--import",
      "tsx",
      join(o.root, "bench/clients/open-loop.ts"),
      "--port",
      String(o.port),
      "--path",
      o.path,
      "--body",
      o.bodyFile,
      "--rate",
      String(o.load.ratePerSec),
      "--seconds",
      String(o.load.durationSec),
      "--warmup",
      String(o.load.warmupSec),
      "--connections",
      String(o.load.connections),
      "--coalesce-ms",
      String(o.load.coalesceMs),
    ],
    { logFile, cwd: o.root },
  );
  // The generator stops by itself (it waits at most 5 s for late calls); the guard is for a hung start.
  const guard = setTimeout(() => void stop(p), (o.load.durationSec + o.load.warmupSec + 30) * 1000);
  const code = await p.exited;
  clearTimeout(guard);
  const text = readFileSync(logFile, "utf8");
  if (code !== 0) throw new Error(`the open-loop generator exited with ${code}:\n${text.slice(-800)}`);
  return parseOpenLoopOutput(text);
}
