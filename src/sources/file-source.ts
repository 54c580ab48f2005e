/**
 * Manifest files and folders as a source of snapshots, optionally watched.
 *
 * Watching has to survive how files really change: editors and `mv` replace a file by renaming another
 * over it, folders are created after start, the kubelet swaps a symlink over a mounted ConfigMap's files,
 * and a save is a burst of several events. So before each load the source works out the folders to watch
 * ({@link scanPaths}: every folder of a named tree, the folder of each named file, the folder of each
 * symlink on the way) and watches each one on its own, re-arming any that changed; watches armed before the
 * read see every change after it. Events are coalesced with a debounce timer. As a safety net for events a
 * file system does not deliver (network and FUSE mounts, a full watch table), the same scan is repeated
 * every `pollIntervalMs` and its fingerprint compared with the last one read.
 *
 * Each load is merged with the objects accepted before ({@link LastAccepted}): an object whose edit is
 * rejected keeps its previous version serving, as an API server would keep it.
 */
import { type FSWatcher, watch } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { type LoadResult, loadPaths } from "../api/parse.js";
import { errorCode, GatewayError, GW_ERR_WATCH } from "../util/errors.js";
import { type Scan, scanPaths, type WatchDir } from "./file-scan.js";
import { LastAccepted } from "./last-accepted.js";
import type { ResourceSource, Snapshot } from "./source.js";

/** How often watched files are also polled for changes no event reported, in ms. */
export const DEFAULT_POLL_INTERVAL_MS = 5000;

export interface FileSourceOptions {
  /** Emit again when anything under the paths changes. Default false (only {@link FileSource.reload}). */
  watch?: boolean;
  /** Quiet time after the last change before reloading, in ms. Default 200. */
  debounceMs?: number;
  /**
   * With `watch`: how often the files are also checked for changes that no event reported, in ms; 0 turns
   * the poll off. Default {@link DEFAULT_POLL_INTERVAL_MS}.
   */
  pollIntervalMs?: number;
  /** With `watch`: follow file-system events. Default true; false leaves only the poll. */
  events?: boolean;
  /** Told about watch failures; the source keeps running and retries on the next load. */
  onError?: (err: GatewayError) => void;
}

/** Files and folders of manifests; see the module comment for how changes are followed. */
export class FileSource implements ResourceSource {
  readonly name = "file";
  readonly #paths: string[];
  readonly #watch: boolean;
  readonly #events: boolean;
  readonly #debounceMs: number;
  readonly #pollMs: number;
  readonly #onError: ((err: GatewayError) => void) | undefined;

  #signal: AbortSignal | undefined;
  #emit: ((s: Snapshot) => void) | undefined;
  #version = 0;
  #last: LoadResult | undefined;
  /** The last accepted version of every object: an edit that is rejected keeps it serving. */
  readonly #accepted = new LastAccepted();
  /** The fingerprint of the files as they were when last read. */
  #print: string | undefined;
  /**
   * A pass is wanted (set by events, the poll and reload()). `#load`: read the files even when the
   * fingerprint did not change (an event came); `#force`: emit even when nothing changed (reload()).
   */
  #pending = false;
  #load = false;
  #force = false;
  #loading = false;
  #timer: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  readonly #watchers = new Map<string, { watcher: FSWatcher; target: WatchDir }>();
  /** Folders whose watch failed and was reported, so a failure is told once, not at every poll. */
  readonly #reported = new Set<string>();
  #done: (() => void) | undefined;

  constructor(paths: string[], opts: FileSourceOptions = {}) {
    this.#paths = [...paths];
    this.#watch = opts.watch ?? false;
    this.#events = opts.events ?? true;
    this.#debounceMs = opts.debounceMs ?? 200;
    this.#pollMs = opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.#onError = opts.onError;
  }

