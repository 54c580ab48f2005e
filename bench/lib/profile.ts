/**
 * Reads the V8 CPU profiles the gateway writes under `--profile` (node `--cpu-prof`) and lists where its time
 * went by function (self time), so a run says what to remove next. The `.cpuprofile` files themselves open
 * in Chrome DevTools or speedscope as flame graphs.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
  }[];
  samples?: number[];
  timeDeltas?: number[];
}

/** Self time of one function, summed over every profile of a folder. */
export interface HotFunction {
  name: string;
  /** `file:line` relative to the repository (or the node internal URL). */
  where: string;
  /** Share of the busy (non-idle) time, 0..1. */
  share: number;
}

/** The `top` functions by self time over every `.cpuprofile` in `dir`. */
export function hotFunctions(dir: string, root: string, top = 15): HotFunction[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  } catch {
    return [];
  }
  const byKey = new Map<string, { name: string; where: string; us: number }>();
  let total = 0;
  for (const f of files) {
    let p: CpuProfile;
    try {
      p = JSON.parse(readFileSync(join(dir, f), "utf8")) as CpuProfile;
    } catch {
      continue;
    }
    const nodeById = new Map(p.nodes.map((n) => [n.id, n]));
    const samples = p.samples ?? [];
    const deltas = p.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) {
      const n = nodeById.get(samples[i] as number);
      if (n === undefined) continue;
      // Idle time is not cost: shares are of the time the gateway was busy.
      if (n.callFrame.functionName === "(idle)") continue;
      const us = Math.max(0, deltas[i] ?? 0);
      total += us;
      const url = n.callFrame.url.replace(/^file:\/\//, "");
      // The compiled gateway lives in bench/out/<run>/dist/: name its files dist/... for readability.
      const file = url.startsWith("/")
        ? relative(root, url).replace(/^bench\/out\/[^/]+\/dist\//, "dist/")
        : url;
      const where = url === "" ? "" : `${file}:${n.callFrame.lineNumber + 1}`;
      const name = n.callFrame.functionName || "(anonymous)";
      const key = `${name}@${where}`;
      const e = byKey.get(key);
      if (e) e.us += us;
      else byKey.set(key, { name, where, us });
    }
  }
  if (total === 0) return [];
  return [...byKey.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, share: e.us / total }));
}
