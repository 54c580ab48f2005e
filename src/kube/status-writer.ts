/**
 * Writes the translator's status to the API server, as Gateway API controllers do:
 *
 * - through the `/status` subresource, by PUT of the object with its `resourceVersion`; on 409 Conflict the
 *   object is read again and the status recomputed against it (up to 5 times);
 * - only when the status differs from what the object holds (compared after stamping, so a write never
 *   causes another: no write loops);
 * - route `status.parents`: only the entries whose controllerName is ours are replaced; other controllers'
 *   entries are kept, in their order;
 * - policy `status.ancestors` (GEP-713: TrafficPolicy, BackendTLSPolicy, any kind of {@link KINDS} with a
 *   `policyStatus`): likewise only our controllers' entries are replaced, the others kept, and ours cut so the
 *   list stays within the 16 the CRDs allow; a kind the API server does not serve is skipped;
 * - policy `status.conditions` (TargetGroupPolicy with `--lattice`, any kind with a `conditionsStatus`): the
 *   conditions of the types we report are replaced, those of other types kept, and ours cut so the list
 *   stays within the 8 the AWS CRD allows; a kind not read (no `--lattice`, CRD missing) is skipped;
 * - GatewayClasses of our controller get `Accepted` and `SupportedVersion`;
 * - every condition carries `lastTransitionTime`, kept while its status stays the same;
 * - route annotations (the Lattice assigned domain name) by JSON merge patch of the route's metadata, set
 *   when missing or different and never removed (as the AWS controller does).
 *
 * Writes happen only while `isLeader()`; a pass runs after every applied configuration and when leadership
 * is gained, one pass at a time, the newest configuration winning. A failed pass is retried with backoff.
 */
import { isDeepStrictEqual } from "node:util";
import { type Condition, GATEWAY_GROUP, type ResourceSet } from "../api/types.js";
import type { Logger } from "../log/logger.js";
import { MAX_ANCESTORS } from "../translate/policies/ancestors.js";
import {
  stampAncestors,
  stampConditions,
  stampGatewayStatus,
  stampParents,
} from "../translate/status/transition.js";
import type { StatusReport } from "../translate/types.js";
import { GatewayError, GW_ERR_STATUS_WRITE } from "../util/errors.js";
import { KubeApiError, type KubeClient } from "./client.js";
import { KINDS, type KindEntry, type KindSpec, objectPath } from "./kinds.js";
import type { RawObject } from "./reflector.js";

/** How many objects are written at once. */
const CONCURRENCY = 4;
/** Tries of one object's write when it keeps conflicting. */
const MAX_CONFLICT_RETRIES = 5;
/** `status.conditions` items the AWS controller's CRDs allow (TargetGroupPolicy: `maxItems: 8`). */
export const MAX_POLICY_CONDITIONS = 8;

/** The Gateway API version whose CRDs this build is written against (SupportedVersion's message). */
export const SUPPORTED_API_VERSION = "v1.1+";

export interface StatusWriterOptions {
  client: KubeClient;
  log: Logger;
  /** The object as the watch cache holds it now. */
  live(kind: string, namespace: string, name: string): RawObject | undefined;
  /** The controller names whose route parent entries are ours to replace. */
  controllerNames: readonly string[];
  /** Our GatewayClass controller names (Accepted and SupportedVersion are written to these classes). */
  classControllerNames: readonly string[];
  isLeader(): boolean;
  /** Where a kind of {@link KINDS} is served now (policy kinds); undefined: not served, not written. */
  spec?(kind: string): Pick<KindSpec, "group" | "version" | "plural"> | undefined;
  /** The clock: RFC 3339 (seconds). */
  now?: () => string;
}

/** Counts of one pass, for logs and tests. */
export interface PassResult {
  written: number;
  unchanged: number;
  conflicts: number;
  failed: number;
}

type Work = {
  kind: string;
  namespace: string;
  name: string;
  /** A policy kind: where its status comes from. */
  policy?: KindEntry;
};

export class StatusWriter {
  readonly #o: StatusWriterOptions;
  #latest: { resources: ResourceSet; report: StatusReport } | undefined;
  #running = false;
  #dirty = false;
  #failures = 0;
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;
  #idle: Promise<void> = Promise.resolve();

  constructor(opts: StatusWriterOptions) {
    this.#o = opts;
  }

  /** A configuration was applied: write its status (when leader). */
  update(resources: ResourceSet, report: StatusReport): void {
    this.#latest = { resources, report };
    this.kick();
  }

