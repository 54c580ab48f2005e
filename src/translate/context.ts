/**
 * Read-only indexes over one ResourceSet, built once per translation so lookups are by key, not by scan.
 */
import type { EndpointSlice, Namespace, ReferenceGrant, ResourceSet, Secret, Service } from "../api/types.js";
import { BackendTlsPolicies } from "./policies/backend-tls.js";

/** Label Kubernetes puts on every Namespace; we add it when a Namespace object is not given. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

export interface Indexes {
  readonly resources: ResourceSet;
  readonly services: ReadonlyMap<string, Service>;
  /** EndpointSlices by `namespace/serviceName`, sorted by slice name. */
  readonly endpointSlices: ReadonlyMap<string, EndpointSlice[]>;
  readonly secrets: ReadonlyMap<string, Secret>;
  /** ReferenceGrants by namespace (the target namespace they live in). */
  readonly referenceGrants: ReadonlyMap<string, ReferenceGrant[]>;
  readonly namespaces: ReadonlyMap<string, Namespace>;
  /** The BackendTLSPolicies, resolved: the TLS each Service port gets. */
  readonly backendTls: BackendTlsPolicies;
}

function key(ns: string, name: string): string {
  return `${ns}/${name}`;
}

export function buildIndexes(resources: ResourceSet): Indexes {
  const services = new Map<string, Service>();
  for (const s of resources.services) services.set(key(s.metadata.namespace, s.metadata.name), s);
  const endpointSlices = new Map<string, EndpointSlice[]>();
  for (const e of resources.endpointSlices) {
    const k = key(e.metadata.namespace, e.spec.serviceName);
    const list = endpointSlices.get(k) ?? [];
    list.push(e);
    endpointSlices.set(k, list);
  }
  for (const list of endpointSlices.values()) {
    list.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  }
  const secrets = new Map<string, Secret>();
  for (const s of resources.secrets) secrets.set(key(s.metadata.namespace, s.metadata.name), s);
  const referenceGrants = new Map<string, ReferenceGrant[]>();
  for (const g of resources.referenceGrants) {
    const list = referenceGrants.get(g.metadata.namespace) ?? [];
    list.push(g);
    referenceGrants.set(g.metadata.namespace, list);
  }
  const namespaces = new Map<string, Namespace>();
  for (const n of resources.namespaces) namespaces.set(n.metadata.name, n);
  const backendTls = new BackendTlsPolicies(resources, services);
  return { resources, services, endpointSlices, secrets, referenceGrants, namespaces, backendTls };
}

/** The labels of a namespace (its object's labels, plus the name label Kubernetes always sets). */
export function namespaceLabels(idx: Indexes, ns: string): Record<string, string> {
  const obj = idx.namespaces.get(ns);
  return { ...(obj?.metadata.labels ?? {}), [NAMESPACE_NAME_LABEL]: ns };
}

/**
 * Whether a ReferenceGrant in the target namespace allows a reference (reference section 3.4): one `from`
 * entry names the referrer's group, kind and namespace, and one `to` entry names the target's group and
 * kind, with no `name` (every object of that kind) or the target's name. Entries combine with OR.
 */
export function referenceGranted(
  idx: Indexes,
  from: { group: string; kind: string; namespace: string },
  to: { group: string; kind: string; namespace: string; name: string },
): boolean {
  for (const g of idx.referenceGrants.get(to.namespace) ?? []) {
    const fromOk = g.spec.from.some(
      (f) => f.group === from.group && f.kind === from.kind && f.namespace === from.namespace,
    );
    if (!fromOk) continue;
    const toOk = g.spec.to.some(
      (t) =>
        t.group === to.group &&
        t.kind === to.kind &&
        (t.name === undefined || t.name === "" || t.name === to.name),
    );
    if (toOk) return true;
  }
  return false;
}
