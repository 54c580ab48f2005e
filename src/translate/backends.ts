/**
 * Backend references: a `backendRef` (or a RequestMirror's) names a Service and a port; it resolves to a
 * cluster of ready endpoints, or to the ResolvedRefs reason why it cannot (reference sections 1.7, 2.6, 3.4).
 */
import {
  type BackendObjectReference,
  GATEWAY_GROUP,
  type GRPCRoute,
  type ServicePort,
} from "../api/types.js";
import { clusterName } from "../ir/names.js";
import type { IrCluster, IrEndpoint } from "../ir/routing-table.js";
import { type Indexes, referenceGranted } from "./context.js";
import { RouteReason } from "./status/reasons.js";

/** What a reference resolved to: a cluster, or a problem with its ResolvedRefs reason. */
export type BackendResolution =
  | { ok: true; cluster: IrCluster; unusable?: string }
  | { ok: false; reason: string; message: string };

/** appProtocol values that mean h2c (prior knowledge); unset also means h2c (PRODUCT.md section 2). */
const H2C_PROTOCOLS = new Set(["kubernetes.io/h2c", "h2c", "grpc"]);
/** appProtocol values that mean TLS with ALPN h2. */
const TLS_PROTOCOLS = new Set(["https", "kubernetes.io/tls", "grpcs", "tls"]);

/** Whether an appProtocol asks for TLS; undefined when grpcroute cannot speak it (UnsupportedProtocol). */
export function backendTls(appProtocol: string | undefined): boolean | undefined {
  if (appProtocol === undefined || appProtocol === "") return false;
  const p = appProtocol.toLowerCase();
  if (H2C_PROTOCOLS.has(p)) return false;
  if (TLS_PROTOCOLS.has(p)) return true;
  return undefined;
}

function describe(ref: BackendObjectReference, ns: string): string {
  return `${ref.kind} ${ns}/${ref.name}`;
}

/**
 * Resolves one reference made by a GRPCRoute. Checks, in order: kind (core Service only: InvalidKind),
 * ReferenceGrant for another namespace (RefNotPermitted), the Service and its port (BackendNotFound),
 * the port's appProtocol (UnsupportedProtocol). Endpoints: ExternalName gives one endpoint
 * `externalName:port`; otherwise the ready endpoints of the Service's EndpointSlices, on the slice port
 * named as the Service port.
 */
export function resolveBackendRef(
  idx: Indexes,
  route: GRPCRoute,
  ref: BackendObjectReference,
): BackendResolution {
  const routeNs = route.metadata.namespace;
  const ns = ref.namespace ?? routeNs;
  if (ref.group !== "" || ref.kind !== "Service") {
    const gk = ref.group === "" ? ref.kind : `${ref.kind}.${ref.group}`;
    return {
      ok: false,
      reason: RouteReason.InvalidKind,
      message: `backendRef kind ${gk} is not supported (only core Service)`,
    };
  }
  if (ns !== routeNs) {
    const granted = referenceGranted(
      idx,
      { group: GATEWAY_GROUP, kind: "GRPCRoute", namespace: routeNs },
      { group: "", kind: "Service", namespace: ns, name: ref.name },
    );
    if (!granted) {
      return {
        ok: false,
        reason: RouteReason.RefNotPermitted,
        message: `${describe(ref, ns)} is in another namespace and no ReferenceGrant in ${ns} allows GRPCRoutes from ${routeNs}`,
      };
    }
  }
  const svc = idx.services.get(`${ns}/${ref.name}`);
  if (svc === undefined) {
    return { ok: false, reason: RouteReason.BackendNotFound, message: `${describe(ref, ns)} not found` };
  }
  if (ref.port === undefined) {
    return {
      ok: false,
      reason: RouteReason.BackendNotFound,
      message: `backendRef to ${describe(ref, ns)} has no port`,
    };
  }
  const port: ServicePort | undefined = svc.spec.ports.find((p) => p.port === ref.port);
  if (port === undefined && svc.spec.type !== "ExternalName") {
    const have = svc.spec.ports.map((p) => p.port).join(", ") || "none";
    return {
      ok: false,
      reason: RouteReason.BackendNotFound,
      message: `${describe(ref, ns)} has no port ${ref.port} (ports: ${have})`,
    };
  }
  const tls = backendTls(port?.appProtocol);
  if (tls === undefined) {
    return {
      ok: false,
      reason: RouteReason.UnsupportedProtocol,
      message: `${describe(ref, ns)} port ${ref.port} has appProtocol "${port?.appProtocol ?? ""}"; grpcroute speaks h2c (kubernetes.io/h2c, h2c, grpc) or TLS (https, kubernetes.io/tls, grpcs, tls)`,
    };
  }
  const name = clusterName(ns, ref.name, ref.port);
  const cluster: IrCluster = {
    name,
    source: { kind: "Service", namespace: ns, name: ref.name },
    endpoints: [],
    tls,
  };
  // A BackendTLSPolicy decides TLS, SNI and trust for the port (kubernetes.io/h2c ports stay cleartext).
  const policyTls = idx.backendTls.lookup(ns, ref.name, port);
  const withTls = (c: IrCluster): BackendResolution => {
    if (policyTls === undefined) return { ok: true, cluster: c };
    c.tls = true;
    c.serverName = policyTls.hostname;
    c.backendTls = policyTls;
    return policyTls.invalid === undefined
      ? { ok: true, cluster: c }
      : { ok: true, cluster: c, unusable: policyTls.invalid };
  };
  if (svc.spec.type === "ExternalName") {
    const host = svc.spec.externalName ?? "";
    if (host === "") {
      return {
        ok: false,
        reason: RouteReason.BackendNotFound,
        message: `${describe(ref, ns)} is of type ExternalName but has no spec.externalName`,
      };
    }
    cluster.endpoints = [{ host, port: ref.port }];
    if (tls) cluster.serverName = host;
    return withTls(cluster);
  }
  if (tls) cluster.serverName = `${ref.name}.${ns}.svc`;
  cluster.endpoints = readyEndpoints(idx, ns, ref.name, port?.name ?? "");
  return withTls(cluster);
}

/**
 * Ready endpoints of a Service port, deduplicated and sorted. An endpoint counts when `conditions.ready`
 * is not false (Kubernetes: an unknown state is to be read as ready); its first address is used (the
 * addresses of one endpoint are fungible).
 */
export function readyEndpoints(idx: Indexes, ns: string, service: string, portName: string): IrEndpoint[] {
  const seen = new Set<string>();
  const out: IrEndpoint[] = [];
  for (const slice of idx.endpointSlices.get(`${ns}/${service}`) ?? []) {
    const sp = slice.spec.ports.find((p) => p.name === portName);
    if (sp === undefined) continue;
    for (const ep of slice.spec.endpoints) {
      if (ep.conditions.ready === false) continue;
      const host = ep.addresses[0];
      if (host === undefined) continue;
      const k = `${host}|${sp.port}`;
      if (seen.has(k)) continue;
      seen.add(k);
      out.push({ host, port: sp.port });
    }
  }
  return out.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port));
}
