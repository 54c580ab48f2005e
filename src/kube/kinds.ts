/**
 * The kinds controller mode reads from the API server: one entry per kind, saying where it is served, how
 * it is narrowed (Secrets of type `kubernetes.io/tls` only, EndpointSlices that belong to a Service only,
 * ConfigMaps only in the namespaces of BackendTLSPolicies that name one: what the gateway can use, and
 * nothing more of what a cluster holds), whether its CRD may be missing, whether it is read only with
 * `--lattice`, and which status we write to it. Adding a kind is one entry here (and its schema in
 * src/api/parse.ts).
 */
import {
  type ConditionsStatus,
  GATEWAY_GROUP,
  GRPCROUTE_GROUP,
  LATTICE_GROUP,
  type ObjectKey,
  type PolicyStatus,
  type ResourceSet,
} from "../api/types.js";
import type { StatusReport } from "../translate/types.js";

/** An object as the API server sends it. */
export type RawObject = Record<string, unknown> & {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; generation?: number };
};

/** One kind as controller mode reads it. */
export interface KindEntry {
  kind: string;
  group: string;
  /**
   * Versions in order of preference. With more than one (or when `optional`), the first one discovery finds
   * served is used; otherwise the only one is used without asking.
   */
  versions: readonly string[];
  /** The resource name in URLs. */
  plural: string;
  namespaced: boolean;
  /** The list of a {@link ResourceSet} its objects go to. */
  list: keyof ResourceSet;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Its CRD may not be installed: while discovery does not find it (or its list answers 404) the kind is
   * read as empty, and discovery is asked again with backoff.
   */
  optional?: boolean;
  /**
   * Read only in these namespaces (one list and watch each), for a kind no selector can narrow. Given the
   * objects read so far of another kind.
   */
  scope?: { from: string; namespaces(objects: Iterable<RawObject>): Set<string> };
  /** Its `status.ancestors` (GEP-713) as the translation reports them: ours to write. */
  policyStatus?: (report: StatusReport) => ReadonlyMap<ObjectKey, PolicyStatus>;
  /**
   * Its `status.conditions` as the translation reports them (a kind whose status has no ancestors, as the
   * AWS controller writes TargetGroupPolicy's): the condition types we report are ours to write.
   */
  conditionsStatus?: (report: StatusReport) => ReadonlyMap<ObjectKey, ConditionsStatus>;
  /**
   * Read (and its status written) only when controller mode serves Lattice-profile classes (`--lattice`):
   * otherwise the AWS controller owns the kind, and it is not listed at all (no RBAC needed for it).
   */
  latticeOnly?: boolean;
}

/** The kinds in the order snapshots list them. */
export const KINDS: readonly KindEntry[] = [
  {
    kind: "GatewayClass",
    group: GATEWAY_GROUP,
    versions: ["v1"],
    plural: "gatewayclasses",
    namespaced: false,
    list: "gatewayClasses",
  },
  {
    kind: "Gateway",
    group: GATEWAY_GROUP,
    versions: ["v1"],
    plural: "gateways",
    namespaced: true,
    list: "gateways",
  },
  {
    kind: "GRPCRoute",
    group: GATEWAY_GROUP,
    versions: ["v1"],
    plural: "grpcroutes",
    namespaced: true,
    list: "grpcRoutes",
  },
  {
    kind: "ReferenceGrant",
    group: GATEWAY_GROUP,
    // v1 since Gateway API v1.3; v1beta1 before.
    versions: ["v1", "v1beta1"],
    plural: "referencegrants",
    namespaced: true,
    list: "referenceGrants",
  },
  {
    kind: "Namespace",
    group: "",
    versions: ["v1"],
    plural: "namespaces",
    namespaced: false,
    list: "namespaces",
  },
  { kind: "Service", group: "", versions: ["v1"], plural: "services", namespaced: true, list: "services" },
  {
    kind: "Secret",
    group: "",
    versions: ["v1"],
    plural: "secrets",
    namespaced: true,
    list: "secrets",
    fieldSelector: "type=kubernetes.io/tls",
  },
  {
    kind: "EndpointSlice",
    group: "discovery.k8s.io",
    versions: ["v1"],
    plural: "endpointslices",
    namespaced: true,
    list: "endpointSlices",
    labelSelector: "kubernetes.io/service-name",
  },
  {
    kind: "TrafficPolicy",
    group: GRPCROUTE_GROUP,
    versions: ["v1alpha1"],
    plural: "trafficpolicies",
    namespaced: true,
    list: "trafficPolicies",
    optional: true,
    policyStatus: (r) => r.trafficPolicies,
  },
  {
    kind: "BackendTLSPolicy",
    group: GATEWAY_GROUP,
    // v1 in the standard channel since Gateway API v1.4; v1alpha3 (same shape) in the experimental channel of
    // v1.1 to v1.4. v1alpha2 (v1.0) has another shape and is not read.
    versions: ["v1", "v1alpha3"],
    plural: "backendtlspolicies",
    namespaced: true,
    list: "backendTLSPolicies",
    optional: true,
    policyStatus: (r) => r.backendTLSPolicies,
  },
  {
    // ConfigMaps have no type and no label a selector could narrow them by; a BackendTLSPolicy names its
    // CA ConfigMaps in its own namespace only, so those namespaces are the ones read.
    kind: "ConfigMap",
    group: "",
    versions: ["v1"],
    plural: "configmaps",
    namespaced: true,
    list: "configMaps",
    scope: { from: "BackendTLSPolicy", namespaces: caConfigMapNamespaces },
  },
  {
    // The AWS Gateway API Controller's kind: ours to read and answer only while we emulate Lattice.
    kind: "TargetGroupPolicy",
    group: LATTICE_GROUP,
    versions: ["v1alpha1"],
    plural: "targetgrouppolicies",
    namespaced: true,
    list: "targetGroupPolicies",
    optional: true,
    latticeOnly: true,
    conditionsStatus: (r) => r.targetGroupPolicies,
  },
];

