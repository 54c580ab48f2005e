/**
 * The routing table: what the translator produces and the data plane (and the Lattice planner) consume.
 * Plain data, JSON-serialisable (served by the admin `/config` endpoint), immutable once built.
 * The data plane imports only this module, never `api/`.
 */

/** Where an IR element came from, for logs, metrics and `explain`. */
export interface IrSource {
  kind: "Gateway" | "GRPCRoute" | "Service";
  namespace: string;
  name: string;
  /** Listener name (Gateway) or `rule/<i>/match/<j>` (GRPCRoute). */
  section?: string;
}

export interface RoutingTable {
  /** Copied from the snapshot that produced it; increases on every reload. */
  version: number;
  /** One per programmed Gateway listener, in a stable order. */
  listeners: IrListener[];
  /** Backends by cluster name (see `names.ts`). Sorted keys. */
  clusters: Record<string, IrCluster>;
}

export type IrProfile = "standard" | "lattice";

export interface IrListener {
  /** `gateway/<ns>/<gateway>/listener/<listener>` */
  name: string;
  gateway: { namespace: string; name: string };
  listener: string;
  profile: IrProfile;
  port: number;
  protocol: "HTTP" | "HTTPS";
  /** Listener hostname, possibly a wildcard `*.example.com`; undefined means any host. */
  hostname?: string;
  tls?: IrTls;
  /**
   * Routes of this listener in precedence order: the data plane takes the first whose hostnames and match
   * accept the call. One entry per (route, rule, match).
   */
  routes: IrRoute[];
  /** What a call that matches no route gets. Standard: gRPC UNIMPLEMENTED; Lattice: HTTP 404. */
  noRoute: IrDirect;
  /** Set when the Gateway is annotated `grpcroute.dev/grpc-web: disabled`: gRPC-Web calls get HTTP 415. */
  grpcWebDisabled?: true;
}

export interface IrTls {
  /** Certificates from the listener's `certificateRefs` (PEM). The first is the default for unknown SNI. */
  certificates: { certPem: string; keyPem: string; source: string }[];
  /**
   * When set (Lattice listeners without certificateRefs), the data plane generates a self-signed certificate
   * for these DNS names at start-up, since Lattice manages its own.
   */
  generate?: { dnsNames: string[] };
}

export interface IrRoute {
  /** `grpcroute/<ns>/<name>/rule/<i>/match/<j>` (stable, unique in the table). */
  name: string;
  source: IrSource & { kind: "GRPCRoute"; rule: number; match: number; ruleName?: string };
  /**
   * Hostnames this route answers on for this listener (the intersection of route and listener hostnames,
   * lowercase, wildcards as `*.suffix`). Empty: any host the listener accepts.
   */
  hostnames: string[];
  match: IrMatch;
  action: IrAction;
  /**
   * The traffic policy in effect for the calls of this rule on this listener: the TrafficPolicies of the
   * Gateway, the listener, the route and the rule, merged by the translator field group by field group (the
   * most specific target wins each group). Absent when none applies: the data plane then does no policy work.
   * The entries of one rule on one listener share one object.
   */
  policy?: IrCallPolicy;
}

/** What a TrafficPolicy asks of each call of a rule, merged and in milliseconds. */
export interface IrCallPolicy {
  timeouts?: IrCallTimeouts;
  retry?: IrRetryPolicy;
  cors?: IrCors;
  /** `transcoding`: JSON requests for the rule's methods are turned into gRPC calls by the gateway. */
  transcoding?: IrTranscoding;
}

/**
 * `cors`: the CORS answers of gRPC-Web calls (from browsers) and their preflights. Lists as the policy gives
 * them, lowercase where HTTP is case-insensitive; `"*"` alone in a list allows anything.
 */
export interface IrCors {
  /** Origins (`scheme://host[:port]`) or patterns with `*`, which stands for any characters but `/` and `:`. */
  allowOrigins: string[];
  allowMethods: string[];
  allowHeaders: string[];
  /** Response headers the page may read; `grpc-status`, `grpc-message`, `grpc-status-details-bin` always. */
  exposeHeaders: string[];
  /** How long a preflight's answer may be cached, in seconds. */
  maxAgeSeconds: number;
  allowCredentials: boolean;
  /** `TrafficPolicy <ns>/<name>`. */
  source: string;
}

