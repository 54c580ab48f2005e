/**
 * The object store of the fake API server: resource versions, generation, watches with history, label and
 * field selectors, and the validation a real API server does on the points controllers get wrong.
 * @internal test-only
 */
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";

export interface ResourceDef {
  group: string;
  version: string;
  /** Other versions served for the same objects (ReferenceGrant v1beta1). */
  alsoVersions?: string[];
  kind: string;
  plural: string;
  namespaced: boolean;
  /** Has a `/status` subresource. */
  status: boolean;
  /** `metadata.generation` is kept (bumped by spec changes only). */
  generation: boolean;
  /** The CRD's default for `status`, set on objects created without one (as its structural schema does). */
  defaultStatus?: Record<string, unknown>;
}

const GW = "gateway.networking.k8s.io";
export const RESOURCES: ResourceDef[] = [
  {
    group: GW,
    version: "v1",
    kind: "GatewayClass",
    plural: "gatewayclasses",
    namespaced: false,
    status: true,
    generation: true,
  },
  {
    group: GW,
    version: "v1",
    kind: "Gateway",
    plural: "gateways",
    namespaced: true,
    status: true,
    generation: true,
  },
  {
    group: GW,
    version: "v1",
    kind: "GRPCRoute",
    plural: "grpcroutes",
    namespaced: true,
    status: true,
    generation: true,
  },
  {
    group: GW,
    version: "v1",
    alsoVersions: ["v1beta1"],
    kind: "ReferenceGrant",
    plural: "referencegrants",
    namespaced: true,
    status: false,
    generation: true,
  },
  {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    namespaced: false,
    status: true,
    generation: false,
  },
  {
    group: "",
    version: "v1",
    kind: "Service",
    plural: "services",
    namespaced: true,
    status: true,
    generation: false,
  },
  {
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
    namespaced: true,
    status: false,
    generation: false,
  },
  {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
    namespaced: true,
    status: false,
    generation: false,
  },
  {
    group: "discovery.k8s.io",
    version: "v1",
    kind: "EndpointSlice",
    plural: "endpointslices",
    namespaced: true,
    status: false,
    generation: false,
  },
  {
    group: GW,
    version: "v1",
    // Served as v1 or as v1alpha3 (FakeApiServerOptions.backendTLSPolicy), as Gateway API v1.4 or v1.1-v1.3.
    alsoVersions: ["v1alpha3"],
    kind: "BackendTLSPolicy",
    plural: "backendtlspolicies",
    namespaced: true,
    status: true,
    generation: true,
  },
  {
    group: "grpcroute.dev",
    version: "v1alpha1",
    kind: "TrafficPolicy",
    plural: "trafficpolicies",
    namespaced: true,
    status: true,
    generation: true,
  },
  {
    // The AWS Gateway API Controller's CRD (its recent versions, with the status subresource and the
    // default below; status.conditions are metav1.Conditions, at most 8, one per type).
    group: "application-networking.k8s.aws",
    version: "v1alpha1",
    kind: "TargetGroupPolicy",
    plural: "targetgrouppolicies",
    namespaced: true,
    status: true,
    generation: true,
    defaultStatus: {
      conditions: [
        {
          type: "Accepted",
          status: "Unknown",
          reason: "NotReconciled",
          message: "Waiting for controller",
          lastTransitionTime: "1970-01-01T00:00:00Z",
        },
      ],
    },
  },
  {
    group: "coordination.k8s.io",
    version: "v1",
    kind: "Lease",
    plural: "leases",
    namespaced: true,
    status: false,
    generation: false,
  },
];

export type Obj = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata: Record<string, unknown> & {
    name: string;
    namespace?: string | undefined;
    resourceVersion?: string | undefined;
    labels?: Record<string, string>;
  };
};

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: Obj;
  rv: number;
}

/** An API error: the HTTP status and the Status object's reason and message. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Selector {
  labels?: string;
  fields?: string;
}

/** label selectors: `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, comma-separated. */
export function matchesLabels(labels: Record<string, string>, selector: string | undefined): boolean {
  if (selector === undefined || selector.trim() === "") return true;
  const parts = selector.match(/([^,(]+(\([^)]*\))?)/g) ?? [];
  return parts.every((raw) => {
    const p = raw.trim();
    let m = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p);
    if (m) {
      const vals = (m[3] ?? "").split(",").map((v) => v.trim());
      const has = labels[m[1]!] !== undefined && vals.includes(labels[m[1]!]!);
      return m[2] === "in" ? has : !has;
    }
    m = /^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/.exec(p);
    if (m) return m[2] === "!=" ? labels[m[1]!] !== m[3] : labels[m[1]!] === m[3];
    if (p.startsWith("!")) return labels[p.slice(1)] === undefined;
    return labels[p] !== undefined;
  });
}