  /** Runs a pass now (after gaining leadership, or when a configuration arrived). */
  kick(): void {
    if (this.#stopped || this.#latest === undefined || !this.#o.isLeader()) return;
    if (this.#running) {
      this.#dirty = true;
      return;
    }
    this.#idle = this.#loop();
  }

  /** Stops writing; resolves after the pass in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    await this.#idle;
  }

  async #loop(): Promise<void> {
    this.#running = true;
    try {
      do {
        this.#dirty = false;
        const latest = this.#latest;
        if (latest === undefined || this.#stopped || !this.#o.isLeader()) break;
        const r = await this.pass(latest.resources, latest.report);
        if (r.written > 0 || r.failed > 0 || r.conflicts > 0) this.#o.log.info({ ...r }, "status written");
        else this.#o.log.debug({ ...r }, "status unchanged");
        if (r.failed > 0) {
          this.#failures++;
          const delay = Math.min(30_000, 500 * 2 ** (this.#failures - 1));
          if (this.#retry !== undefined) clearTimeout(this.#retry);
          this.#retry = setTimeout(() => {
            this.#retry = undefined;
            this.kick();
          }, delay);
          this.#retry.unref();
        } else {
          this.#failures = 0;
        }
      } while (this.#dirty);
    } finally {
      this.#running = false;
    }
  }

  /** One pass over every object we may own a status of. */
  async pass(resources: ResourceSet, report: StatusReport): Promise<PassResult> {
    const work: Work[] = [];
    for (const c of resources.gatewayClasses) {
      if (this.#o.classControllerNames.includes(c.spec.controllerName))
        work.push({ kind: "GatewayClass", namespace: "", name: c.metadata.name });
    }
    for (const key of report.gateways.keys()) work.push({ kind: "Gateway", ...split(key) });
    // Every route: one with none of our parents now may still carry stale entries of ours.
    for (const r of resources.grpcRoutes)
      work.push({ kind: "GRPCRoute", namespace: r.metadata.namespace, name: r.metadata.name });
    // Every policy, for the same reason.
    for (const entry of KINDS) {
      const policy = entry.policyStatus !== undefined || entry.conditionsStatus !== undefined;
      if (!policy || this.#spec(entry.kind) === undefined) continue;
      for (const p of resources[entry.list] as { metadata: { namespace?: string; name: string } }[])
        work.push({
          kind: entry.kind,
          namespace: p.metadata.namespace ?? "",
          name: p.metadata.name,
          policy: entry,
        });
    }

    const result: PassResult = { written: 0, unchanged: 0, conflicts: 0, failed: 0 };
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < work.length && !this.#stopped && this.#o.isLeader()) {
        const w = work[next++]!;
        try {
          await this.#writeOne(w, report, result);
          if (w.kind === "GRPCRoute") await this.#annotate(w, report);
        } catch (err: unknown) {
          result.failed++;
          const e = err instanceof KubeApiError ? err : undefined;
          this.#o.log.warn(
            {
              code: e?.code ?? GW_ERR_STATUS_WRITE,
              kind: w.kind,
              object: w.namespace === "" ? w.name : `${w.namespace}/${w.name}`,
              reason: err instanceof Error ? err.message : String(err),
            },
            "status write failed; retrying",
          );
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    return result;
  }

  async #writeOne(w: Work, report: StatusReport, result: PassResult): Promise<void> {
    const spec = this.#spec(w.kind);
    if (spec === undefined) return;
    const path = `${objectPath(spec, w.namespace, w.name)}/status`;
    let obj = this.#o.live(w.kind, w.namespace, w.name);
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      if (obj === undefined) return;
      const desired = this.#desired(w, obj, report);
      if (desired === undefined || isDeepStrictEqual(desired, obj.status)) {
        if (attempt === 0) result.unchanged++;
        return;
      }
      try {
        await this.#o.client.request("PUT", path, { body: { ...obj, status: desired } });
        result.written++;
        return;
      } catch (err: unknown) {
        if (err instanceof KubeApiError && err.status === 404) return;
        if (!(err instanceof KubeApiError && err.status === 409)) throw err;
        result.conflicts++;
        obj = await this.#read(w);
      }
    }
    throw new GatewayError(
      GW_ERR_STATUS_WRITE,
      `PUT ${path}: still conflicting after ${MAX_CONFLICT_RETRIES} tries`,
    );
  }

  async #read(w: Work): Promise<RawObject | undefined> {
    try {
      const spec = this.#spec(w.kind);
      if (spec === undefined) return undefined;
      return await this.#o.client.request<RawObject>("GET", objectPath(spec, w.namespace, w.name));
    } catch (err: unknown) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  #spec(kind: string): Pick<KindSpec, "group" | "version" | "plural"> | undefined {
    return kind in SPECS ? SPECS[kind as keyof typeof SPECS] : this.#o.spec?.(kind);
  }

