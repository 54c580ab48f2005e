/**
 * The kinds controller mode reads from the API server, where each is served, and how it is narrowed
 * (Secrets of type `kubernetes.io/tls` only, EndpointSlices that belong to a Service only: what the
 * gateway can use, and nothing more of what a cluster holds).
 */
import { GATEWAY_GROUP } from "../api/types.js";

export interface KindSpec {
  kind: string;
  group: string;
  version: string;
  /** The resource name in URLs. */
  plural: string;
  namespaced: boolean;
  labelSelector?: string;
  fieldSelector?: string;
}

/** The kinds in the order snapshots list them. ReferenceGrant's version comes from discovery. */
export function kindSpecs(referenceGrantVersion: string): KindSpec[] {
  return [
    {
      kind: "GatewayClass",
      group: GATEWAY_GROUP,
      version: "v1",
      plural: "gatewayclasses",
      namespaced: false,
    },
    { kind: "Gateway", group: GATEWAY_GROUP, version: "v1", plural: "gateways", namespaced: true },
    { kind: "GRPCRoute", group: GATEWAY_GROUP, version: "v1", plural: "grpcroutes", namespaced: true },
    {
      kind: "ReferenceGrant",
      group: GATEWAY_GROUP,
      version: referenceGrantVersion,
      plural: "referencegrants",
      namespaced: true,
    },
    { kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false },
    { kind: "Service", group: "", version: "v1", plural: "services", namespaced: true },
    {
      kind: "Secret",
      group: "",
      version: "v1",
      plural: "secrets",
      namespaced: true,
      fieldSelector: "type=kubernetes.io/tls",
    },
    {
      kind: "EndpointSlice",
      group: "discovery.k8s.io",
      version: "v1",
      plural: "endpointslices",
      namespaced: true,
      labelSelector: "kubernetes.io/service-name",
    },
  ];
}

/** `/api/v1` or `/apis/<group>/<version>`. */
export function groupVersionPath(group: string, version: string): string {
  return group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
}

/** The collection path of a kind across namespaces (list and watch). */
export function collectionPath(k: KindSpec): string {
  return `${groupVersionPath(k.group, k.version)}/${k.plural}`;
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
