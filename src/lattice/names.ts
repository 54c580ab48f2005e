/**
 * Names of the VPC Lattice resources a GRPCRoute becomes, shaped as the AWS Gateway API Controller shapes
 * them, and the annotations it reads and writes. Everything here is deterministic: the same route gives the
 * same names on every run (where AWS uses a clock or a random suffix, a hash of the route stands in).
 */
import { createHash } from "node:crypto";

/** Prefix of every annotation and tag key the AWS controller uses. */
export const AWS_PREFIX = "application-networking.k8s.aws";

/** Route annotation holding the Lattice-generated domain name (written back by the controller). */
export const ANNOTATION_ASSIGNED_DOMAIN = `${AWS_PREFIX}/lattice-assigned-domain-name`;
/** Route annotation that replaces the generated Lattice service name. */
export const ANNOTATION_SERVICE_NAME_OVERRIDE = `${AWS_PREFIX}/service-name-override`;
/** Route annotation `application-networking.k8s.aws/rule-<i>-priority`: overrides rule `i`'s priority. */
export function rulePriorityAnnotation(ruleIndex: number): string {
  return `${AWS_PREFIX}/rule-${ruleIndex}-priority`;
}
/** Route or Gateway annotation choosing method matching: `case-sensitive` or `case-insensitive`. */
export const ANNOTATION_METHOD_MATCH = "grpcroute.dev/lattice-method-match";

/** Default suffix of assigned domain names (Lattice's own, region us-west-2). */
export const DEFAULT_DOMAIN_SUFFIX = "vpc-lattice-svcs.us-west-2.on.aws";

/** Tag keys the controller puts on Lattice services and target groups. */
export const TAG_ROUTE_NAME = `${AWS_PREFIX}/RouteName`;
export const TAG_ROUTE_NAMESPACE = `${AWS_PREFIX}/RouteNamespace`;
export const TAG_ROUTE_TYPE = `${AWS_PREFIX}/RouteType`;
export const TAG_MANAGED_BY = `${AWS_PREFIX}/ManagedBy`;
export const TAG_CLUSTER_NAME = `${AWS_PREFIX}/ClusterName`;
export const TAG_SERVICE_NAME = `${AWS_PREFIX}/ServiceName`;
export const TAG_SERVICE_NAMESPACE = `${AWS_PREFIX}/ServiceNamespace`;
export const TAG_SOURCE_TYPE = `${AWS_PREFIX}/SourceTypeKey`;
export const TAG_PROTOCOL_VERSION = `${AWS_PREFIX}/ProtocolVersion`;

/** Go's `strings.Trim(s[:n], "-")`: cut to `n` characters, then drop leading and trailing hyphens. */
export function truncateTrim(s: string, n: number): string {
  return s.slice(0, n).replace(/^-+/, "").replace(/-+$/, "");
}

/** `<route[:20]>-<namespace[:18]>`, as `utils.LatticeServiceName` builds it. */
export function latticeServiceName(route: string, namespace: string): string {
  return `${truncateTrim(route, 20)}-${truncateTrim(namespace, 18)}`;
}

/**
 * Why a `service-name-override` value is refused, or undefined when it is fine. The AWS controller's rules:
 * 3-40 characters of `[a-z0-9-]`, no `svc-` prefix, no leading or trailing hyphen.
 */
export function serviceNameOverrideProblem(value: string): string | undefined {
  if (value.length < 3 || value.length > 40) return `must be 3-40 characters long (it has ${value.length})`;
  if (!/^[a-z0-9-]+$/.test(value)) return "may contain only lowercase letters, digits and hyphens";
  if (value.startsWith("svc-")) return 'must not start with "svc-" (Lattice reserves it for service ids)';
  if (value.startsWith("-") || value.endsWith("-")) return "must not start or end with a hyphen";
  return undefined;
}

/** `<service>-<port>-<protocol lowercased>`, the Lattice listener name. */
export function latticeListenerName(service: string, port: number, protocol: string): string {
  return `${service}-${port}-${protocol.toLowerCase()}`;
}

/**
 * `k8s-<unix seconds>-rule-<priority>`. The AWS controller uses the time its model was built; we use the
 * route's creationTimestamp (0 when absent) so plans are reproducible.
 */
export function latticeRuleName(createdUnix: number, priority: number): string {
  return `k8s-${createdUnix}-rule-${priority}`;
}

/** Unix seconds of an RFC 3339 timestamp; 0 when empty or unreadable. */
export function unixSeconds(timestamp: string): number {
  if (timestamp === "") return 0;
  const ms = Date.parse(timestamp);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * `k8s-<svc namespace[:55]>-<svc name[:55]>-<10 lowercase letters>`. AWS draws the 10 letters at random; we
 * derive them from the route, the Service and its port, so one route's target groups keep their names.
 */
export function latticeTargetGroupName(
  route: { namespace: string; name: string },
  service: { namespace: string; name: string },
  port: number | undefined,
): string {
  const digest = sha256Hex(
    `tg/${route.namespace}/${route.name}/${service.namespace}/${service.name}/${port ?? ""}`,
  );
  let letters = "";
  for (let i = 0; i < 10; i++) {
    letters += String.fromCharCode(97 + (Number.parseInt(digest.slice(i * 2, i * 2 + 2), 16) % 26));
  }
  return `k8s-${truncateTrim(service.namespace, 55)}-${truncateTrim(service.name, 55)}-${letters}`;
}

/** The stand-in Lattice service id of a route: `svc-` + 17 hex digits, stable for `namespace/name`. */
export function latticeServiceId(namespace: string, name: string): string {
  return `svc-${sha256Hex(`svc/${namespace}/${name}`).slice(0, 17)}`;
}

/**
 * The route's assigned domain name, shaped like Lattice's `dnsEntry.domainName`:
 * `<service name>-<17 hex id>.<7 hex>.<suffix>`, e.g.
 * `greeter-grpc-route-default-0af995120af2711bc.7d67968.vpc-lattice-svcs.us-west-2.on.aws`.
 * Derived only from the route's namespace and name (and the service name), so it never changes between runs.
 */
export function assignedDomainName(
  route: { namespace: string; name: string },
  serviceName: string,
  suffix: string = DEFAULT_DOMAIN_SUFFIX,
): string {
  const id = latticeServiceId(route.namespace, route.name).slice("svc-".length);
  const zone = sha256Hex(`zone/${route.namespace}/${route.name}`).slice(0, 7);
  return `${serviceName}-${id}.${zone}.${suffix}`.toLowerCase();
}
