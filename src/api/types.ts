/**
 * Typed shapes of the Kubernetes objects grpcroute reads, after parsing and after the defaults an API
 * server would apply (method match type Exact, weight 1, parentRef group/kind, namespace `default`, ...).
 *
 * Only the fields grpcroute uses are typed; `raw` keeps the object as read, so outputs (`validate -o yaml`)
 * can print it back unchanged with `.status` filled in.
 */

export const GATEWAY_GROUP = "gateway.networking.k8s.io";
export const GATEWAY_V1 = `${GATEWAY_GROUP}/v1`;

/** Where an object came from: file path and 0-based document index inside a multi-document file. */
export interface Origin {
  readonly file: string;
  readonly index: number;
  /** 0-based position inside the `items` of a `kind: List` document, when the object came from one. */
  readonly item?: number;
  /** 1-based line and column of the document (or, for a syntax error, of the error), when known. */
  readonly line?: number;
  readonly column?: number;
}

export interface ObjectMeta {
  name: string;
  /** Defaults to `default`; `""` for cluster-scoped kinds (GatewayClass, Namespace). */
  namespace: string;
  /** Defaults to 1 in file mode. */
  generation: number;
  /** RFC 3339; empty string when not given (sorts after every given timestamp). */
  creationTimestamp: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  uid?: string;
  resourceVersion?: string;
}

export interface K8sObject<K extends string, S> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  /** The object exactly as read (for printing back). */
  raw: Record<string, unknown>;
  origin: Origin;
}

// ---------------------------------------------------------------------------------------------------------------
// GatewayClass, Gateway

export interface GatewayClassSpec {
  controllerName: string;
  description?: string;
}
export type GatewayClass = K8sObject<"GatewayClass", GatewayClassSpec>;

export interface SecretObjectReference {
  group: string; // "" (core)
  kind: string; // "Secret"
  name: string;
  namespace?: string;
}

export interface RouteGroupKind {
  group: string; // defaults to gateway.networking.k8s.io
  kind: string;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: {
    key: string;
    operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
    values?: string[];
  }[];
}

export interface AllowedRoutes {
  namespaces: { from: "Same" | "All" | "Selector"; selector?: LabelSelector };
  kinds?: RouteGroupKind[];
}

export interface GatewayTLSConfig {
  mode: "Terminate" | "Passthrough";
  certificateRefs: SecretObjectReference[];
  options?: Record<string, string>;
}

export interface Listener {
  name: string;
  hostname?: string;
  port: number;
  /** HTTP, HTTPS, TLS, TCP, UDP or a domain-prefixed custom protocol. */
  protocol: string;
  tls?: GatewayTLSConfig;
  allowedRoutes: AllowedRoutes;
}

export interface GatewaySpec {
  gatewayClassName: string;
  listeners: Listener[];
  addresses?: { type?: string; value: string }[];
}
export type Gateway = K8sObject<"Gateway", GatewaySpec>;

// ---------------------------------------------------------------------------------------------------------------
// GRPCRoute

