/**
 * `serve --workers` when the flag is not given: one data-plane process per usable core, less one, and at
 * least one.
 *
 * Usable cores are those this process may run on (`availableParallelism()`: the affinity mask, a cpuset)
 * and no more than its CPU limit, which Node does not read: a container limited to 2 CPUs on a 64-core node
 * still sees 64 cores, and 64 workers would share 2 CPUs' worth of time. The limit is the cgroup's
 * (`cpu.max` in cgroup v2, `cpu.cfs_quota_us` / `cpu.cfs_period_us` in v1), rounded up.
 *
 * Why one fewer than the cores: a proxy's calls cost CPU besides its workers' own (the kernel's TCP work on
 * every read and write, the gateway process, each worker's V8 helper threads: concurrent marking and
 * compiling), and a worker on every core competes with all of it, so each call costs more. On the 2 shared
 * cores of the benchmark machine a second worker raised the gateway's CPU per call 1.4 to 2 times
 * (bench/history/workers-tls-conns-2026-12.md; bench/RESULTS.md, `grpcroute-workers-2`), so 2 cores get one
 * worker. On a host whose cores are the gateway's own, the spare
 * core is where that other work runs, and each worker keeps a core to itself.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/** Most workers `--workers` accepts (and the default can be). */
export const MAX_WORKERS = 256;

/** Reads a file's text, or undefined when it cannot be read. */
export type ReadText = (path: string) => string | undefined;

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};

/**
 * The CPU limit of this process's cgroup in CPUs (2.5 for 250 ms per 100 ms), or undefined when there is
 * none or it cannot be read. Looks at the cgroup v2 unified hierarchy first, then v1's cpu controller.
 */
export function cgroupCpuLimit(read: ReadText = readText): number | undefined {
  const v2 = read("/sys/fs/cgroup/cpu.max")?.trim().split(/\s+/);
  if (v2 !== undefined && v2.length >= 1) {
    if (v2[0] === "max") return undefined;
    const quota = Number(v2[0]);
    const period = Number(v2[1] ?? 100_000);
    if (quota > 0 && period > 0) return quota / period;
  }
  const quota = Number(read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")?.trim());
  const period = Number(read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")?.trim());
  if (quota > 0 && period > 0) return quota / period;
  return undefined;
}

/** The cores this process can use: its affinity, capped by its cgroup's CPU limit (rounded up). */
export function usableCores(cores = availableParallelism(), limit = cgroupCpuLimit()): number {
  const n = limit === undefined ? cores : Math.min(cores, Math.ceil(limit));
  return Math.max(1, n);
}

/** `--workers` when not given: one per usable core, less one, at least 1 (see the file's comment). */
export function defaultWorkers(cores = usableCores()): number {
  return Math.max(1, Math.min(cores - 1, MAX_WORKERS));
}
