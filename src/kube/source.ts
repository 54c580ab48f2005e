/**
 * The API server as a source of snapshots, next to the file source: one {@link Reflector} per kind, and a
 * snapshot emitted once every kind is listed, then after each change (coalesced for `coalesceMs`).
 *
 * Objects go through the same schema as files (`parseObjects`), each parsed once per resourceVersion. An
 * object the schema refuses (a CRD of another version, a field the API server's validation let through)
 * keeps its last accepted version serving ({@link LastAccepted}), as an edit of a file does. A change to an
 * object's `.status` alone (our own writes, or another controller's) emits nothing: the translation does
 * not read status.
 *
 * While the API server cannot be reached, nothing is emitted and the last snapshot keeps serving; the
 * reflectors reconnect by themselves.
 *
 * Kinds come from {@link KINDS}. An optional kind whose CRD is not installed is read as empty (one
 * `GW_ERR_KUBE_NOT_SERVED` line) and discovery is asked again with backoff until it is; a 404 on its list
 * or watch (the CRD removed) puts it back there. A scoped kind (ConfigMap) is listed and watched in the
 * namespaces its scope names, each on its own, started and stopped as the scope changes. A snapshot is
 * emitted only while every reflector in use has listed, but for a namespace's reflector whose first list
 * failed (a 403 there): it is retried, and its objects are missing until it lists.
 */
import { setMaxListeners } from "node:events";
import { type LoadResult, parseObjects, type RejectedObject } from "../api/parse.js";
import { emptyResourceSet, type Origin, type ResourceSet } from "../api/types.js";
import type { Logger } from "../log/logger.js";
import { LastAccepted } from "../sources/last-accepted.js";
import type { ResourceSource, Snapshot } from "../sources/source.js";
import {
  GatewayError,
  GW_ERR_KUBE_API,
  GW_ERR_KUBE_NOT_SERVED,
  GW_ERR_KUBE_WATCH_GONE,
} from "../util/errors.js";
import { sleep } from "../util/sleep.js";
import type { KubeClient } from "./client.js";
import { Discovery } from "./discovery.js";
import { KINDS, type KindEntry, type KindSpec, objectPath, specOf } from "./kinds.js";
import { type RawObject, Reflector, type ReflectorOptions } from "./reflector.js";

export interface KubeSourceOptions {
  /** Quiet time after a change before a snapshot is emitted, in ms. Default 50. */
  coalesceMs?: number;
  reflector?: ReflectorOptions;
  log: Logger;
  /** The kinds read. Default {@link KINDS}. */
  kinds?: readonly KindEntry[];
}

/** One kind being read: the version in use and its reflectors (one, or one per namespace when scoped). */
interface Slot {
  entry: KindEntry;
  /** `discovering`: its version is not known yet; `absent`: not served (read as empty). */
  state: "discovering" | "absent" | "reading";
  spec: KindSpec | undefined;
  /** `""` -> the reflector across namespaces; a namespace -> that namespace's (scoped kinds). */
  readers: Map<string, Reader>;
}

/**
 * One reflector of a slot. `stalled`: a namespace's reflector whose first list failed; it no longer holds
 * snapshots back (its objects are missing until it lists), so one namespace the controller cannot read
 * (RBAC granted by Roles elsewhere) does not stop every other change from being applied.
 */
interface Reader {
  reflector: Reflector;
  abort: AbortController;
  stalled: boolean;
}

export class KubeSource implements ResourceSource {
  readonly name = "kube";
  readonly #client: KubeClient;
  readonly #discovery: Discovery;
  readonly #log: Logger;
  readonly #coalesceMs: number;
  readonly #reflectorOpts: ReflectorOptions;
  readonly #slots: Slot[];
  readonly #accepted = new LastAccepted();
  /** Parsed objects by kind and key, with the resourceVersion they were parsed at. */
  readonly #parsed = new Map<string, { rv: string | undefined; raw: RawObject; result: LoadResult }>();
  #version = 0;
  #timer: NodeJS.Timeout | undefined;
  #emit: ((s: Snapshot) => void) | undefined;
  #signal: AbortSignal | undefined;
  #started = false;
  #waiting = "discovering the API (GET /apis/gateway.networking.k8s.io)";
  /** The last error per kind, cleared when that kind lists or watches again. */
  readonly #errors = new Map<string, string>();
  /** Reflectors started after `run` (scoped ones), awaited before it returns. */
  readonly #running = new Set<Promise<unknown>>();

