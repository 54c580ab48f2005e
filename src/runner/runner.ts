/**
 * The runner wires the pipeline in one direction (architecture.md 2.1):
 *
 *   source ──Snapshot──> translate ──table──> dataplane.apply()   (atomic swap)
 *                                  └─status─> admin `/status`
 *
 * Each snapshot is translated and applied in turn; when snapshots arrive faster than they are applied only
 * the newest is kept. A snapshot with fatal problems, a translation bug or a failed apply (a port that cannot
 * be bound) leaves the last good configuration serving, and the log says why. An object whose new version the
 * source rejected comes with its previous version (`kept`): the configuration is applied, and the log,
 * `/status` and the reload metric (`result="kept_previous"`) say which objects are held back. Nothing flows back from the
 * data plane into translation.
 */

import type { GatewayMetrics } from "../admin/metrics.js";
import type { AdminState, Readiness } from "../admin/server.js";
import type { Issue, ResourceSet } from "../api/types.js";
import type { DataplaneApi } from "../dataplane/types.js";
import type { RoutingTable } from "../ir/routing-table.js";
import type { Logger } from "../log/logger.js";
import type { KeptObject } from "../sources/last-accepted.js";
import type { StatusReport, TranslateOptions, TranslateResult } from "../translate/types.js";
import {
  formatIssue,
  issueFields,
  KEPT_MESSAGE,
  keptFields,
  type StatusIssue,
  statusIssues,
} from "./issues.js";

/** What the runner reads from a source snapshot. */
export interface RunnerSnapshot {
  /** Increases with every snapshot of a source. */
  readonly version: number;
  readonly resources: ResourceSet;
  /** Objects rejected or skipped; the valid objects are still in `resources`. */
  readonly issues: readonly Issue[];
  /** Objects whose new version was rejected; their previous version is in `resources` and keeps serving. */
  readonly kept?: readonly KeptObject[];
  /** Problems that make the whole snapshot unusable (an unreadable file, a YAML syntax error). */
  readonly fatal: readonly Issue[];
}

/** A source of snapshots (the file source, in `serve`). */
export interface RunnerSource {
  /** Emits snapshots until `signal` aborts. */
  run(signal: AbortSignal, emit: (snapshot: RunnerSnapshot) => void): Promise<void>;
  /** Re-reads the input now (SIGHUP). */
  reload?(): void;
  /** Why the source has not emitted its first snapshot yet (`/readyz`), e.g. an API server not reached. */
  notReady?(): string[];
}

/** Where status goes besides `/status` (the API server, in controller mode). */
export interface StatusSink {
  /** A configuration was applied; its status is to be written. Must not throw. */
  update(resources: ResourceSet, status: StatusReport): void;
}

/** What the runner needs from the data plane: the relay, in-process or in worker processes. */
export type RunnerDataplane = DataplaneApi;

export interface RunnerOptions {
  source: RunnerSource;
  translate: (resources: ResourceSet, opts: TranslateOptions) => TranslateResult;
  /** Renders the status document as `validate -o json` prints it, with the input's issues. */
  renderStatus: (resources: ResourceSet, status: StatusReport, issues: readonly StatusIssue[]) => string;
  dataplane: RunnerDataplane;
  metrics: GatewayMetrics;
  log: Logger;
  /** Extra translate options (the version is the snapshot's). */
  translateOptions?: Omit<TranslateOptions, "version">;
  /** Told the status of every applied configuration. */
  statusSink?: StatusSink;
}

/** Outcome of processing one snapshot. */
export type ApplyOutcome =
  | { ok: true; version: number }
  | { ok: false; version: number; stage: "read" | "translate" | "apply"; reason: string };

/** A listener as logged and exposed: its declared port and the local port bound for it. */
export interface BoundListener {
  /** IR listener name. */
  name: string;
  protocol: string;
  hostname?: string;
  /** Port in the Gateway. */
  port: number;
  /** Port bound on this host (differs with `--port-map`). */
  localPort?: number;
}