  /**
   * Loads now and emits; with `watch`, emits again (debounced) on every change under the paths. Also
   * emits on {@link reload}. Resolves when `signal` aborts, after any load in progress has settled, and
   * emits nothing after that.
   */
  run(signal: AbortSignal, emit: (s: Snapshot) => void): Promise<void> {
    if (this.#signal !== undefined)
      return Promise.reject(new Error("FileSource.run may be called only once"));
    this.#signal = signal;
    this.#emit = emit;
    return new Promise<void>((resolveRun) => {
      this.#done = resolveRun;
      if (signal.aborted) {
        this.#stop();
        return;
      }
      signal.addEventListener("abort", () => this.#stop(), { once: true });
      if (this.#watch && this.#pollMs > 0) {
        this.#poll = setInterval(() => this.#request(false, false), this.#pollMs);
        this.#poll.unref();
      }
      this.#request(true, true);
    });
  }

  /** Reads the paths again now and emits, even when nothing changed (SIGHUP). Ignored before run(). */
  reload(): void {
    if (this.#signal === undefined || this.#signal.aborted) return;
    this.#request(true, true);
  }

  #request(load: boolean, force: boolean): void {
    this.#pending = true;
    if (load) this.#load = true;
    if (force) this.#force = true;
    if (!this.#loading) void this.#drain();
  }

  /** Scans and loads until no request is pending; passes never overlap, so snapshots come out in order. */
  async #drain(): Promise<void> {
    this.#loading = true;
    try {
      while (this.#pending && this.#signal?.aborted === false) {
        this.#pending = false;
        const force = this.#force;
        const load = this.#load || force;
        this.#force = false;
        this.#load = false;
        if (this.#watch) {
          // Watches are armed before the files are read: a change after the read is an event.
          const scan = await scanPaths(this.#paths);
          if (this.#signal.aborted) break;
          if (this.#events) this.#reconcileWatchers(scan);
          const unchanged = scan.fingerprint === this.#print;
          this.#print = scan.fingerprint;
          if (unchanged && !load) continue;
        }
        const result = await loadPaths(this.#paths);
        if (this.#signal.aborted) break;
        // A burst of events often ends with the files as they were: no need to reapply the same input.
        if (!force && this.#last !== undefined && isDeepStrictEqual(result, this.#last)) continue;
        this.#last = result;
        this.#version++;
        // Input that cannot be read is not applied, so it does not count as deleting what it holds.
        const merged = this.#accepted.merge(result, result.fatal.length === 0);
        const snapshot: Snapshot = {
          version: this.#version,
          resources: merged.resources,
          issues: merged.issues,
          fatal: result.fatal,
          kept: merged.kept,
        };
        this.#emit?.(snapshot);
      }
    } finally {
      this.#loading = false;
      if (this.#signal?.aborted) this.#finish();
    }
  }

  #onEvent(target: WatchDir, filename: string | Buffer | null): void {
    if (this.#signal?.aborted) return;
    // Without a file name (some platforms) the event could be about anything in the folder.
    if (target.names !== undefined && filename !== null && !target.names.has(filename.toString())) return;
    this.#changed();
  }

  /** Something changed: load once the burst is over. */
  #changed(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#request(true, false);
    }, this.#debounceMs);
    this.#timer.unref();
  }

  /** Opens and closes watchers to match the scan: a folder replaced under the same path is watched anew. */
  #reconcileWatchers(scan: Scan): void {
    for (const [dir, w] of this.#watchers) {
      if (scan.dirs.get(dir)?.id !== w.target.id) {
        w.watcher.close();
        this.#watchers.delete(dir);
      }
    }
    for (const [dir, target] of scan.dirs) {
      const existing = this.#watchers.get(dir);
      if (existing !== undefined) {
        existing.target.names = target.names;
        continue;
      }
      try {
        const watcher = watch(dir, (_event, filename) => this.#onEvent(target, filename));
        watcher.on("error", (err: unknown) => {
          // The folder went away, or the system refused: drop the watcher and look again.
          watcher.close();
          if (this.#watchers.get(dir)?.watcher === watcher) this.#watchers.delete(dir);
          if (errorCode(err) !== "ENOENT") this.#report(dir, err);
          this.#changed();
        });
        this.#watchers.set(dir, { watcher, target });
        this.#reported.delete(dir);
      } catch (err: unknown) {
        // A folder removed since the scan is a change; anything else (the watch limit) is told once.
        if (errorCode(err) === "ENOENT" || errorCode(err) === "ENOTDIR") this.#changed();
        else this.#report(dir, err);
      }
    }
  }

  #report(dir: string, err: unknown): void {
    if (this.#reported.has(dir)) return;
    this.#reported.add(dir);
    const fallback =
      this.#pollMs > 0
        ? `changes there are still found by polling every ${this.#pollMs} ms`
        : "changes there are not seen until SIGHUP";
    this.#onError?.(
      new GatewayError(GW_ERR_WATCH, `cannot watch ${dir} for changes; ${fallback}`, { cause: err }),
    );
  }

  #stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.#poll = undefined;
    for (const w of this.#watchers.values()) w.watcher.close();
    this.#watchers.clear();
    if (!this.#loading) this.#finish();
  }

  #finish(): void {
    // Watchers may have been opened by a load that was in progress when the signal aborted.
    for (const w of this.#watchers.values()) w.watcher.close();
    this.#watchers.clear();
    const done = this.#done;
    this.#done = undefined;
    done?.();
  }
}
