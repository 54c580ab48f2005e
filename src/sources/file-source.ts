/**
 * Manifest files and folders as a source of snapshots, optionally watched.
 *
 * Watching has to survive how files really change: editors save by writing a new file and renaming it
 * over the old one (the watched inode disappears), folders are created after start, and a save is a burst
 * of several events. So the source watches the folder that holds each named file (filtered on its name)
 * and each named folder recursively (plus its parent, in case the folder itself is replaced), works out
 * those targets again after every load, and coalesces events with a debounce timer.
 */
import { type FSWatcher, watch } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { type LoadResult, loadPaths } from "../api/parse.js";
import { GatewayError, GW_ERR_WATCH } from "../util/errors.js";
import type { ResourceSource, Snapshot } from "./source.js";

export interface FileSourceOptions {
  /** Emit again when anything under the paths changes. Default false (only {@link FileSource.reload}). */
  watch?: boolean;
  /** Quiet time after the last change before reloading, in ms. Default 200. */
  debounceMs?: number;
  /** Told about watch failures; the source keeps running and retries on the next load. */
  onError?: (err: GatewayError) => void;
}

/** One fs.watch handle and the names in its folder that matter (undefined: every name). */
interface WatchTarget {
  dir: string;
  recursive: boolean;
  names: Set<string> | undefined;
}

/** Files and folders of manifests; see the module comment for how changes are followed. */
export class FileSource implements ResourceSource {
  readonly name = "file";
  readonly #paths: string[];
  readonly #watch: boolean;
  readonly #debounceMs: number;
  readonly #onError: ((err: GatewayError) => void) | undefined;

  #signal: AbortSignal | undefined;
  #emit: ((s: Snapshot) => void) | undefined;
  #version = 0;
  #last: LoadResult | undefined;
  /** A load is wanted (set by events and reload()); `#force` makes it emit even when nothing changed. */
  #pending = false;
  #force = false;
  #loading = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #watchers = new Map<string, { watcher: FSWatcher; target: WatchTarget }>();
  #done: (() => void) | undefined;

  constructor(paths: string[], opts: FileSourceOptions = {}) {
    this.#paths = [...paths];
    this.#watch = opts.watch ?? false;
    this.#debounceMs = opts.debounceMs ?? 200;
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
      this.#request(true);
    });
  }

  /** Reads the paths again now and emits, even when nothing changed (SIGHUP). Ignored before run(). */
  reload(): void {
    if (this.#signal === undefined || this.#signal.aborted) return;
    this.#request(true);
  }

  #request(force: boolean): void {
    this.#pending = true;
    if (force) this.#force = true;
    if (!this.#loading) void this.#drain();
  }

  /** Loads until no request is pending; loads never overlap, so snapshots come out in order. */
  async #drain(): Promise<void> {
    this.#loading = true;
    try {
      while (this.#pending && this.#signal?.aborted === false) {
        this.#pending = false;
        const force = this.#force;
        this.#force = false;
        const result = await loadPaths(this.#paths);
        if (this.#signal.aborted) break;
        // A file written after the load read its folder but before that folder was watched would go
        // unseen; so when a new watch starts, the paths are read once more (unchanged input emits nothing).
        if (this.#watch && (await this.#reconcileWatchers())) this.#pending = true;
        if (this.#signal.aborted) break;
        // A burst of events often ends with the files as they were: no need to reapply the same input.
        if (!force && this.#last !== undefined && isDeepStrictEqual(result, this.#last)) continue;
        this.#last = result;
        this.#version++;
        const snapshot: Snapshot = {
          version: this.#version,
          resources: result.resources,
          issues: result.issues,
          fatal: result.fatal,
        };
        this.#emit?.(snapshot);
      }
    } finally {
      this.#loading = false;
      if (this.#signal?.aborted) this.#finish();
    }
  }

  #onEvent(target: WatchTarget, filename: string | Buffer | null): void {
    if (this.#signal?.aborted) return;
    // Without a file name (some platforms) the event could be about anything in the folder.
    if (target.names !== undefined && filename !== null) {
      const name = basename(filename.toString());
      if (!target.names.has(name)) return;
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#request(false);
    }, this.#debounceMs);
    this.#timer.unref();
  }

  /** The folders to watch for the paths as they are now on disk. */
  async #targets(): Promise<WatchTarget[]> {
    const byKey = new Map<string, WatchTarget>();
    const add = (dir: string, recursive: boolean, name: string | undefined): void => {
      const key = `${recursive ? "r" : "n"}:${dir}`;
      let t = byKey.get(key);
      if (t === undefined) {
        t = { dir, recursive, names: recursive ? undefined : new Set() };
        byKey.set(key, t);
      }
      if (name !== undefined) t.names?.add(name);
      else t.names = undefined;
    };
    for (const p of this.#paths) {
      const abs = resolve(p);
      if (await isDir(abs)) {
        add(abs, true, undefined);
        if (dirname(abs) !== abs) add(dirname(abs), false, basename(abs));
        continue;
      }
      // A file, or a path that does not exist yet: watch the nearest existing folder above it for the
      // next component of the path, so its creation (and any rename over it) is seen.
      let child = abs;
      let parent = dirname(abs);
      while (parent !== child && !(await isDir(parent))) {
        child = parent;
        parent = dirname(parent);
      }
      if (parent !== child) add(parent, false, basename(child));
    }
    return [...byKey.values()];
  }

  /** Opens and closes watchers to match the paths as they are now; true when a new watch started. */
  async #reconcileWatchers(): Promise<boolean> {
    const targets = await this.#targets();
    if (this.#signal?.aborted) return false;
    let added = false;
    const wanted = new Map(targets.map((t) => [`${t.recursive ? "r" : "n"}:${t.dir}`, t]));
    for (const [key, w] of this.#watchers) {
      if (!wanted.has(key)) {
        w.watcher.close();
        this.#watchers.delete(key);
      }
    }
    for (const [key, target] of wanted) {
      const existing = this.#watchers.get(key);
      if (existing !== undefined) {
        existing.target.names = target.names;
        continue;
      }
      try {
        const watcher = watch(target.dir, { recursive: target.recursive }, (_event, filename) =>
          this.#onEvent(target, filename),
        );
        watcher.on("error", (err: unknown) => {
          // The folder went away (or the watch limit was hit): drop the watcher, reload, and let the
          // next load work out what to watch now.
          watcher.close();
          if (this.#watchers.get(key)?.watcher === watcher) this.#watchers.delete(key);
          this.#report(target.dir, err);
          this.#onEvent({ ...target, names: undefined }, null);
        });
        this.#watchers.set(key, { watcher, target });
        added = true;
      } catch (err: unknown) {
        this.#report(target.dir, err);
      }
    }
    return added;
  }

  #report(dir: string, err: unknown): void {
    this.#onError?.(new GatewayError(GW_ERR_WATCH, `cannot watch ${dir} for changes`, { cause: err }));
  }

  #stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
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

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}