  /** The status the object should have, stamped against its current status; undefined: not ours. */
  #desired(w: Work, obj: RawObject, report: StatusReport): unknown {
    const now = (this.#o.now ?? nowSeconds)();
    const current = isRecord(obj.status) ? obj.status : {};
    const generation = typeof obj.metadata?.generation === "number" ? obj.metadata.generation : 1;
    const key = `${w.namespace}/${w.name}`;
    switch (w.kind) {
      case "GatewayClass": {
        const conditions = stampGatewayStatus(
          {
            addresses: [],
            listeners: [],
            conditions: [
              {
                type: "Accepted",
                status: "True",
                reason: "Accepted",
                message: "",
                observedGeneration: generation,
              },
              {
                type: "SupportedVersion",
                status: "True",
                reason: "SupportedVersion",
                message: `the API server serves ${GATEWAY_GROUP}/v1 with GRPCRoute (Gateway API ${SUPPORTED_API_VERSION})`,
                observedGeneration: generation,
              },
            ],
          },
          current,
          now,
        ).conditions;
        return { ...current, conditions };
      }
      case "Gateway": {
        const st = report.gateways.get(key);
        return st === undefined ? undefined : stampGatewayStatus(st, current, now);
      }
      case "GRPCRoute": {
        const ours = report.grpcRoutes.get(key)?.parents ?? [];
        const before = Array.isArray(current.parents) ? (current.parents as unknown[]) : [];
        const others = before.filter(
          (p) => !(isRecord(p) && this.#o.controllerNames.includes(String(p.controllerName))),
        );
        const parents = [...others, ...stampParents(ours, before, now)];
        if (parents.length === 0 && before.length === 0 && !("parents" in current)) return undefined;
        return { ...current, parents };
      }
    }
    if (w.policy?.conditionsStatus !== undefined) {
      const ours = w.policy.conditionsStatus(report).get(key)?.conditions;
      if (ours === undefined) return undefined;
      return { ...current, conditions: mergeConditions(ours, current.conditions, now) };
    }
    if (w.policy?.policyStatus === undefined) return undefined;
    const before = Array.isArray(current.ancestors) ? (current.ancestors as unknown[]) : [];
    const others = before.filter(
      (a) => !(isRecord(a) && this.#o.controllerNames.includes(String(a.controllerName))),
    );
    const ours = w.policy.policyStatus(report).get(key)?.ancestors ?? [];
    const room = Math.max(0, MAX_ANCESTORS - others.length);
    const ancestors = [...others, ...stampAncestors(ours.slice(0, room), before, now)];
    if (ancestors.length === 0 && before.length === 0 && !("ancestors" in current)) return undefined;
    return { ...current, ancestors };
  }

  async #annotate(w: Work, report: StatusReport): Promise<void> {
    const want = report.routeAnnotations.get(`${w.namespace}/${w.name}`);
    if (want === undefined) return;
    const obj = this.#o.live("GRPCRoute", w.namespace, w.name);
    const meta = (obj?.metadata ?? {}) as { annotations?: Record<string, string> };
    const have = meta.annotations ?? {};
    const missing = Object.fromEntries(Object.entries(want).filter(([k, v]) => have[k] !== v));
    if (obj === undefined || Object.keys(missing).length === 0) return;
    await this.#o.client.request("PATCH", objectPath(SPECS.GRPCRoute, w.namespace, w.name), {
      body: { metadata: { annotations: missing } },
      contentType: "application/merge-patch+json",
    });
  }
}

const SPECS = {
  GatewayClass: { group: GATEWAY_GROUP, version: "v1", plural: "gatewayclasses" },
  Gateway: { group: GATEWAY_GROUP, version: "v1", plural: "gateways" },
  GRPCRoute: { group: GATEWAY_GROUP, version: "v1", plural: "grpcroutes" },
} as const;

/**
 * A `status.conditions` list with ours (stamped against the current ones) in place of the conditions of the
 * same types; conditions of other types are kept, in their order, and ours cut to stay within
 * {@link MAX_POLICY_CONDITIONS}.
 */
export function mergeConditions(ours: readonly Condition[], current: unknown, now: string): unknown[] {
  const before = Array.isArray(current) ? (current as unknown[]) : [];
  const types = new Set(ours.map((c) => c.type));
  const others = before.filter((c) => !(isRecord(c) && types.has(String(c.type))));
  const room = Math.max(0, MAX_POLICY_CONDITIONS - others.length);
  return [...others, ...stampConditions(ours.slice(0, room), before, now)];
}

function split(key: string): { namespace: string; name: string } {
  const i = key.indexOf("/");
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Now, as RFC 3339 with whole seconds (metav1.Time's precision). */
export function nowSeconds(): string {
  return `${new Date().toISOString().slice(0, 19)}Z`;
}