  constructor(client: KubeClient, opts: KubeSourceOptions) {
    this.#client = client;
    this.#discovery = new Discovery(client);
    this.#log = opts.log;
    this.#coalesceMs = opts.coalesceMs ?? 50;
    this.#reflectorOpts = opts.reflector ?? {};
    this.#slots = (opts.kinds ?? KINDS).map((entry) => ({
      entry,
      state: "discovering",
      spec: undefined,
      readers: new Map(),
    }));
  }

  /** Why no snapshot was emitted yet (for `/readyz`), empty once the first one was. */
  notReady(): string[] {
    if (this.#version > 0) return [];
    const reasons = [this.#waiting];
    for (const [kind, e] of this.#errors) reasons.push(`${kind}: ${e}`);
    return reasons;
  }

  /** The object as the API server has it now (with its status), from the watch caches. */
  live(kind: string, namespace: string, name: string): RawObject | undefined {
    const slot = this.#slots.find((s) => s.entry.kind === kind);
    if (slot === undefined) return undefined;
    const reader = slot.readers.get(slot.entry.scope === undefined ? "" : namespace);
    return reader?.reflector.objects.get(`${namespace}/${name}`);
  }

  /** The kind at the version in use; undefined while it is not read (not served, or not discovered yet). */
  spec(kind: string): KindSpec | undefined {
    const slot = this.#slots.find((s) => s.entry.kind === kind);
    return slot?.state === "reading" ? slot.spec : undefined;
  }

  async run(signal: AbortSignal, emit: (s: Snapshot) => void): Promise<void> {
    this.#emit = emit;
    this.#signal = signal;
    // Every reflector's request, watch and backoff listens on this one signal.
    setMaxListeners(128, signal);
    if (!(await this.#checkRequired(signal))) return;
    this.#waiting = `waiting for the first list of ${this.#slots.map((s) => s.entry.kind).join(", ")}`;
    signal.addEventListener("abort", () => {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
    });
    this.#started = true;
    const runs = this.#slots.map((slot) => {
      if (slot.entry.scope !== undefined) {
        slot.state = "reading";
        slot.spec = specOf(slot.entry, slot.entry.versions[0] ?? "v1");
        this.#rescope(slot);
        return Promise.resolve();
      }
      return slot.entry.optional === true ? this.#runOptional(slot, signal) : this.#runRequired(slot, signal);
    });
    await Promise.all(runs);
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }

  reload(): void {
    // Every change is seen by the watches; SIGHUP re-emits what they hold.
    if (this.#synced()) this.#schedule(true);
  }

  /** A kind every cluster serving GRPCRoute has: its version (discovered when it has several), then read. */
  async #runRequired(slot: Slot, signal: AbortSignal): Promise<void> {
    const e = slot.entry;
    let version = e.versions[0] ?? "v1";
    if (e.versions.length > 1) {
      const found = await this.#retrying(e.kind, signal, () => this.#discovery.version(e, signal));
      if (found === null) return;
      version = found ?? e.versions[e.versions.length - 1] ?? version;
    }
    slot.spec = specOf(e, version);
    slot.state = "reading";
    await this.#read(slot, "", slot.spec, signal);
  }

  /** A kind whose CRD may be missing: read as empty while it is, discovery asked again with backoff. */
  async #runOptional(slot: Slot, signal: AbortSignal): Promise<void> {
    const e = slot.entry;
    const base = this.#reflectorOpts.backoffMs ?? 800;
    const max = this.#reflectorOpts.maxBackoffMs ?? 30_000;
    let delay = base;
    while (!signal.aborted) {
      const version = await this.#retrying(e.kind, signal, () => this.#discovery.version(e, signal));
      if (version === null) return;
      if (version === undefined) {
        this.#absent(slot, `discovery finds no ${e.plural}.${e.group} at ${e.versions.join(" or ")}`);
        await sleep(delay * (0.8 + Math.random() * 0.4), signal);
        delay = Math.min(delay * 2, max);
        continue;
      }
      delay = base;
      if (slot.state === "absent") {
        this.#log.info({ kind: e.kind, version }, "the API server serves it now; reading it");
      }
      slot.spec = specOf(e, version);
      slot.state = "reading";
      const how = await this.#read(slot, "", slot.spec, signal);
      if (how !== "absent") return;
      this.#absent(slot, `the list or watch of ${e.plural}.${e.group}/${version} answered 404`);
    }
  }

  /** Marks an optional kind as not served: its objects are gone from the next snapshot; one log line. */
  #absent(slot: Slot, why: string): void {
    const e = slot.entry;
    this.#errors.delete(e.kind);
    if (slot.state === "absent") return;
    slot.state = "absent";
    slot.spec = undefined;
    this.#log.warn(
      { code: GW_ERR_KUBE_NOT_SERVED, kind: e.kind, reason: why },
      `the API server does not serve ${e.kind} (${e.group}/${e.versions.join(" or ")}); reading it as empty until its CRD is installed`,
    );
    if (e.kind === this.#scopeSource()) this.#rescopeAll();
    this.#schedule();
  }

  /**
   * Runs `fn` until it succeeds (errors logged, backoff), and resolves with its value; `null` when `signal`
   * aborted first.
   */
  async #retrying<T>(kind: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T | null> {
    let delay = this.#reflectorOpts.backoffMs ?? 800;
    while (!signal.aborted) {
      try {
        return await fn();
      } catch (err: unknown) {
        if (signal.aborted) break;
        this.#onError(kind, GatewayError.is(err) ? err : new GatewayError(GW_ERR_KUBE_API, String(err)));
        await sleep(delay * (0.8 + Math.random() * 0.4), signal);
        delay = Math.min(delay * 2, this.#reflectorOpts.maxBackoffMs ?? 30_000);
      }
    }
    return null;
  }

  /** Lists and watches `spec` (under `key` of the slot) until aborted or, for an optional kind, a 404. */
  async #read(slot: Slot, key: string, spec: KindSpec, signal: AbortSignal): Promise<"stopped" | "absent"> {
    const abort = new AbortController();
    let reader: Reader | undefined;
    const reflector = new Reflector(
      this.#client,
      spec,
      {
        changed: (kind, statusOnly, event) => {
          if (event !== undefined) this.#log.debug({ kind, ...event, statusOnly }, "watch event");
          if (statusOnly) return;
          if (kind === this.#scopeSource()) this.#rescopeAll();
          this.#schedule();
        },
        listed: (kind, count) => {
          this.#errors.delete(kind);
          this.#log.debug(
            { kind, count, ...(spec.namespace ? { namespace: spec.namespace } : {}) },
            "listed",
          );
        },
        progress: (kind) => {
          this.#errors.delete(kind);
        },
        error: (kind, err) => {
          this.#onError(kind, err);
          if (key !== "" && reader !== undefined && !reader.reflector.synced && !reader.stalled) {
            reader.stalled = true;
            this.#schedule();
          }
        },
      },
      this.#reflectorOpts,
    );
    reader = { reflector, abort, stalled: false };
    slot.readers.set(key, reader);
    try {
      return await reflector.run(AbortSignal.any([signal, abort.signal]));
    } finally {
      if (slot.readers.get(key)?.reflector === reflector) slot.readers.delete(key);
    }
  }

  /** The kind scoped kinds take their namespaces from. */
  #scopeSource(): string | undefined {
    return this.#slots.find((s) => s.entry.scope !== undefined)?.entry.scope?.from;
  }

  #rescopeAll(): void {
    for (const s of this.#slots) if (s.entry.scope !== undefined) this.#rescope(s);
  }

  /** Starts the reflectors of namespaces the scope names now, stops those it no longer names. */
  #rescope(slot: Slot): void {
    const scope = slot.entry.scope;
    const signal = this.#signal;
    if (scope === undefined || signal === undefined || !this.#started || signal.aborted) return;
    const from = this.#slots.find((s) => s.entry.kind === scope.from);
    const objects =
      from === undefined ? [] : [...from.readers.values()].flatMap((r) => [...r.reflector.objects.values()]);
    const want = scope.namespaces(objects);
    let changed = false;
    for (const [ns, r] of slot.readers) {
      if (want.has(ns)) continue;
      r.abort.abort();
      slot.readers.delete(ns);
      changed = true;
      this.#log.debug({ kind: slot.entry.kind, namespace: ns }, "no longer read in this namespace");
    }
    for (const ns of want) {
      if (slot.readers.has(ns)) continue;
      const spec = specOf(slot.entry, slot.entry.versions[0] ?? "v1", ns);
      const p = this.#read(slot, ns, spec, signal);
      this.#running.add(p);
      void p.finally(() => this.#running.delete(p));
      this.#log.debug({ kind: slot.entry.kind, namespace: ns }, "reading in this namespace");
    }
    if (changed) this.#schedule();
  }

  /** Every kind read has listed (an absent kind counts as listed: it is empty). */
  #synced(): boolean {
    return (
      this.#started &&
      this.#slots.every(
        (s) =>
          s.state === "absent" ||
          (s.state === "reading" &&
            [...s.readers.values()].every((r) => r.reflector.synced || r.stalled) &&
            (s.entry.scope !== undefined || s.readers.size > 0)),
      )
    );
  }

  #onError(kind: string, err: GatewayError): void {
    if (err.code === GW_ERR_KUBE_WATCH_GONE) {
      this.#log.info({ code: err.code, kind, reason: err.message }, "watch expired; listing again");
      return;
    }
    const text = `${err.code}: ${err.message}`;
    // One line per distinct problem: a retry that fails the same way again is not news.
    const repeated = this.#errors.get(kind) === text;
    this.#errors.set(kind, text);
    (repeated ? this.#log.debug.bind(this.#log) : this.#log.warn.bind(this.#log))(
      { code: err.code, kind, reason: err.message },
      this.#version > 0
        ? "Kubernetes API request failed; serving the last state read, retrying"
        : "Kubernetes API request failed; retrying",
    );
  }

  /** Waits until the API server serves GRPCRoute v1 (retrying with backoff); false when aborted first. */
  async #checkRequired(signal: AbortSignal): Promise<boolean> {
    const ok = await this.#retrying("discovery", signal, async () => {
      await this.#discovery.checkRequired(signal);
      return true;
    });
    if (ok === null) return false;
    this.#errors.delete("discovery");
    return true;
  }

  #schedule(force = false): void {
    if (!this.#synced()) return;
    if (this.#timer !== undefined && !force) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // A reflector started since (a namespace a scope added) emits when it has listed.
      if (this.#synced()) this.#emitSnapshot();
    }, this.#coalesceMs);
  }

  #emitSnapshot(): void {
    const items: LoadResult[] = [];
    const seen = new Set<string>();
    for (const slot of this.#slots) {
      if (slot.state !== "reading") continue;
      for (const { reflector: r } of slot.readers.values()) {
        for (const [key, raw] of r.objects) {
          const id = `${r.spec.kind}|${key}`;
          seen.add(id);
          const rv = raw.metadata?.resourceVersion;
          let p = this.#parsed.get(id);
          if (p === undefined || p.rv !== rv || p.raw !== raw) {
            p = {
              rv,
              raw,
              result: parseObjects([{ value: raw, origin: originOf(this.#client.server, r.spec, raw) }]),
            };
            this.#parsed.set(id, p);
          }
          items.push(p.result);
        }
      }
    }
    for (const id of this.#parsed.keys()) if (!seen.has(id)) this.#parsed.delete(id);
    const fresh = combine(items);
    const merged = this.#accepted.merge(fresh);
    this.#version++;
    this.#log.debug({ version: this.#version }, "snapshot emitted");
    this.#emit?.({
      version: this.#version,
      resources: merged.resources,
      issues: merged.issues,
      kept: merged.kept,
      fatal: [],
    });
  }
}

/** Where an object came from, for messages: its URL on the API server and its resourceVersion. */
function originOf(server: string, spec: KindSpec, raw: RawObject): Origin {
  const ns = raw.metadata?.namespace;
  const path = objectPath(spec, ns ?? "", raw.metadata?.name ?? "");
  return { file: `${server}${path} (resourceVersion ${raw.metadata?.resourceVersion ?? "?"})`, index: 0 };
}

const LIST_OF: Record<string, keyof ResourceSet> = Object.fromEntries(KINDS.map((k) => [k.kind, k.list]));

/** Several one-object load results as one, with each rejected object's position in its kind's list. */
function combine(items: readonly LoadResult[]): LoadResult {
  const resources: ResourceSet = emptyResourceSet();
  const issues: LoadResult["issues"] = [];
  const rejected: RejectedObject[] = [];
  const lists = Object.keys(resources) as (keyof ResourceSet)[];
  for (const it of items) {
    for (const r of it.rejected) {
      const list = LIST_OF[r.ref.kind];
      rejected.push({ ...r, position: list === undefined ? 0 : resources[list].length });
    }
    for (const l of lists) (resources[l] as unknown[]).push(...(it.resources[l] as unknown[]));
    issues.push(...it.issues);
  }
  return { resources, issues, fatal: [], rejected };
}
