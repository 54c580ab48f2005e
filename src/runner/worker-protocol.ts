/**
 * Messages between the primary process of `serve --workers N` and its data-plane workers (node:cluster IPC,
 * structured-clone serialisation). Plain data only.
 */
import type { RegistryJson } from "../admin/metrics.js";
import type { EndpointEvent } from "../dataplane/relay/endpoint-group.js";
import type { ProtocolLimits } from "../dataplane/relay/limits.js";
import type { CallInfo, DataplaneStats } from "../dataplane/types.js";
import type { RoutingTable } from "../ir/routing-table.js";
import type { LogFormat, LogLevel } from "../log/logger.js";

/** A worker's registry as `Registry.getMetricsAsJSON()` returns it. */
export type MetricsJson = RegistryJson;

/** Everything a worker needs to build its data plane. */
export interface WorkerInit {
  address?: string;
  /** Listener port -> local port, as `--port-map` gives them. */
  portMap: [number, number][];
  balancer?: "round-robin" | "least-request";
  /** Upstream connection tuning, passed to the data plane as given. */
  upstream?: Record<string, unknown>;
  /** HTTP/2 limits against abusive clients (`serve --h2-*`), passed to the data plane as given. */
  limits?: Partial<ProtocolLimits>;
  /** Request bytes the worker's calls may keep for retries at once (`--retry-buffer-limit`). */
  retryBufferBytes?: number;
  /** Largest transcoded request body (`--transcoding-body-limit`). */
  transcodingBodyLimit?: number;
  logFormat: LogFormat;
  logLevel: LogLevel;
  /**
   * What the worker does with each finished call and endpoint event: `local` keeps metrics and writes access
   * and log lines itself (`serve`); `forward` sends them to the primary (tests); `none` drops them.
   */
  record: "local" | "forward" | "none";
}

export type PrimaryMessage =
  | { t: "init"; cfg: WorkerInit }
  /** `ports`: listener port -> local port for this table (ports mapped to 0 resolved by the primary). */
  | { t: "apply"; seq: number; table: RoutingTable; ports: [number, number][] }
  | { t: "stats"; seq: number }
  | { t: "metrics"; seq: number }
  | { t: "close"; graceMs: number };

export type WorkerMessage =
  | { t: "ready" }
  | { t: "applied"; seq: number; ok: true; bound: [number, number][] }
  | { t: "applied"; seq: number; ok: false; message: string; code: string | undefined }
  | { t: "stats"; seq: number; stats: DataplaneStats }
  | { t: "metrics"; seq: number; json: MetricsJson }
  | { t: "call"; info: CallInfo }
  | { t: "endpoint"; event: EndpointEvent }
  | { t: "closed" };
