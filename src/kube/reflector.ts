/**
 * List, then watch, one kind: the cache of its objects kept as the API server has them, as client-go's
 * Reflector keeps it.
 *
 * - The list is paginated (`limit`, `continue`) and gives the `resourceVersion` the watch starts from.
 * - The watch asks for bookmarks (`allowWatchBookmarks`): a BOOKMARK moves the resourceVersion on without
 *   an object, so a reconnect resumes from a recent point instead of an expired one.
 * - 410 Gone (an HTTP answer or an ERROR event) means the resourceVersion expired: list again, at once.
 * - The server ends a watch after `timeoutSeconds` (5 to 10 minutes, drawn as client-go draws it): watch
 *   again from the last resourceVersion. A watch that breaks or cannot be opened is retried after a
 *   backoff (0.8 s doubling to 30 s, with jitter), and reset by the next success.
 *
 * `@kubernetes/client-node`'s informer is not used: it asks for no bookmarks, and after a watch or list
 * that fails other than with 410 it stops until restarted by hand (test/kube/informer.test.ts shows both).
 */
import { isDeepStrictEqual } from "node:util";
import { GatewayError, GW_ERR_KUBE_WATCH_GONE } from "../util/errors.js";
import { sleep } from "../util/sleep.js";
import { KubeApiError, type KubeClient } from "./client.js";
import { collectionPath, type KindSpec, type RawObject } from "./kinds.js";

export type { RawObject };

export interface ReflectorEvents {
  /**
   * The cache changed (after a list, or one watch event). `statusOnly`: only `.status` changed. `event`: the
   * watch event's type, object key and resourceVersion (absent after a list).
   */
  changed(
    kind: string,
    statusOnly: boolean,
    event?: { type: string; object: string; resourceVersion: string },
  ): void;
  /** A list or watch failed; the reflector retries by itself. */
  error(kind: string, err: GatewayError): void;
  /** A list completed (the first one, or one after 410). */
  listed(kind: string, count: number): void;
  /** A watch event or bookmark was received: the connection is alive. */
  progress?(kind: string, type: string): void;
}

export interface ReflectorOptions {
  /** Objects per list page. Default 500 (client-go's). */
  pageSize?: number;
  /** First backoff, in ms. Default 800. */
  backoffMs?: number;
  /** Longest backoff, in ms. Default 30,000. */
  maxBackoffMs?: number;
  /** Watch `timeoutSeconds` lower bound; the value is drawn between it and twice it. Default 300. */
  watchTimeoutS?: number;
}

export class Reflector {
  readonly spec: KindSpec;
  /** `namespace/name` (`/name` when cluster-scoped) -> the object. */
  readonly objects = new Map<string, RawObject>();
  #rv: string | undefined;
  #synced = false;
  readonly #client: KubeClient;
  readonly #events: ReflectorEvents;
  readonly #pageSize: number;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #watchTimeoutS: number;

  constructor(client: KubeClient, spec: KindSpec, events: ReflectorEvents, opts: ReflectorOptions = {}) {
    this.#client = client;
    this.spec = spec;
    this.#events = events;
    this.#pageSize = opts.pageSize ?? 500;
    this.#backoffMs = opts.backoffMs ?? 800;
    this.#maxBackoffMs = opts.maxBackoffMs ?? 30_000;
    this.#watchTimeoutS = opts.watchTimeoutS ?? 300;
  }

  /** True once a list has completed. */
  get synced(): boolean {
    return this.#synced;
  }

  /** The resourceVersion the next watch starts from. */
  get resourceVersion(): string | undefined {
    return this.#rv;
  }

  /**
   * Lists and watches until `signal` aborts. Never rejects. Resolves `"absent"` when the list or watch of an
   * optional kind answers 404 (its CRD is not installed, or was removed): the cache is then empty.
   */
  async run(signal: AbortSignal): Promise<"stopped" | "absent"> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (this.#rv === undefined) await this.#list(signal);
        const started = performance.now();
        await this.#watch(signal);
        // A watch the server ends at once, again and again, is retried with backoff too.
        if (performance.now() - started < 1000) {
          failures++;
          await sleep(this.#backoff(failures), signal);
        } else {
          failures = 0;
        }
      } catch (err: unknown) {
        if (signal.aborted) return "stopped";
        const e = GatewayError.is(err) ? err : new GatewayError("GW_ERR_KUBE_API", String(err));
        if (this.spec.optional === true && err instanceof KubeApiError && err.status === 404) {
          this.objects.clear();
          this.#rv = undefined;
          this.#synced = false;
          return "absent";
        }
        if (e.code === GW_ERR_KUBE_WATCH_GONE || (err instanceof KubeApiError && err.status === 410)) {
          // Expired: list again now; the error is reported as information.
          this.#rv = undefined;
          this.#events.error(this.spec.kind, e);
          continue;
        }
        this.#events.error(this.spec.kind, e);
        failures++;
        await sleep(this.#backoff(failures), signal);
      }
    }
    return "stopped";
  }