/** Runs the pipeline; exposes what the admin server reads. */
export class Runner implements AdminState {
  readonly #opts: RunnerOptions;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  #pending: RunnerSnapshot | undefined;
  #busy = false;
  #idle: Promise<void> = Promise.resolve();
  #table: RoutingTable | undefined;
  #statusInput: { resources: ResourceSet; status: StatusReport; issues: readonly StatusIssue[] } | undefined;
  #statusText: string | undefined;
  #stopping = false;
  #sourceDone: Promise<void> = Promise.resolve();
  #firstOutcome: Promise<ApplyOutcome>;
  #resolveFirst: ((o: ApplyOutcome) => void) | undefined;
  readonly #outcomeListeners = new Set<(o: ApplyOutcome) => void>();

  constructor(opts: RunnerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#firstOutcome = new Promise((resolve) => {
      this.#resolveFirst = resolve;
    });
  }

  get metrics(): GatewayMetrics {
    return this.#opts.metrics;
  }

  /** Starts reading the source. Resolves when the first snapshot has been processed, with its outcome. */
  start(): Promise<ApplyOutcome> {
    this.#sourceDone = this.#opts.source.run(this.#abort.signal, this.#emit).catch((err: unknown) => {
      if (this.#abort.signal.aborted) return;
      this.#log.error(
        { err: errorText(err) },
        "configuration source failed; serving the last good configuration",
      );
    });
    return this.#firstOutcome;
  }

  /** Re-reads the input (SIGHUP). */
  reload(): void {
    if (this.#stopping) return;
    this.#log.info("reload requested");
    this.#opts.source.reload?.();
  }

  /** Calls `fn` after each snapshot is processed (tests and the CLI use it to follow reloads). */
  onOutcome(fn: (o: ApplyOutcome) => void): () => void {
    this.#outcomeListeners.add(fn);
    return () => this.#outcomeListeners.delete(fn);
  }

  /**
   * Shuts down: stops reading input, marks the gateway not ready, lets the data plane drain calls in flight
   * for up to `graceMs`, then closes it.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#abort.abort();
    this.#pending = undefined;
    await this.#sourceDone;
    // An apply in progress finishes first, so the data plane is not closed in the middle of a swap.
    await this.#idle;
    await this.#opts.dataplane.close(graceMs);
  }

  // ----- AdminState

  readiness(): Readiness {
    const reasons: string[] = [];
    if (this.#stopping) reasons.push("shutting down");
    const table = this.#table;
    if (table === undefined) {
      reasons.push("the first configuration is not applied yet");
      reasons.push(...(this.#opts.source.notReady?.() ?? []));
    } else {
      const bound = this.#opts.dataplane.boundPorts();
      for (const port of listenerPorts(table)) {
        if (!bound.has(port)) reasons.push(`listener port ${port} is not bound`);
      }
    }
    return { ready: reasons.length === 0, reasons };
  }

  table(): RoutingTable | undefined {
    return this.#table;
  }

  status(): string | undefined {
    if (this.#statusText === undefined && this.#statusInput !== undefined) {
      // Rendered on first request, not on every reload: most reloads are never looked at.
      const { resources, status, issues } = this.#statusInput;
      this.#statusText = this.#opts.renderStatus(resources, status, issues);
    }
    return this.#statusText;
  }

  /** The listeners of the configuration being served, with their bound local ports. */
  listeners(): BoundListener[] {
    const table = this.#table;
    if (table === undefined) return [];
    return describeListeners(table, this.#opts.dataplane.boundPorts());
  }

  // ----- pipeline

  readonly #emit = (snapshot: RunnerSnapshot): void => {
    if (this.#stopping) return;
    this.#pending = snapshot;
    if (!this.#busy) this.#idle = this.#drain();
  };

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      for (let s = this.#pending; s !== undefined && !this.#stopping; s = this.#pending) {
        this.#pending = undefined;
        const outcome = await this.#process(s);
        this.#resolveFirst?.(outcome);
        this.#resolveFirst = undefined;
        for (const fn of this.#outcomeListeners) fn(outcome);
      }
    } finally {
      this.#busy = false;
    }
  }

  async #process(s: RunnerSnapshot): Promise<ApplyOutcome> {
    const log = this.#log;
    const version = s.version;
    for (const issue of s.issues) {
      if (issue.severity === "error") log.warn({ version, ...issueFields(issue) }, "object rejected");
      else log.info({ version, ...issueFields(issue) }, "object skipped");
    }
    const kept = s.kept ?? [];
    for (const k of kept) log.warn({ version, ...keptFields(k) }, KEPT_MESSAGE);
    const fatal = s.fatal;
    if (fatal.length > 0) {
      const reason = fatal.map(formatIssue).join("; ");
      return this.#fail(version, "read", reason, {
        problems: fatal.map(issueFields),
      });
    }

    let result: TranslateResult;
    try {
      result = this.#opts.translate(s.resources, { ...this.#opts.translateOptions, version });
    } catch (err: unknown) {
      // translate() reports bad input as status; an exception here is a bug, and the old table is safer.
      return this.#fail(version, "translate", `translation failed: ${errorText(err)}`, {});
    }

    const previous = this.#table;
    try {
      await this.#opts.dataplane.apply(result.table);
    } catch (err: unknown) {
      return this.#fail(version, "apply", errorText(err), {});
    }
    this.#table = result.table;
    this.#statusInput = {
      resources: s.resources,
      status: result.status,
      issues: statusIssues(s.issues, kept),
    };
    this.#statusText = undefined;
    this.#opts.metrics.configApplied(version, kept.length);
    this.#opts.statusSink?.update(s.resources, result.status);

    const listeners = this.listeners();
    const fields: Record<string, unknown> = {
      version,
      listeners,
      routes: result.table.listeners.reduce((n, l) => n + l.routes.length, 0),
      clusters: Object.keys(result.table.clusters).length,
    };
    if (kept.length > 0) fields.keptPrevious = kept.map((k) => keptFields(k).object);
    if (previous !== undefined) {
      const before = new Set(listenerPorts(previous));
      const after = new Set(listenerPorts(result.table));
      const added = [...after].filter((p) => !before.has(p));
      const removed = [...before].filter((p) => !after.has(p));
      if (added.length > 0) fields.portsAdded = added;
      if (removed.length > 0) fields.portsRemoved = removed;
    }
    log.info(fields, "configuration applied");
    if (result.table.listeners.length === 0) {
      log.warn(
        { version },
        "no listener to serve: no Gateway of ours with a programmed listener in the input",
      );
    }
    return { ok: true, version };
  }

  #fail(
    version: number,
    stage: "read" | "translate" | "apply",
    reason: string,
    extra: Record<string, unknown>,
  ): ApplyOutcome {
    this.#opts.metrics.configFailed();
    const serving = this.#table?.version;
    const msg =
      serving === undefined
        ? "configuration rejected; nothing is served yet"
        : "configuration rejected; the last good configuration keeps serving";
    this.#log.error({ version, stage, reason, ...extra, ...(serving !== undefined ? { serving } : {}) }, msg);
    return { ok: false, version, stage, reason };
  }
}

/** Distinct listener ports of a table, ascending. */
export function listenerPorts(table: RoutingTable): number[] {
  return [...new Set(table.listeners.map((l) => l.port))].sort((a, b) => a - b);
}

/** Listeners of a table with the local ports bound for them. */
export function describeListeners(table: RoutingTable, bound: ReadonlyMap<number, number>): BoundListener[] {
  return table.listeners.map((l) => {
    const d: BoundListener = { name: l.name, protocol: l.protocol, port: l.port };
    if (l.hostname !== undefined) d.hostname = l.hostname;
    const local = bound.get(l.port);
    if (local !== undefined) d.localPort = local;
    return d;
  });
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
