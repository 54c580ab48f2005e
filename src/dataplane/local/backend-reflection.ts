/**
 * What the gateway learns from its backends' own reflection services: the services each backend lists and
 * the file descriptors that define a symbol, cached per backend (cluster) for a short TTL and forgotten when
 * a new routing table is applied.
 *
 * A backend is asked over `grpc.reflection.v1` first and over `v1alpha` when it does not implement v1 (the
 * version it answered is remembered). A backend that implements neither "has no reflection": it is left
 * out of listings, and the first time it is found out a debug line says so (`onNoReflection`).
 */
import type { IrCluster, IrEndpoint } from "../../ir/routing-table.js";
import { GrpcCode } from "../grpc-status.js";
import type { BackendClient } from "./backend-client.js";
import {
  REFLECTION_METHOD,
  REFLECTION_SERVICES,
  ReflectionRequest,
  type ReflectionRequestObject,
  ReflectionResponse,
  type ReflectionResponseObject,
} from "./messages.js";

/** How long a backend's answers are kept (ms). */
export const DEFAULT_REFLECTION_TTL_MS = 10_000;
/**
 * Most answers kept at once: clients choose what is asked (any symbol name), so the cache is bounded; past
 * it, expired answers are dropped, then everything.
 */
export const REFLECTION_CACHE_ENTRIES = 1024;
/** How long one reflection request to a backend may take (ms). */
const ASK_TIMEOUT_MS = 5_000;

/** A backend's answer, or why there is none. */
export type Asked =
  | { ok: true; response: ReflectionResponseObject }
  | { ok: false; noReflection: boolean; reason: string };

interface Entry {
  at: number;
  value: Promise<Asked>;
}

export interface BackendReflectionOptions {
  /** The endpoint a gateway-made call to `cluster` uses now (the relay's endpoint choice). */
  pickEndpoint(cluster: IrCluster): IrEndpoint | undefined;
  ttlMs?: number;
  /** A backend turned out to have no reflection service (said once per table). */
  onNoReflection?(cluster: string, reason: string): void;
}

export class BackendReflection {
  private cache = new Map<string, Entry>();
  /** Clusters whose reflection is v1alpha only. */
  private alpha = new Set<string>();
  /** Clusters without reflection, and why (for `explain` and the debug log). */
  readonly missing = new Map<string, string>();
  private readonly ttl: number;

  constructor(
    private readonly client: BackendClient,
    private readonly opts: BackendReflectionOptions,
  ) {
    this.ttl = opts.ttlMs ?? DEFAULT_REFLECTION_TTL_MS;
  }

  /** Answers kept now (tests). */
  get cacheSize(): number {
    return this.cache.size;
  }

  /** A new routing table: every backend is asked again. */
  reload(): void {
    this.cache.clear();
    this.alpha.clear();
    this.missing.clear();
  }

  /** The services `cluster` lists (the reflection services themselves left out). */
  async services(
    cluster: IrCluster,
  ): Promise<{ ok: true; services: string[] } | { ok: false; reason: string }> {
    const a = await this.ask(cluster, { listServices: "*" });
    if (!a.ok) return a;
    const list = a.response.listServicesResponse?.service ?? [];
    const services = list
      .map((s) => s.name ?? "")
      .filter((n) => n !== "" && !(REFLECTION_SERVICES as readonly string[]).includes(n));
    return { ok: true, services };
  }

  /** Asks `cluster` one reflection request (cached). */
  ask(cluster: IrCluster, req: ReflectionRequestObject): Promise<Asked> {
    const key = `${cluster.name}\n${JSON.stringify(req)}`;
    const now = Date.now();
    const e = this.cache.get(key);
    if (e !== undefined && now - e.at < this.ttl) return e.value;
    const value = this.askNow(cluster, req);
    if (this.cache.size >= REFLECTION_CACHE_ENTRIES) {
      for (const [k, v] of this.cache) if (now - v.at >= this.ttl) this.cache.delete(k);
      if (this.cache.size >= REFLECTION_CACHE_ENTRIES) this.cache.clear();
    }
    this.cache.set(key, { at: now, value });
    // A failure other than "no reflection" is not kept: the next request asks again.
    void value.then((a) => {
      if (!a.ok && !a.noReflection && this.cache.get(key)?.value === value) this.cache.delete(key);
    });
    return value;
  }

  private async askNow(cluster: IrCluster, req: ReflectionRequestObject): Promise<Asked> {
    const ep = this.opts.pickEndpoint(cluster);
    if (ep === undefined) return { ok: false, noReflection: false, reason: "the backend has no endpoint" };
    const payload = ReflectionRequest.encode(ReflectionRequest.fromObject(req)).finish();
    const authority = cluster.serverName ?? `${ep.host}:${ep.port}`;
    const target = { cluster, endpoint: ep };
    const versions = this.alpha.has(cluster.name) ? [REFLECTION_SERVICES[1]] : REFLECTION_SERVICES;
    let last = "";
    for (const svc of versions) {
      const r = await this.client.unary(
        target,
        `/${svc}/${REFLECTION_METHOD}`,
        authority,
        payload,
        ASK_TIMEOUT_MS,
      );
      if (r.code === GrpcCode.UNIMPLEMENTED) {
        last = `${svc} is not implemented`;
        continue;
      }
      if (r.code !== GrpcCode.OK || r.messages.length === 0) {
        return {
          ok: false,
          noReflection: false,
          reason: `reflection failed: ${r.message || `status ${r.code}`}`,
        };
      }
      if (svc === REFLECTION_SERVICES[1]) this.alpha.add(cluster.name);
      try {
        const response = ReflectionResponse.toObject(ReflectionResponse.decode(r.messages[0]!), {
          defaults: false,
        }) as ReflectionResponseObject;
        return { ok: true, response };
      } catch (e: unknown) {
        return {
          ok: false,
          noReflection: false,
          reason: `malformed reflection answer: ${(e as Error).message}`,
        };
      }
    }
    const reason = `the backend has no reflection service (${last})`;
    if (!this.missing.has(cluster.name)) {
      this.missing.set(cluster.name, reason);
      this.opts.onNoReflection?.(cluster.name, reason);
    }
    return { ok: false, noReflection: true, reason };
  }
}