/** field selectors the real server supports on every kind, plus Secret `type`. */
export function matchesFields(o: Obj, selector: string | undefined): boolean {
  if (selector === undefined || selector === "") return true;
  return selector.split(",").every((p) => {
    const m = /^([^!=]+)(==|=|!=)(.*)$/.exec(p.trim());
    if (!m) throw new ApiError(400, "BadRequest", `invalid field selector: ${p}`);
    const field = m[1]!;
    let value: unknown;
    if (field === "metadata.name") value = o.metadata.name;
    else if (field === "metadata.namespace") value = o.metadata.namespace ?? "";
    else if (field === "type" && o.kind === "Secret") value = o.type ?? "Opaque";
    else throw new ApiError(400, "BadRequest", `field label not supported: ${field}`);
    return m[2] === "!=" ? value !== m[3] : value === m[3];
  });
}

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** The checks of a real API server that matter to controllers, with its status codes. */
export function validate(def: ResourceDef, o: Obj): void {
  if (def.kind === "Lease") {
    // metav1.MicroTime's decoder: anything but six fractional digits is a 400 (the body cannot be decoded).
    const spec = (o.spec ?? {}) as Record<string, unknown>;
    for (const f of ["acquireTime", "renewTime"]) {
      const v = spec[f];
      if (v !== undefined && v !== null && (typeof v !== "string" || !MICRO_TIME.test(v))) {
        throw new ApiError(
          400,
          "BadRequest",
          `Lease in version "v1" cannot be handled as a Lease: parsing time ${JSON.stringify(v)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse`,
        );
      }
    }
  }
  if (def.group === "application-networking.k8s.aws" && o.status !== undefined) {
    const problems = metav1Conditions((o.status as Record<string, unknown>).conditions, "status.conditions");
    if (problems.length > 0) {
      throw new ApiError(
        422,
        "Invalid",
        `${def.kind}.${def.group} "${o.metadata.name}" is invalid: ${problems.join(", ")}`,
      );
    }
  }
  if (
    (def.group === "gateway.networking.k8s.io" || def.group === "grpcroute.dev") &&
    o.status !== undefined
  ) {
    const problems: string[] = [];
    const check = (conds: unknown, path: string): void => {
      if (!Array.isArray(conds)) return;
      conds.forEach((c: Record<string, unknown>, i) => {
        for (const f of ["type", "status", "reason", "message", "lastTransitionTime"]) {
          if (c[f] === undefined || c[f] === null) problems.push(`${path}[${i}].${f}: Required value`);
        }
        if (typeof c.lastTransitionTime === "string" && !RFC3339.test(c.lastTransitionTime))
          problems.push(`${path}[${i}].lastTransitionTime: Invalid value: must be a date-time`);
      });
    };
    const st = o.status as Record<string, unknown>;
    check(st.conditions, "status.conditions");
    (Array.isArray(st.listeners) ? st.listeners : []).forEach((l: Record<string, unknown>, i) => {
      check(l.conditions, `status.listeners[${i}].conditions`);
    });
    (Array.isArray(st.parents) ? st.parents : []).forEach((p: Record<string, unknown>, i) => {
      if (typeof p.controllerName !== "string")
        problems.push(`status.parents[${i}].controllerName: Required value`);
      check(p.conditions, `status.parents[${i}].conditions`);
    });
    // GEP-713 PolicyStatus: at most 16 ancestors, each with an ancestorRef and a controllerName.
    const ancestors = Array.isArray(st.ancestors) ? st.ancestors : [];
    if (ancestors.length > 16)
      problems.push(`status.ancestors: Too many: ${ancestors.length}: must have at most 16 items`);
    ancestors.forEach((a: Record<string, unknown>, i) => {
      const ref = a.ancestorRef as Record<string, unknown> | undefined;
      if (typeof ref?.name !== "string")
        problems.push(`status.ancestors[${i}].ancestorRef.name: Required value`);
      if (typeof a.controllerName !== "string")
        problems.push(`status.ancestors[${i}].controllerName: Required value`);
      check(a.conditions, `status.ancestors[${i}].conditions`);
    });
    if (problems.length > 0) {
      throw new ApiError(
        422,
        "Invalid",
        `${def.kind}.${def.group} "${o.metadata.name}" is invalid: ${problems.join(", ")}`,
      );
    }
  }
}