  #backoff(failures: number): number {
    const base = Math.min(this.#maxBackoffMs, this.#backoffMs * 2 ** (failures - 1));
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  async #list(signal: AbortSignal): Promise<void> {
    const fresh = new Map<string, RawObject>();
    let cont: string | undefined;
    let rv = "";
    do {
      const q = this.#query({
        limit: String(this.#pageSize),
        ...(cont !== undefined ? { continue: cont } : {}),
      });
      const list = await this.#client.request<{
        items?: RawObject[];
        metadata?: { resourceVersion?: string; continue?: string };
      }>("GET", `${collectionPath(this.spec)}?${q}`, { signal });
      for (const item of list.items ?? []) fresh.set(keyOf(item), this.#withKind(item));
      rv = list.metadata?.resourceVersion ?? "";
      cont = list.metadata?.continue || undefined;
    } while (cont !== undefined);
    this.objects.clear();
    for (const [k, v] of fresh) this.objects.set(k, v);
    this.#rv = rv;
    this.#synced = true;
    this.#events.listed(this.spec.kind, fresh.size);
    this.#events.changed(this.spec.kind, false);
  }

  async #watch(signal: AbortSignal): Promise<void> {
    const timeout = Math.floor(this.#watchTimeoutS * (1 + Math.random()));
    const q = this.#query({
      watch: "true",
      allowWatchBookmarks: "true",
      resourceVersion: this.#rv ?? "",
      timeoutSeconds: String(timeout),
    });
    await this.#client.watch(`${collectionPath(this.spec)}?${q}`, signal, (e) => this.#onEvent(e));
  }

  #onEvent(raw: unknown): void {
    const ev = raw as { type?: unknown; object?: RawObject & { code?: unknown; message?: unknown } };
    const type = typeof ev.type === "string" ? ev.type : "";
    const obj = ev.object;
    if (obj === undefined || obj === null || typeof obj !== "object") return;
    this.#events.progress?.(this.spec.kind, type);
    const rv = obj.metadata?.resourceVersion;
    switch (type) {
      case "ADDED":
      case "MODIFIED": {
        const key = keyOf(obj);
        const before = this.objects.get(key);
        const next = this.#withKind(obj);
        this.objects.set(key, next);
        if (rv !== undefined) this.#rv = rv;
        this.#events.changed(this.spec.kind, before !== undefined && onlyStatusChanged(before, next), {
          type,
          object: key,
          resourceVersion: rv ?? "",
        });
        return;
      }
      case "DELETED":
        this.objects.delete(keyOf(obj));
        if (rv !== undefined) this.#rv = rv;
        this.#events.changed(this.spec.kind, false, { type, object: keyOf(obj), resourceVersion: rv ?? "" });
        return;
      case "BOOKMARK":
        if (rv !== undefined) this.#rv = rv;
        return;
      case "ERROR": {
        const status = typeof obj.code === "number" ? obj.code : 0;
        const message = typeof obj.message === "string" ? obj.message : "watch error";
        throw new KubeApiError(
          status === 410 ? GW_ERR_KUBE_WATCH_GONE : "GW_ERR_KUBE_API",
          `watch ${collectionPath(this.spec)}: ${status === 410 ? "410 Gone: " : `${status}: `}${message}`,
          status,
          "GET",
          collectionPath(this.spec),
        );
      }
      default:
        return;
    }
  }

  #query(extra: Record<string, string>): string {
    const q = new URLSearchParams(extra);
    if (this.spec.labelSelector !== undefined) q.set("labelSelector", this.spec.labelSelector);
    if (this.spec.fieldSelector !== undefined) q.set("fieldSelector", this.spec.fieldSelector);
    return q.toString();
  }

  /** Lists leave out each item's apiVersion and kind; the parser needs them. */
  #withKind(o: RawObject): RawObject {
    const apiVersion = this.spec.group === "" ? this.spec.version : `${this.spec.group}/${this.spec.version}`;
    if (o.apiVersion === apiVersion && o.kind === this.spec.kind) return o;
    return { ...o, apiVersion, kind: this.spec.kind };
  }
}

/** `namespace/name` of an object. */
export function keyOf(o: RawObject): string {
  return `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;
}

/** True when two versions of an object differ only in `.status` and metadata the API server maintains. */
export function onlyStatusChanged(a: RawObject, b: RawObject): boolean {
  // Key order differs between a list's items and watch events: compare structurally.
  return isDeepStrictEqual(strip(a), strip(b));
}

function strip(o: RawObject): unknown {
  const { status: _s, metadata, ...rest } = o;
  const { resourceVersion: _r, managedFields: _m, ...meta } = (metadata ?? {}) as Record<string, unknown>;
  return { ...rest, metadata: meta };
}
