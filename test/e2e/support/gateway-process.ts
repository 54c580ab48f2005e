/**
 * Runs the real gateway as a child process (`node --import tsx src/cli/main.ts serve ...`) and follows its
 * JSON log lines, so tests can wait for events (ready, configuration applied, access lines) instead of
 * sleeping. The admin server always binds 127.0.0.1:0; listener ports are read from the log.
 * @internal test-only
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CLI = join(ROOT, "src", "cli", "main.ts");

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

interface Waiter {
  pred: (l: LogLine) => boolean;
  resolve: (l: LogLine) => void;
}

/** A gateway child process and its log. */
export class GatewayProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  /** Lines on stdout that were not JSON (there should be none). */
  readonly rawLines: string[] = [];
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: Waiter[] = [];

  /**
   * `args` are `serve`'s. Unless they choose `--workers`, GRPCROUTE_E2E_WORKERS does, so the whole suite can
   * run against any worker count (the default is serve's own: one worker per core).
   */
  constructor(args: string[], env: NodeJS.ProcessEnv = {}, command: "serve" | "controller" = "serve") {
    const workers = process.env.GRPCROUTE_E2E_WORKERS;
    if (workers !== undefined && workers !== "" && !args.includes("--workers"))
      args = [...args, "--workers", workers];
    this.child = spawn(process.execPath, ["--import", "tsx", CLI, command, ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    this.exited = once(this.child, "exit").then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
    }));
    this.child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      this.stderr += s;
    });
    createInterface({ input: this.child.stdout! }).on("line", (raw) => {
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        this.rawLines.push(raw);
        return;
      }
      this.lines.push(line);
      // GRPCROUTE_E2E_LOG=1 shows the gateway's log while a test runs.
      if (process.env.GRPCROUTE_E2E_LOG === "1") process.stderr.write(`[gateway ${this.child.pid}] ${raw}\n`);
      const waiting = this.#waiters;
      this.#waiters = [];
      for (const w of waiting) {
        if (w.pred(line)) w.resolve(line);
        else this.#waiters.push(w);
      }
    });
  }

  /**
   * Resolves with the first line (already logged, or still to come) that matches; rejects if the process
   * exits first or nothing matches within `timeoutMs` (a guard against hanging, not a wait).
   */
  waitFor(
    pred: (l: LogLine) => boolean,
    what = "a log line",
    timeoutMs = 20_000,
    from = 0,
  ): Promise<LogLine> {
    const hit = this.lines.slice(from).find(pred);
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`timed out waiting for ${what}; log:\n${this.dump()}`));
      }, timeoutMs);
      const done = (l: LogLine): void => {
        clearTimeout(timer);
        resolve(l);
      };
      this.#waiters.push({ pred, resolve: done });
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(
          new Error(`gateway exited (${code ?? signal}) while waiting for ${what}; log:\n${this.dump()}`),
        );
      });
    });
  }

  /** Waits for a line with this `msg`, logged after the first `from` lines. */
  waitForMsg(msg: string, from = 0, timeoutMs?: number): Promise<LogLine> {
    return this.waitFor((l) => l.msg === msg, `"${msg}"`, timeoutMs, from);
  }

  /** Waits until the gateway is ready; returns the ready line. */
  ready(): Promise<LogLine> {
    return this.waitForMsg("gateway ready");
  }

  /** The admin server's `host:port`. */
  async admin(): Promise<string> {
    const l = await this.waitForMsg("admin server listening");
    return String(l.admin);
  }

  /** Local port serving a Gateway listener port, from the last applied configuration. */
  localPort(listenerPort: number): number {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const l = this.lines[i];
      if (l?.msg !== "configuration applied" && l?.msg !== "gateway ready") continue;
      const ls = (l.listeners ?? []) as { port: number; localPort?: number }[];
      const hit = ls.find((x) => x.port === listenerPort);
      if (hit?.localPort !== undefined) return hit.localPort;
    }
    throw new Error(`no local port for listener port ${listenerPort}; log:\n${this.dump()}`);
  }

  /** GET on the admin server. */
  async get(path: string): Promise<{ status: number; body: string }> {
    const res = await fetch(`http://${await this.admin()}${path}`);
    return { status: res.status, body: await res.text() };
  }

  /** Sends a signal. */
  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** Stops the process (SIGTERM, then SIGKILL if it is still there after `graceMs`). */
  async stop(graceMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
      const r = await this.exited;
      clearTimeout(timer);
      return r;
    }
    return this.exited;
  }

  /** The log so far, for failure messages. */
  dump(): string {
    return [...this.lines.map((l) => JSON.stringify(l)), ...this.rawLines, this.stderr].join("\n");
  }
}

/** A temporary directory removed by `cleanup()`. */
export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), "grpcroute-e2e-"));
  /**
   * Writes a file in the directory and returns its path. The content appears at once (written aside, then
   * renamed over), as editors and config-map updates do, so a watcher never reads half a file.
   */
  write(name: string, text: string): string {
    const p = join(this.path, name);
    const aside = join(this.path, `.${name}.tmp`);
    writeFileSync(aside, text);
    renameSync(aside, p);
    return p;
  }
  /** Removes a file written with {@link write}. */
  remove(name: string): void {
    rmSync(join(this.path, name));
  }
  cleanup(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}