/** The entry of a kind. */
export function kindEntry(kind: string): KindEntry | undefined {
  return KINDS.find((k) => k.kind === kind);
}

/** The kinds controller mode reads: {@link KINDS}, less the Lattice-only ones without `--lattice`. */
export function kindsFor(opts: { lattice: boolean }): KindEntry[] {
  return KINDS.filter((k) => opts.lattice || k.latticeOnly !== true);
}

/** Namespaces of the BackendTLSPolicies that name a ConfigMap as a CA certificate. */
function caConfigMapNamespaces(policies: Iterable<RawObject>): Set<string> {
  const out = new Set<string>();
  for (const p of policies) {
    const spec = p.spec as { validation?: { caCertificateRefs?: unknown } } | undefined;
    const refs = spec?.validation?.caCertificateRefs;
    if (!Array.isArray(refs)) continue;
    const ns = p.metadata?.namespace;
    if (typeof ns !== "string" || ns === "") continue;
    if (refs.some((r) => isRecord(r) && (r.group ?? "") === "" && r.kind === "ConfigMap")) out.add(ns);
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** One kind at the version in use, as reflectors list and watch it. */
export interface KindSpec {
  kind: string;
  group: string;
  version: string;
  /** The resource name in URLs. */
  plural: string;
  namespaced: boolean;
  labelSelector?: string;
  fieldSelector?: string;
  /** List and watch in this namespace only (a scoped kind). */
  namespace?: string;
  /** A 404 means the CRD is gone: the reflector stops instead of retrying. */
  optional?: boolean;
}

/** The spec of an entry at `version`. */
export function specOf(e: KindEntry, version: string, namespace?: string): KindSpec {
  const s: KindSpec = {
    kind: e.kind,
    group: e.group,
    version,
    plural: e.plural,
    namespaced: e.namespaced,
  };
  if (e.labelSelector !== undefined) s.labelSelector = e.labelSelector;
  if (e.fieldSelector !== undefined) s.fieldSelector = e.fieldSelector;
  if (namespace !== undefined) s.namespace = namespace;
  if (e.optional === true) s.optional = true;
  return s;
}

/** `/api/v1` or `/apis/<group>/<version>`. */
export function groupVersionPath(group: string, version: string): string {
  return group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
}

/** The collection path of a kind (list and watch): across namespaces, or in its one namespace. */
export function collectionPath(k: KindSpec): string {
  const ns = k.namespace === undefined ? "" : `/namespaces/${encodeURIComponent(k.namespace)}`;
  return `${groupVersionPath(k.group, k.version)}${ns}/${k.plural}`;
}

/** The path of one object. */
export function objectPath(
  k: Pick<KindSpec, "group" | "version" | "plural">,
  namespace: string,
  name: string,
): string {
  const ns = namespace === "" ? "" : `/namespaces/${encodeURIComponent(namespace)}`;
  return `${groupVersionPath(k.group, k.version)}${ns}/${k.plural}/${encodeURIComponent(name)}`;
}

/** `apiVersion` of a kind. */
export function apiVersionOf(k: Pick<KindSpec, "group" | "version">): string {
  return k.group === "" ? k.version : `${k.group}/${k.version}`;
}