const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/**
 * A `[]metav1.Condition` list as a CRD generated by controller-gen checks it (the AWS controller's): every
 * field but observedGeneration required, status True|False|Unknown, reason CamelCase, at most 8 items, one
 * per type (`x-kubernetes-list-type: map` keyed by type).
 */
function metav1Conditions(conds: unknown, path: string): string[] {
  if (conds === undefined) return [];
  if (!Array.isArray(conds)) return [`${path}: Invalid value: must be an array`];
  const problems: string[] = [];
  if (conds.length > 8) problems.push(`${path}: Too many: ${conds.length}: must have at most 8 items`);
  const types = new Set<unknown>();
  conds.forEach((c: Record<string, unknown>, i) => {
    for (const f of ["type", "status", "reason", "message", "lastTransitionTime"]) {
      if (c[f] === undefined || c[f] === null) problems.push(`${path}[${i}].${f}: Required value`);
    }
    if (typeof c.lastTransitionTime === "string" && !RFC3339.test(c.lastTransitionTime))
      problems.push(`${path}[${i}].lastTransitionTime: Invalid value: must be a date-time`);
    if (c.status !== undefined && !["True", "False", "Unknown"].includes(String(c.status)))
      problems.push(`${path}[${i}].status: Unsupported value: ${JSON.stringify(c.status)}`);
    if (typeof c.reason === "string" && !REASON.test(c.reason))
      problems.push(`${path}[${i}].reason: Invalid value: ${JSON.stringify(c.reason)}`);
    if (
      c.observedGeneration !== undefined &&
      !(Number.isInteger(c.observedGeneration) && Number(c.observedGeneration) >= 0)
    )
      problems.push(`${path}[${i}].observedGeneration: Invalid value: must be an integer >= 0`);
    if (types.has(c.type))
      problems.push(`${path}[${i}]: Duplicate value: {"type":${JSON.stringify(c.type)}}`);
    types.add(c.type);
  });
  return problems;
}

const NAMESPACE = RESOURCES.find((r) => r.kind === "Namespace")!;

/** The objects, by resource, with a global resourceVersion and a history for watches. */
export class Store {
  rv = 100;
  readonly objects = new Map<string, Map<string, Obj>>();
  readonly history: { def: ResourceDef; ev: WatchEvent }[] = [];
  /** Events older than this resourceVersion are forgotten: a watch from before it gets 410. */
  compactedTo = 0;
  readonly #listeners = new Set<(def: ResourceDef, ev: WatchEvent) => void>();

  table(def: ResourceDef): Map<string, Obj> {
    let t = this.objects.get(def.plural);
    if (t === undefined) {
      t = new Map();
      this.objects.set(def.plural, t);
    }
    return t;
  }

