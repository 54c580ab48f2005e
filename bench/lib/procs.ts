/**
 * Child processes of the benchmark: every one is started here, remembered by PID, and stopped by PID on
 * the way out (normal end, failure, Ctrl-C), so a run never leaves a backend or proxy behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { createConnection } from "node:net";

/** A started process and where its output went. */
export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** File holding stdout and stderr, for the error message when it dies early. */
  logFile: string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
}

const live = new Map<number, Proc>();

/** Options of {@link start}. */
export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Where stdout and stderr go (appended). */
  logFile: string;
  /** Which CPUs it may run on under {@link setPlacement}: the backend's, or the rest (the default). */
  role?: "backend" | "other";
}

/** CPU lists (`taskset -c` syntax) of the backends and of every other process. */
export interface Placement {
  backend: string;
  other: string;
}

/** None: the scheduler places every process. */
let placement: Placement | undefined;

/**
 * Pins every process started from now on: backends to `backend`, everything else (proxies, load
 * generators, clients) to `other`. Children inherit the affinity, so a proxy's workers stay on it too.
 */
export function setPlacement(p: Placement | undefined): void {
  placement = p;
}

/**
 * Starts a process with its output sent to a file (never piped through this process, so the benchmark's
 * own CPU does not depend on how much the target logs).
 */
export function start(name: string, cmd: string, args: string[], opts: StartOptions): Proc {
  const fd = openSync(opts.logFile, "a");
  if (placement !== undefined) {
    // taskset execs the command in place, so the PID stays the process's own.
    args = ["-c", opts.role === "backend" ? placement.backend : placement.other, cmd, ...args];
    cmd = "taskset";
  }
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ["ignore", fd, fd],
    // Own process group, so stopping it reaches the workers it forks (nginx, node:cluster).
    detached: true,
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  const pid = child.pid;
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => {
      live.delete(pid);
      resolve(code ?? signal ?? "unknown");
    });
    child.once("error", () => {
      live.delete(pid);
      resolve("spawn error");
    });
  });
  const p: Proc = { name, child, pid, logFile: opts.logFile, exited };
  live.set(pid, p);
  return p;
}

/** The last lines of a process's log, for error messages. */
export function tail(p: Proc, lines = 15): string {
  try {
    // Read only the end: a gateway's access log can be hundreds of MB.
    const fd = openSync(p.logFile, "r");
    const size = fstatSync(fd).size;
    const len = Math.min(size, lines * 2048);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    closeSync(fd);
    return buf.toString("utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no output)";
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // Already gone.
    }
  }
}

/** Stops one process by PID (SIGTERM to its group, SIGKILL after `graceMs`) and waits for it to exit. */
export async function stop(p: Proc, graceMs = 3000): Promise<void> {
  if (!live.has(p.pid)) return;
  signalGroup(p.pid, "SIGTERM");
  const timer = setTimeout(() => signalGroup(p.pid, "SIGKILL"), graceMs);
  await p.exited;
  clearTimeout(timer);
  // Workers of the group (nginx, cluster) may outlive the leader by a moment: make sure they are gone.
  signalGroup(p.pid, "SIGKILL");
}

/** Stops every process still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live.values()].map((p) => stop(p)));
}

/** Synchronous last resort for `process.on("exit")`: SIGKILL every group still known. */
function killAllSync(): void {
  for (const pid of live.keys()) signalGroup(pid, "SIGKILL");
  live.clear();
}

let hooked = false;
/**
 * Installs the handlers that stop every child on Ctrl-C, SIGTERM, an uncaught error, or a normal exit.
 * `onSignal` runs the orderly shutdown; the exit hook catches whatever is left.
 */
export function installCleanup(onSignal: () => Promise<void>): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killAllSync);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping every process it started\n`);
      void onSignal().finally(() => process.exit(130));
    });
  }
}

/** Resolves once `host:port` accepts a TCP connection, or rejects after `timeoutMs` or if `p` exits. */
export async function waitForPort(port: number, p: Proc, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void p.exited.then(() => {
    dead = true;
  });
  for (;;) {
    if (dead) throw new Error(`${p.name} exited before listening on ${port}:\n${tail(p)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: "127.0.0.1", port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`${p.name} did not listen on ${port} in ${timeoutMs} ms:\n${tail(p)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits for a line matching `re` in the process's log file (how backends announce their port), returning
 * the first capture group.
 */
export async function waitForLine(p: Proc, re: RegExp, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void p.exited.then(() => {
    dead = true;
  });
  for (;;) {
    let text = "";
    try {
      text = readFileSync(p.logFile, "utf8");
    } catch {
      // Not written yet.
    }
    const m = re.exec(text);
    if (m) return m[1] ?? m[0];
    if (dead) throw new Error(`${p.name} exited before it was ready:\n${tail(p)}`);
    if (Date.now() > deadline) throw new Error(`${p.name} was not ready in ${timeoutMs} ms:\n${tail(p)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---------------------------------------------------------------------------------------------------------
// CPU time from /proc

let ticksPerSecond = 100;
/** Sets the clock-tick rate used to read /proc (from `getconf CLK_TCK`). */
export function setClockTicks(hz: number): void {
  if (hz > 0) ticksPerSecond = hz;
}

function readStat(pid: number): { ppid: number; ticks: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: parse from the last ')'.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const ppid = Number(rest[1]);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return { ppid, ticks: utime + stime };
}

/** Every live process whose ancestry reaches `root`, `root` included. */
export function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (st) parent.set(pid, st.ppid);
  }
  const out: number[] = [];
  for (const pid of parent.keys()) {
    let cur: number | undefined = pid;
    for (let depth = 0; cur !== undefined && cur > 1 && depth < 32; depth++) {
      if (cur === root) {
        out.push(pid);
        break;
      }
      cur = parent.get(cur);
    }
  }
  return out;
}

/** CPU seconds (user + system) used so far by `root` and every process below it. */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) ticks += readStat(pid)?.ticks ?? 0;
  return ticks / ticksPerSecond;
}

/** What {@link waitForQuiet} saw. */
export interface Quiet {
  /** Whether the processes went quiet before the timeout. */
  settled: boolean;
  /** How long it waited (ms). */
  waitedMs: number;
  /** Their CPU use over the last window, in cores (1 = one core busy the whole window). */
  lastCores: number;
}

/**
 * Waits until the process trees of `roots` together use less than `maxCores` of CPU over a window of
 * `windowMs`, or `timeoutMs` passed. An open-loop run that a target could not keep up with leaves calls queued
 * in the backend after the generator stops; the next target measured must not pay for them.
 */
export async function waitForQuiet(
  roots: number[],
  opts: { maxCores?: number; windowMs?: number; timeoutMs?: number } = {},
): Promise<Quiet> {
  const maxCores = opts.maxCores ?? 0.05;
  const windowMs = opts.windowMs ?? 250;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const cpu = () => roots.reduce((a, pid) => a + treeCpuSeconds(pid), 0);
  const t0 = performance.now();
  let before = cpu();
  let at = t0;
  for (;;) {
    await new Promise((r) => setTimeout(r, windowMs));
    const now = performance.now();
    const used = cpu();
    const cores = (used - before) / ((now - at) / 1000);
    const waitedMs = now - t0;
    if (cores < maxCores) return { settled: true, waitedMs, lastCores: cores };
    if (waitedMs >= timeoutMs) return { settled: false, waitedMs, lastCores: cores };
    before = used;
    at = now;
  }
}

/** A free TCP port on 127.0.0.1 (bound and released: the OS does not hand it out again at once). */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
