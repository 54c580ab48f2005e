import type { RoutingTable } from "../ir/routing-table.js";
import type { EndpointEvent } from "./relay/endpoint-group.js";
import type { ProtocolLimits } from "./relay/limits.js";

/**
 * SETTINGS_MAX_CONCURRENT_STREAMS both data paths announce to clients: 100, the least RFC 9113 (section 6.5.2)
 * recommends, HAProxy's default, and what Envoy's edge configuration advice sets. It bounds what one client
 * connection can hold open in the gateway, and puts on a backend, at once; gRPC clients queue calls past it.
 * With 1,000, the relay let an open-loop client that got ahead of a grpc-js backend (two connections at
 * 8,842 calls/s) pile up to 2,000 calls on it, and the backend fell further behind: p99 median 195 ms over
 * ten alternating runs, against 36 ms with 100 (bench/history/notes-2026.md).
 */
export const MAX_CLIENT_STREAMS = 100;

/** What the data plane reports when a call ends (access log, metrics). Plain data, built once per call. */
export interface CallInfo {
  /** IR listener name, or `port/<n>` when no listener matched the authority. */
  listener: string;
  gateway?: string;
  authority: string;
  path: string;
  /** IR route name (`grpcroute/<ns>/<name>/rule/<i>/match/<j>`), absent when no route matched. */
  route?: string;
  /** Cluster name of the backend that served the call (or last failed to). */
  backend?: string;
  /**
   * Set when the call failed over: each backendRef (cluster name) it could not be sent to before `backend`,
   * and why, as `<cluster>: <reason>` joined by `; `.
   */
  failover?: string;
  /** `host:port` of the upstream endpoint used. */
  endpoint?: string;
  /** Final gRPC status seen by the client (from upstream trailers or made by the gateway). */
  grpcStatus: number;
  /** HTTP status sent to the client. */
  httpStatus: number;
  /** Set when the gateway made the answer itself (no route, no endpoint, timeout, reset, ...). */
  gatewayError?: string;
  /** Attempts the call took when a TrafficPolicy retried it (2 or more); absent when it took one. */
  attempts?: number;
  /** Set when the call came in as gRPC-Web (HTTP/1.1 or HTTP/2); absent for gRPC. */
  protocol?: "grpc-web";
  durationMs: number;
  requestBytes: number;
  responseBytes: number;
}

export interface DataplaneOptions {
  /** Address every listener binds to. Default all interfaces (`::` / `0.0.0.0`). */
  address?: string;
  /** Listener port -> local port to bind instead (0 = ephemeral, useful in tests). */
  portMap?: ReadonlyMap<number, number>;
  /** Called once per finished call. Must be cheap: it runs on the hot path. */
  onCallEnd?: (info: CallInfo) => void;
  /**
   * Called when the data plane generated a self-signed certificate for a listener whose IR asks for one
   * (`IrTls.generate`), so the runner can write it where clients can trust it and log the path.
   */
  onCertificateGenerated?: (listener: string, dnsNames: string[], certPem: string) => void;
  /**
   * How a call picks among a backend's ready endpoints: `round-robin` (default) or `least-request` (the
   * fewer calls in flight of two random endpoints).
   */
  balancer?: "round-robin" | "least-request";
  /**
   * Limits against abusive clients (`serve --h2-*` flags; docs/security.md), over the defaults of
   * `relay/limits.ts`. Plain data, so worker processes get them as given.
   */
  limits?: Partial<ProtocolLimits>;
  /**
   * Request bytes all calls may keep for retries at once (`serve --retry-buffer-limit`; docs/security.md).
   * Default `DEFAULT_RETRY_BUFFER_BYTES` (32 MiB).
   */
  retryBufferBytes?: number;
  /**
   * Largest request body a JSON transcoded request may have (`serve --transcoding-body-limit`;
   * docs/security.md). Default `DEFAULT_TRANSCODING_BODY_LIMIT` (4 MiB).
   */
  transcodingBodyLimit?: number;
  /**
   * Called when an endpoint turns healthy or unhealthy, is ejected or returns, and when a backend enters or
   * leaves panic routing (TrafficPolicy health checks and outlier detection). Must be cheap.
   */
  onEndpointEvent?: (e: EndpointEvent) => void;
  /**
   * Called on events of the calls the gateway answers itself (reflection, transcoding): a backend found to
   * have no reflection service. Logged at debug level.
   */
  onLocalEvent?: (e: LocalEvent) => void;
}

/** An event of the gateway's own services. */
export interface LocalEvent {
  kind: "no-reflection";
  /** Cluster name. */
  backend: string;
  reason: string;
}

/** Counters the admin `/metrics` endpoint reads. */
export interface DataplaneStats {
  activeCalls: number;
  upstreamSessions: number;
  /** Request bytes kept for retries now. */
  retryBufferedBytes?: number;
  /** Every health-checked endpoint (TrafficPolicy `healthCheck`) and whether it is healthy now. */
  endpointHealth?: { backend: string; endpoint: string; healthy: boolean }[];
  /** Backends whose endpoints are all unhealthy: calls go to them anyway (panic routing). */
  panicBackends?: string[];
}

/**
 * What the runner needs of a data plane (implemented by `Dataplane` in `dataplane.ts`), so it can be
 * replaced by a fake in tests.
 */
export interface DataplaneApi {
  /** Swap in a new table atomically (see `Dataplane.apply`). */
  apply(table: RoutingTable): Promise<void>;
  /** Listener port -> bound local port (after port mapping, 0 resolved). */
  boundPorts(): ReadonlyMap<number, number>;
  stats(): DataplaneStats;
  /** Stop accepting, drain calls in flight up to `graceMs` (default 10000), then close everything. */
  close(graceMs?: number): Promise<void>;
}