  onEvent(fn: (def: ResourceDef, ev: WatchEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Forgets every event so far: watches that resume from an older resourceVersion get 410 Gone. */
  compact(): void {
    this.compactedTo = this.rv;
    this.history.length = 0;
  }

  #emit(def: ResourceDef, type: WatchEvent["type"], object: Obj): void {
    const ev: WatchEvent = { type, object: structuredClone(object), rv: this.rv };
    this.history.push({ def, ev });
    if (this.history.length > 10_000) {
      const dropped = this.history.splice(0, 5000);
      this.compactedTo = dropped[dropped.length - 1]?.ev.rv ?? this.compactedTo;
    }
    for (const fn of this.#listeners) fn(def, ev);
  }

  get(def: ResourceDef, ns: string, name: string): Obj {
    const o = this.table(def).get(`${ns}/${name}`);
    if (o === undefined)
      throw new ApiError(404, "NotFound", `${def.plural}.${def.group || "core"} "${name}" not found`);
    return o;
  }

  list(def: ResourceDef, ns: string | undefined, sel: Selector): Obj[] {
    return [...this.table(def).values()]
      .filter((o) => ns === undefined || (o.metadata.namespace ?? "") === ns)
      .filter((o) => matchesLabels(o.metadata.labels ?? {}, sel.labels) && matchesFields(o, sel.fields))
      .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
  }

  create(def: ResourceDef, ns: string, body: Obj): Obj {
    const name = body.metadata?.name;
    if (typeof name !== "string" || name === "")
      throw new ApiError(422, "Invalid", "metadata.name: Required value");
    if (this.table(def).has(`${ns}/${name}`))
      throw new ApiError(
        409,
        "AlreadyExists",
        `${def.plural}.${def.group || "core"} "${name}" already exists`,
      );
    if (def.namespaced && def.kind !== "Namespace" && !this.table(NAMESPACE).has(`/${ns}`))
      throw new ApiError(404, "NotFound", `namespaces "${ns}" not found`);
    validate(def, body);
    this.rv++;
    const o: Obj = structuredClone(body);
    o.apiVersion = def.group === "" ? def.version : `${def.group}/${def.version}`;
    o.kind = def.kind;
    o.metadata = {
      ...o.metadata,
      ...(def.namespaced ? { namespace: ns } : {}),
      uid: randomUUID(),
      resourceVersion: String(this.rv),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    };
    delete o.metadata.generation;
    if (def.generation) o.metadata.generation = 1;
    if (def.status && def.group !== "") delete o.status;
    if (def.defaultStatus !== undefined) o.status = structuredClone(def.defaultStatus);
    this.table(def).set(`${ns}/${name}`, o);
    this.#emit(def, "ADDED", o);
    return o;
  }

  /**
   * Update (PUT): the resourceVersion must be given and current (409 otherwise). On the main resource the
   * status is kept as it was; on `/status` only the status changes. Generation moves with the spec only.
   */
  update(def: ResourceDef, ns: string, name: string, body: Obj, subresource: "" | "status"): Obj {
    const cur = this.get(def, ns, name);
    const rv = body.metadata?.resourceVersion;
    if (rv === undefined || rv === "")
      throw new ApiError(
        422,
        "Invalid",
        `${def.kind} "${name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`,
      );
    if (rv !== cur.metadata.resourceVersion)
      throw new ApiError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${def.plural}.${def.group || "core"} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    return this.#replace(def, cur, body, subresource);
  }

  /** JSON merge patch (RFC 7386); kubectl's strategic merge patches are applied as merge patches. */
  patch(def: ResourceDef, ns: string, name: string, patch: unknown, subresource: "" | "status"): Obj {
    const cur = this.get(def, ns, name);
    const merged = mergePatch(structuredClone(cur), patch) as Obj;
    const rv = (patch as Obj)?.metadata?.resourceVersion;
    if (rv !== undefined && rv !== cur.metadata.resourceVersion)
      throw new ApiError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${def.plural} "${name}": the object has been modified`,
      );
    merged.metadata.resourceVersion = cur.metadata.resourceVersion;
    return this.#replace(def, cur, merged, subresource);
  }

  #replace(def: ResourceDef, cur: Obj, body: Obj, subresource: "" | "status"): Obj {
    const next: Obj = structuredClone(cur);
    if (subresource === "status") {
      next.status = structuredClone(body.status);
    } else {
      for (const k of Object.keys(next))
        if (k !== "metadata" && k !== "status" && k !== "apiVersion" && k !== "kind") delete next[k];
      for (const [k, v] of Object.entries(body)) {
        if (k === "metadata" || k === "apiVersion" || k === "kind") continue;
        if (k === "status" && def.status && def.group !== "") continue;
        next[k] = structuredClone(v);
      }
      const m = body.metadata ?? {};
      for (const f of ["labels", "annotations", "finalizers", "ownerReferences"]) {
        if (m[f] === undefined) delete next.metadata[f];
        else next.metadata[f] = structuredClone(m[f]);
      }
    }
    validate(def, next);
    if (isDeepStrictEqual(next, cur)) return cur; // a no-op write changes nothing, as on a real server
    if (def.generation && !isDeepStrictEqual(next.spec, cur.spec)) {
      next.metadata.generation = Number(cur.metadata.generation ?? 1) + 1;
    }
    this.rv++;
    next.metadata.resourceVersion = String(this.rv);
    this.table(def).set(`${cur.metadata.namespace ?? ""}/${cur.metadata.name}`, next);
    this.#emit(def, "MODIFIED", next);
    return next;
  }

  delete(def: ResourceDef, ns: string, name: string): Obj {
    const cur = this.get(def, ns, name);
    this.table(def).delete(`${ns}/${name}`);
    this.rv++;
    const gone = { ...cur, metadata: { ...cur.metadata, resourceVersion: String(this.rv) } };
    this.#emit(def, "DELETED", gone);
    return gone;
  }
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out = (
    target !== null && typeof target === "object" && !Array.isArray(target) ? target : {}
  ) as Record<string, unknown>;
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (k.startsWith("$")) continue; // strategic merge patch directives
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
