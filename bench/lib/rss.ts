/**
 * Resident memory of a process tree from /proc, sampled while an attack runs: the peak is the figure the
 * hardening issue judges (under 300 MB).
 */
import { readFileSync } from "node:fs";
import { processTree } from "./procs.js";

/** The resident set size in bytes from the text of `/proc/<pid>/status` (its `VmRSS:` line, in kB). */
export function parseVmRss(status: string): number | undefined {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return m === null ? undefined : Number(m[1]) * 1024;
}

/** RSS of one process in bytes; undefined when it is gone (or a zombie, which has no VmRSS line). */
export function rssOf(pid: number): number | undefined {
  try {
    return parseVmRss(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return undefined;
  }
}

/** The sum of the RSS of `pids` (those still alive), in bytes. */
export function sumRss(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += rssOf(pid) ?? 0;
  return sum;
}

/** What a {@link RssSampler} saw. */
export interface RssSamples {
  /** Largest sum over the tree, in bytes (0 when no sample was taken). */
  peakBytes: number;
  /** The first sample, in bytes. */
  firstBytes: number;
  samples: number;
}

/**
 * Samples the RSS of `root`'s process tree every `everyMs` until stopped. The tree is listed again every
 * tenth sample (listing walks all of /proc), so workers forked meanwhile are counted within a second.
 */
export class RssSampler {
  private tree: number[];
  private readonly timer: NodeJS.Timeout;
  private n = 0;
  private readonly seen: RssSamples = { peakBytes: 0, firstBytes: 0, samples: 0 };

  constructor(
    private readonly root: number,
    everyMs = 100,
  ) {
    this.tree = processTree(root);
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    if (++this.n % 10 === 0) this.tree = processTree(this.root);
    const bytes = sumRss(this.tree);
    if (this.seen.samples === 0) this.seen.firstBytes = bytes;
    this.seen.samples++;
    if (bytes > this.seen.peakBytes) this.seen.peakBytes = bytes;
  }

  /** Takes a last sample, stops, and returns what it saw. */
  stop(): RssSamples {
    clearInterval(this.timer);
    this.sample();
    return { ...this.seen };
  }
}
