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
 */
import { setMaxListeners } from "node:events";
import { type LoadResult, parseObjects, type RejectedObject } from "../api/parse.js";
import { emptyResourceSet, GATEWAY_GROUP, type Origin, type ResourceSet } from "../api/types.js";
import type { Logger } from "../log/logger.js";
import { LastAccepted } from "../sources/last-accepted.js";
import type { ResourceSource, Snapshot } from "../sources/source.js";
import { GatewayError, GW_ERR_KUBE_API, GW_ERR_KUBE_WATCH_GONE } from "../util/errors.js";
import type { KubeClient } from "./client.js";
import { type KindSpec, kindSpecs } from "./kinds.js";
import { type RawObject, Reflector, type ReflectorOptions } from "./reflector.js";

export interface KubeSourceOptions {
  /** Quiet time after a change before a snapshot is emitted, in ms. Default 50. */
  coalesceMs?: number;
  reflector?: ReflectorOptions;
  log: Logger;
}

/** What discovery found: the version of ReferenceGrant served, and whether GRPCRoute is served at all. */
export interface Discovery {
  referenceGrantVersion: string;
}

export class KubeSource implements ResourceSource {
  readonly name = "kube";
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #coalesceMs: number;
  readonly #reflectorOpts: ReflectorOptions;
  readonly #reflectors: Reflector[] = [];
  readonly #accepted = new LastAccepted();
  /** Parsed objects by kind and key, with the resourceVersion they were parsed at. */
  readonly #parsed = new Map<string, { rv: string | undefined; raw: RawObject; result: LoadResult }>();
  #version = 0;
  #timer: NodeJS.Timeout | undefined;
  #emit: ((s: Snapshot) => void) | undefined;
  #waiting = "discovering the API (GET /apis/gateway.networking.k8s.io)";
  /** The last error per kind, cleared when that kind lists or watches again. */
  readonly #errors = new Map<string, string>();

  constructor(client: KubeClient, opts: KubeSourceOptions) {
    this.#client = client;
    this.#log = opts.log;
    this.#coalesceMs = opts.coalesceMs ?? 50;
    this.#reflectorOpts = opts.reflector ?? {};
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
    const r = this.#reflectors.find((x) => x.spec.kind === kind);
    return r?.objects.get(`${namespace}/${name}`);
  }

  /** The kind specs in use (after discovery). */
  kinds(): KindSpec[] {
    return this.#reflectors.map((r) => r.spec);
  }

  async run(signal: AbortSignal, emit: (s: Snapshot) => void): Promise<void> {
    this.#emit = emit;
    // Every reflector's request, watch and backoff listens on this one signal.
    setMaxListeners(64, signal);
    const discovery = await this.#discover(signal);
    if (discovery === undefined) return;
    const specs = kindSpecs(discovery.referenceGrantVersion);
    this.#waiting = `waiting for the first list of ${specs.map((s) => s.kind).join(", ")}`;
    for (const spec of specs) {
      this.#reflectors.push(
        new Reflector(
          this.#client,
          spec,
          {
            changed: (kind, statusOnly, event) => {
              if (event !== undefined) this.#log.debug({ kind, ...event, statusOnly }, "watch event");
              if (!statusOnly) this.#schedule();
            },
            listed: (kind, count) => {
              this.#errors.delete(kind);
              this.#log.debug({ kind, count }, "listed");
            },
            progress: (kind) => {
              this.#errors.delete(kind);
            },
            error: (kind, err) => this.#onError(kind, err),
          },
          this.#reflectorOpts,
        ),
      );
    }
    signal.addEventListener("abort", () => {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
    });
    await Promise.all(this.#reflectors.map((r) => r.run(signal)));
  }

  reload(): void {
    // Every change is seen by the watches; SIGHUP re-emits what they hold.
    if (this.#reflectors.length > 0 && this.#reflectors.every((r) => r.synced)) this.#schedule(true);
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

  async #discover(signal: AbortSignal): Promise<Discovery | undefined> {
    let delay = 800;
    while (!signal.aborted) {
      try {
        const group = await this.#client.request<{ versions?: { version?: string }[] }>(
          "GET",
          `/apis/${GATEWAY_GROUP}`,
          { signal },
        );
        const versions = (group.versions ?? []).map((v) => v.version);
        if (!versions.includes("v1")) {
          throw new GatewayError(
            GW_ERR_KUBE_API,
            `the API server does not serve ${GATEWAY_GROUP}/v1: install the Gateway API CRDs (standard channel)`,
          );
        }
        const v1 = await this.#client.request<{ resources?: { name?: string }[] }>(
          "GET",
          `/apis/${GATEWAY_GROUP}/v1`,
          { signal },
        );
        const names = new Set((v1.resources ?? []).map((r) => r.name));
        for (const r of ["gatewayclasses", "gateways", "grpcroutes"]) {
          if (!names.has(r)) {
            throw new GatewayError(
              GW_ERR_KUBE_API,
              `the API server does not serve ${r}.${GATEWAY_GROUP}/v1: install the Gateway API CRDs (standard channel, v1.1 or later for GRPCRoute v1)`,
            );
          }
        }
        const referenceGrantVersion = names.has("referencegrants") ? "v1" : "v1beta1";
        this.#errors.delete("discovery");
        return { referenceGrantVersion };
      } catch (err: unknown) {
        if (signal.aborted) return undefined;
        const e = GatewayError.is(err) ? err : new GatewayError(GW_ERR_KUBE_API, String(err));
        this.#onError("discovery", e);
        await new Promise((r) => setTimeout(r, delay * (0.8 + Math.random() * 0.4)));
        delay = Math.min(delay * 2, 30_000);
      }
    }
    return undefined;
  }

  #schedule(force = false): void {
    if (!this.#reflectors.every((r) => r.synced)) return;
    if (this.#timer !== undefined && !force) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#emitSnapshot();
    }, this.#coalesceMs);
  }

  #emitSnapshot(): void {
    const items: LoadResult[] = [];
    const seen = new Set<string>();
    for (const r of this.#reflectors) {
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
  const base = spec.group === "" ? `/api/${spec.version}` : `/apis/${spec.group}/${spec.version}`;
  const path = `${base}${ns !== undefined && ns !== "" ? `/namespaces/${ns}` : ""}/${spec.plural}/${raw.metadata?.name ?? ""}`;
  return { file: `${server}${path} (resourceVersion ${raw.metadata?.resourceVersion ?? "?"})`, index: 0 };
}

const LIST_OF: Record<string, keyof ResourceSet> = {
  GatewayClass: "gatewayClasses",
  Gateway: "gateways",
  GRPCRoute: "grpcRoutes",
  ReferenceGrant: "referenceGrants",
  Namespace: "namespaces",
  Service: "services",
  Secret: "secrets",
  EndpointSlice: "endpointSlices",
};

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