/** `transcoding` of a TrafficPolicy (`enabled: false` turns off what a less specific target enabled). */
export interface IrTranscoding {
  enabled: boolean;
  /** `TrafficPolicy <ns>/<name>`. */
  source: string;
}

/** `timeouts.request` and `timeouts.streamIdle` (0: no limit, which a more specific policy may set). */
export interface IrCallTimeouts {
  /** The call's deadline from its request headers; the earlier of this and the client's `grpc-timeout` wins. */
  requestMs: number;
  /** The call ends when no DATA moved either way for this long. */
  streamIdleMs: number;
  /** `TrafficPolicy <ns>/<name>` (for messages, logs and `explain`). */
  source: string;
}

/** `retry`, as gRFC A6 retries: only before the backend's response headers, with a replay of the request. */
export interface IrRetryPolicy {
  /** Attempts in all, the first included (1..5). */
  attempts: number;
  /** gRPC status codes that are retried (1..16): TrafficPolicy `retry.on`. */
  retryOn: number[];
  /** How long an attempt may wait for the backend's response headers; 0: until the call's deadline. */
  perTryTimeoutMs: number;
  /** Backoff before retry n: random in [0, min(base x 2^(n-1), max)). */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A call whose request bytes so far exceed this is no longer retried (its replay is dropped). */
  maxBufferedBytes: number;
  /** Retries in flight at most this share (percent) of the calls in flight under this policy (at least 3). */
  budgetPercent: number;
  source: string;
}

export interface IrMatch {
  /** Absent: every service and method. */
  method?: IrMethodMatch;
  /** All must match (AND). Names lowercase. */
  headers: IrHeaderMatch[];
}

export interface IrMethodMatch {
  /**
   * Exact: `service` and/or `method` compared to the `:path` parts (an absent one matches any non-empty part).
   * RegularExpression: RE2 patterns, each anchored to the whole part.
   */
  type: "Exact" | "RegularExpression";
  service?: string;
  method?: string;
  /** Lattice profile (as its docs state): compare without regard to case. Default false. */
  caseInsensitive?: boolean;
}

export interface IrHeaderMatch {
  type: "Exact" | "RegularExpression";
  /** Lowercase. */
  name: string;
  value: string;
  /** Lattice: header values compare without regard to case. Default false. */
  caseInsensitive?: boolean;
}

export type IrAction = IrForward | IrDirect;

export interface IrForward {
  kind: "forward";
  /** Weighted choice per call; weight 0 entries never get traffic. Sum of weights > 0. */
  backends: IrBackend[];
  /** Rule-level filters, applied to every call of the rule. */
  requestHeaders?: IrHeaderModifier;
  responseHeaders?: IrHeaderModifier;
  mirrors: IrMirror[];
}

/** A response made by the gateway itself. */
export interface IrDirect {
  kind: "direct";
  /** gRPC status code sent as a trailers-only response (HTTP 200). */
  grpcStatus?: number;
  /** When set, answer with this HTTP status instead (Lattice's fixed 404 / 500), no grpc-status. */
  httpStatus?: number;
  /** Becomes `grpc-message` (percent-encoded). */
  message: string;
}

export interface IrBackend {
  weight: number;
  /** Key into `RoutingTable.clusters`; absent when the backendRef is invalid. */
  cluster?: string;
  /** For an invalid backendRef: what its share of the traffic gets (UNAVAILABLE with a reason). */
  invalid?: IrDirect;
  /** backendRef-level filters, applied only when this backend is chosen. */
  requestHeaders?: IrHeaderModifier;
  responseHeaders?: IrHeaderModifier;
  source: IrSource;
}

export interface IrHeaderModifier {
  /** Names lowercase. */
  set: { name: string; value: string }[];
  add: { name: string; value: string }[];
  remove: string[];
}