export interface ParentReference {
  group: string; // default gateway.networking.k8s.io
  kind: string; // default Gateway
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

export interface GRPCMethodMatch {
  type: "Exact" | "RegularExpression";
  service?: string;
  method?: string;
}

export interface GRPCHeaderMatch {
  type: "Exact" | "RegularExpression";
  name: string;
  value: string;
}

export interface GRPCRouteMatch {
  method?: GRPCMethodMatch;
  headers: GRPCHeaderMatch[];
}

export interface HTTPHeader {
  name: string;
  value: string;
}

export interface HTTPHeaderFilter {
  set: HTTPHeader[];
  add: HTTPHeader[];
  remove: string[];
}

export interface BackendObjectReference {
  group: string; // default ""
  kind: string; // default Service
  name: string;
  namespace?: string;
  port?: number;
}

export interface HTTPRequestMirrorFilter {
  backendRef: BackendObjectReference;
  percent?: number;
  fraction?: { numerator: number; denominator: number };
}

export type GRPCRouteFilter =
  | { type: "RequestHeaderModifier"; requestHeaderModifier: HTTPHeaderFilter }
  | { type: "ResponseHeaderModifier"; responseHeaderModifier: HTTPHeaderFilter }
  | { type: "RequestMirror"; requestMirror: HTTPRequestMirrorFilter }
  | { type: "ExtensionRef"; extensionRef: { group: string; kind: string; name: string } };

export interface GRPCBackendRef extends BackendObjectReference {
  /** 0..1,000,000, default 1. */
  weight: number;
  filters: GRPCRouteFilter[];
}

export interface GRPCRouteRule {
  name?: string;
  matches: GRPCRouteMatch[];
  filters: GRPCRouteFilter[];
  backendRefs: GRPCBackendRef[];
}

export interface GRPCRouteSpec {
  parentRefs: ParentReference[];
  hostnames: string[];
  rules: GRPCRouteRule[];
}
export type GRPCRoute = K8sObject<"GRPCRoute", GRPCRouteSpec>;

// ---------------------------------------------------------------------------------------------------------------
// Core objects

export interface ServicePort {
  name: string; // "" when unnamed
  port: number;
  protocol: string; // TCP
  targetPort?: number | string;
  appProtocol?: string;
}

export interface ServiceSpec {
  type: "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName";
  ports: ServicePort[];
  externalName?: string;
  clusterIP?: string;
  ipFamilies?: string[];
}
export type Service = K8sObject<"Service", ServiceSpec>;

export interface EndpointSlicePort {
  name: string; // "" when unnamed
  port: number;
  protocol: string;
  appProtocol?: string;
}

export interface Endpoint {
  addresses: string[];
  conditions: { ready?: boolean; serving?: boolean; terminating?: boolean };
  hostname?: string;
  targetRef?: { kind?: string; name?: string; namespace?: string };
}

export interface EndpointSliceSpec {
  /** From label `kubernetes.io/service-name`. */
  serviceName: string;
  addressType: "IPv4" | "IPv6" | "FQDN";
  endpoints: Endpoint[];
  ports: EndpointSlicePort[];
}
/** EndpointSlice has no `spec` in Kubernetes; its top-level fields are gathered here. */
export type EndpointSlice = K8sObject<"EndpointSlice", EndpointSliceSpec>;

export interface SecretSpec {
  type: string;
  /** Decoded values (from base64 `data` and plain `stringData`). Never log these. */
  data: Record<string, string>;
}
/** Secret has no `spec` in Kubernetes; `type` and decoded data are gathered here. */
export type Secret = K8sObject<"Secret", SecretSpec>;

export interface ReferenceGrantSpec {
  from: { group: string; kind: string; namespace: string }[];
  to: { group: string; kind: string; name?: string }[];
}
export type ReferenceGrant = K8sObject<"ReferenceGrant", ReferenceGrantSpec>;

export type Namespace = K8sObject<"Namespace", Record<string, never>>;

export interface ConfigMapSpec {
  /** `data` merged with the decoded `binaryData` (UTF-8). */
  data: Record<string, string>;
}
/** ConfigMap has no `spec`: its data is gathered here (BackendTLSPolicy reads `ca.crt` from it). */
export type ConfigMap = K8sObject<"ConfigMap", ConfigMapSpec>;

// ---------------------------------------------------------------------------------------------------------------
// Policies (GEP-713 policy attachment): TrafficPolicy (grpcroute.dev/v1alpha1) and BackendTLSPolicy (v1)

/** API group of grpcroute's own kinds. */
export const GRPCROUTE_GROUP = "grpcroute.dev";

/** A `LocalPolicyTargetReferenceWithSectionName`: a target in the policy's own namespace. */
export interface PolicyTargetRef {
  /** "" for the core group (Service). */
  group: string;
  kind: string;
  name: string;
  /** Gateway: a listener name; GRPCRoute: a rule name; Service: a port name. */
  sectionName?: string;
}

/** TrafficPolicy `spec.timeouts`, in milliseconds (a Gateway API Duration, GEP-2257; 0 = no limit). */
export interface PolicyTimeouts {
  request?: number;
  streamIdle?: number;
  connect?: number;
}

export interface PolicyRetry {
  /** Attempts in all, the first one included (gRFC A6 `maxAttempts`), 1..5. */
  attempts: number;
  /** Time an attempt may wait for the backend's response headers (ms). */
  perTryTimeout?: number;
  /** gRPC status code names that are retried. Default `[UNAVAILABLE]`. */
  on: string[];
  backoff: { base: number; max: number };
  maxBufferedBytes: number;
  budgetPercent: number;
}

export interface PolicyHealthCheck {
  grpc: { service: string };
  interval: number;
  timeout: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
}

export interface PolicyOutlierDetection {
  consecutiveFailures: number;
  interval: number;
  baseEjectionTime: number;
  maxEjectionPercent: number;
}

/** TrafficPolicy `spec.transcoding`: JSON requests turned into gRPC calls (README "JSON transcoding"). */
export interface PolicyTranscoding {
  enabled: boolean;
}

export interface TrafficPolicySpec {
  targetRefs: PolicyTargetRef[];
  timeouts?: PolicyTimeouts;
  retry?: PolicyRetry;
  healthCheck?: PolicyHealthCheck;
  outlierDetection?: PolicyOutlierDetection;
  transcoding?: PolicyTranscoding;
  cors?: PolicyCors;
}

/** `cors` (as the Gateway API HTTPRoute CORS filter); `maxAge` in seconds (default 5). */
export interface PolicyCors {
  allowOrigins: string[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAge: number;
  allowCredentials: boolean;
}

export type TrafficPolicy = K8sObject<"TrafficPolicy", TrafficPolicySpec>;

export interface SubjectAltName {
  type: "Hostname" | "URI";
  hostname?: string;
  uri?: string;
}

export interface BackendTLSPolicySpec {
  targetRefs: PolicyTargetRef[];
  validation: {
    /** `LocalObjectReference`s; Core support: one ConfigMap holding `ca.crt`. */
    caCertificateRefs: { group: string; kind: string; name: string }[];
    wellKnownCACertificates?: "System";
    /** SNI, and the name the certificate must match unless `subjectAltNames` are given. */
    hostname: string;
    subjectAltNames: SubjectAltName[];
  };
  options: Record<string, string>;
}
export type BackendTLSPolicy = K8sObject<"BackendTLSPolicy", BackendTLSPolicySpec>;

/** API group of the AWS Gateway API Controller's kinds (TargetGroupPolicy). */
export const LATTICE_GROUP = "application-networking.k8s.aws";

/**
 * TargetGroupPolicy `spec` (`application-networking.k8s.aws/v1alpha1`), as the AWS controller's CRD has it:
 * every field is optional except `targetRef`, and nothing is defaulted (the controller and VPC Lattice fill
 * the defaults; `src/lattice/target-group-policy.ts` says which).
 */
export interface TargetGroupPolicySpec {
  /** A `NamespacedPolicyTargetReference`: a Service (or, for the AWS controller, a ServiceExport). */
  targetRef: { group: string; kind: string; name: string; namespace?: string };
  /** Target group protocol: HTTP (default), HTTPS or TCP; the CRD leaves it a free string. */
  protocol?: string;
  /** Target group protocol version: HTTP1 (default), HTTP2 or GRPC; GRPCRoute target groups are GRPC. */
  protocolVersion?: string;
  healthCheck?: TargetGroupHealthCheck;
}

/** TargetGroupPolicy `spec.healthCheck`: VPC Lattice's HealthCheckConfig, field by field. */
export interface TargetGroupHealthCheck {
  enabled?: boolean;
  intervalSeconds?: number;
  timeoutSeconds?: number;
  healthyThresholdCount?: number;
  unhealthyThresholdCount?: number;
  /** HTTP status codes that pass: "200", "200-399", "200,204" (Lattice `matcher.httpCode`). */
  statusMatch?: string;
  path?: string;
  port?: number;
  protocol?: "HTTP" | "HTTPS";
  protocolVersion?: "HTTP1" | "HTTP2";
}
export type TargetGroupPolicy = K8sObject<"TargetGroupPolicy", TargetGroupPolicySpec>;

/** The status the AWS controller writes on its policies: `status.conditions` (one `Accepted`), no ancestors. */
export interface ConditionsStatus {
  conditions: Condition[];
}

/** Every object grpcroute reads, grouped by kind. Arrays are in input order. */
export interface ResourceSet {
  gatewayClasses: GatewayClass[];
  gateways: Gateway[];
  grpcRoutes: GRPCRoute[];
  services: Service[];
  endpointSlices: EndpointSlice[];
  secrets: Secret[];
  referenceGrants: ReferenceGrant[];
  namespaces: Namespace[];
  configMaps: ConfigMap[];
  trafficPolicies: TrafficPolicy[];
  backendTLSPolicies: BackendTLSPolicy[];
  targetGroupPolicies: TargetGroupPolicy[];
}

export function emptyResourceSet(): ResourceSet {
  return {
    gatewayClasses: [],
    gateways: [],
    grpcRoutes: [],
    services: [],
    endpointSlices: [],
    secrets: [],
    referenceGrants: [],
    namespaces: [],
    configMaps: [],
    trafficPolicies: [],
    backendTLSPolicies: [],
    targetGroupPolicies: [],
  };
}

/** Names one object. */
export interface ObjectRef {
  kind: string;
  namespace?: string;
  name?: string;
}

/**
 * A problem found while reading input. `error`: the object was rejected as an API server would reject it
 * (it is not used); `note`: informational (an unknown kind skipped, ...).
 */
export interface Issue {
  severity: "error" | "note";
  origin?: Origin;
  ref?: ObjectRef;
  /** Field path, e.g. `spec.rules[2].matches[0].method.service`; empty for the whole object. */
  path: string;
  message: string;
  /** Stable error code (`GW_ERR_READ`, `GW_ERR_PARSE`, ... see docs/errors.md) of fatal input problems. */
  code?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Status (what the translator computes; `lastTransitionTime` is stamped by the sink, never the translator)

export type ConditionStatus = "True" | "False" | "Unknown";

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime?: string;
}

export interface RouteParentStatus {
  parentRef: ParentReference;
  controllerName: string;
  conditions: Condition[];
}

export interface RouteStatus {
  parents: RouteParentStatus[];
}

export interface ListenerStatus {
  name: string;
  supportedKinds: RouteGroupKind[];
  attachedRoutes: number;
  conditions: Condition[];
}

/** A policy's status for one ancestor (GEP-713 `PolicyAncestorStatus`). */
export interface PolicyAncestorStatus {
  ancestorRef: ParentReference;
  controllerName: string;
  conditions: Condition[];
}

export interface PolicyStatus {
  ancestors: PolicyAncestorStatus[];
}

export interface GatewayStatus {
  addresses: { type: string; value: string }[];
  conditions: Condition[];
  listeners: ListenerStatus[];
}

/** The API group of an `apiVersion` (`gateway.networking.k8s.io/v1` -> `gateway.networking.k8s.io`; `v1` -> ""). */
export function apiGroup(apiVersion: string): string {
  const slash = apiVersion.lastIndexOf("/");
  return slash < 0 ? "" : apiVersion.slice(0, slash);
}

/**
 * How an API server keys an object across its versions: API group, kind, namespace (`""` for cluster-scoped
 * kinds) and name. The version in `apiVersion` is not part of it: `v1` and `v1beta1` are the same object.
 */
export function objectIdentity(group: string, kind: string, namespace: string, name: string): string {
  return `${group}/${kind}/${namespace}/${name}`;
}

/** {@link objectIdentity} of a parsed object. */
export function identityOf(o: K8sObject<string, unknown>): string {
  return objectIdentity(apiGroup(o.apiVersion), o.kind, o.metadata.namespace, o.metadata.name);
}

/** Key of a namespaced object in status maps: `namespace/name`. */
export type ObjectKey = string;

export function objectKey(meta: { namespace: string; name: string }): ObjectKey {
  return `${meta.namespace}/${meta.name}`;
}