export interface IrMirror {
  cluster: string;
  /** Share of calls mirrored: numerator / denominator (100/100 when the filter gives neither). */
  numerator: number;
  denominator: number;
}

export interface IrCluster {
  /** `service/<ns>/<name>/port/<port>` */
  name: string;
  source: IrSource;
  /** Ready endpoints (or one for an ExternalName service), in a stable order. */
  endpoints: IrEndpoint[];
  /** Speak TLS (h2 via ALPN) to the backend, from the Service port's appProtocol. Default h2c. */
  tls: boolean;
  /** SNI / authority for TLS backends (ExternalName host or Service DNS name). */
  serverName?: string;
  /** A BackendTLSPolicy targets this Service port: how the backend's certificate is checked (`tls` is true). */
  backendTls?: IrBackendTls;
  /** The TrafficPolicy of this Service (port): connect timeout, health checks, outlier detection. */
  policy?: IrClusterPolicy;
}

export interface IrBackendTls {
  /** SNI; also the name the certificate must carry, unless `subjectAltNames` are given. */
  hostname: string;
  /** CA certificates (PEM) from the policy's ConfigMaps. */
  caPem?: string;
  /** Trust the system's CA store (`wellKnownCACertificates: System`). */
  system?: boolean;
  /** When given, the certificate must carry one of these (instead of `hostname`). */
  subjectAltNames: { type: "Hostname" | "URI"; value: string }[];
  /** Set when no CA could be resolved: connections fail with this message, never fall back to cleartext. */
  invalid?: string;
  /** `BackendTLSPolicy <ns>/<name>`. */
  source: string;
}

export interface IrClusterPolicy {
  /** `timeouts.connect`: time a connection to an endpoint may take, TLS and HTTP/2 handshake included. */
  connectTimeoutMs?: number;
  healthCheck?: IrHealthCheck;
  outlierDetection?: IrOutlierDetection;
  /** `TrafficPolicy <ns>/<name>` of each group, for messages and `explain`. */
  sources: { timeouts?: string; healthCheck?: string; outlierDetection?: string };
}

/** gRPC health checks (`grpc.health.v1.Health/Check`) of every endpoint, over its pooled connection. */
export interface IrHealthCheck {
  /** The `service` asked about ("" = the server as a whole). */
  service: string;
  intervalMs: number;
  timeoutMs: number;
  /** Failed checks in a row that take an endpoint out (NOT_SERVING takes it out at once). */
  unhealthyThreshold: number;
  /** Passed checks in a row that bring it back. */
  healthyThreshold: number;
  /**
   * Set for the HTTP checks of a Lattice-profile TargetGroupPolicy: an HTTP/1.1 or HTTP/2 GET of `path`
   * instead of `grpc.health.v1.Health/Check` (`service` is then unused).
   */
  http?: IrHttpHealthCheck;
}

/** A VPC Lattice health check: a GET over a connection of its own, passing on the listed status codes. */
export interface IrHttpHealthCheck {
  /** 1: HTTP/1.1; 2: HTTP/2 (h2c with prior knowledge, or ALPN h2 over TLS). */
  version: 1 | 2;
  /** HTTPS, without checking the certificate (VPC Lattice does not check it either). */
  tls: boolean;
  path: string;
  /** Port checked; 0: the endpoint's own port. */
  port: number;
  /** HTTP status codes that pass, as inclusive ranges. */
  statusCodes: [number, number][];
}

/** Outlier ejection: endpoints that keep answering UNAVAILABLE or refusing connections are set aside. */
export interface IrOutlierDetection {
  consecutiveFailures: number;
  /** An ejection's count decays by one per interval the endpoint is back without ejection. */
  intervalMs: number;
  /** An endpoint is set aside for this times the number of times it was ejected. */
  baseEjectionMs: number;
  /** At most this share of the endpoints is ejected at once (always at least one). */
  maxEjectionPercent: number;
}

export interface IrEndpoint {
  /** IP address or DNS name (ExternalName). */
  host: string;
  port: number;
}
