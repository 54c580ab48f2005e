/**
 * The endpoints of one backend (cluster) under a TrafficPolicy's health checks or outlier detection: what
 * their pools share to decide whether calls may go to an endpoint.
 *
 * - Health (Envoy's active health checking): each pool's checker (`health.ts`) marks its endpoint healthy or
 *   not; an unhealthy endpoint leaves the pick. When every endpoint of the backend is unhealthy the calls go
 *   to them anyway ("panic" routing, as Envoy does) rather than all failing, and an event says so (a log line
 *   and the `grpcroute_backend_panic` gauge), and another when it is over.
 * - Outlier ejection (Envoy's consecutive-failure detection): `consecutiveFailures` UNAVAILABLE answers or
 *   failed connections in a row eject an endpoint for `baseEjectionTime` x the number of times it was ejected;
 *   that number drops by one for each `interval` the endpoint spends back in the pick. At most
 *   `maxEjectionPercent` of the backend's endpoints are ejected at once, and always at least one may be
 *   (Envoy's rule). An ejection is the pools' own "set aside" state (`UpstreamPool.ejected`), so the pick,
 *   failover and `explain` treat it as they treat endpoints that refuse connections.
 */
import type { IrHealthCheck, IrOutlierDetection } from "../../ir/routing-table.js";
import { GrpcCode } from "../grpc-status.js";
import type { UpstreamPool } from "./upstream.js";

/** Something that happened to an endpoint or a backend, for logs and metrics. */
export interface EndpointEvent {
  kind: "unhealthy" | "healthy" | "ejected" | "returned" | "panic" | "panic-over";
  /** Cluster name. */
  backend: string;
  /** `host:port`; "" for the backend-wide panic events. */
  endpoint: string;
  /** Why (the failed check, the failures counted, the ejection time). */
  reason: string;
}

export type EndpointEvents = (e: EndpointEvent) => void;

export class EndpointGroup {
  /** The pools of the backend's endpoints in the table serving now. */
  pools: UpstreamPool[] = [];
  panic = false;

  constructor(
    readonly backend: string,
    readonly health: IrHealthCheck | undefined,
    readonly outlier: IrOutlierDetection | undefined,
    private readonly emit: EndpointEvents,
  ) {}

  event(kind: EndpointEvent["kind"], pool: UpstreamPool | undefined, reason: string): void {
    try {
      this.emit({ kind, backend: this.backend, endpoint: pool?.address ?? "", reason });
    } catch {
      // A failing observer must not break the data path.
    }
  }

  /** A pool's health changed: say so, and enter or leave panic routing. */
  healthChanged(pool: UpstreamPool, reason: string): void {
    this.event(pool.healthy ? "healthy" : "unhealthy", pool, reason);
    const anyHealthy = this.pools.some((p) => p.healthy);
    if (!anyHealthy && !this.panic) {
      this.panic = true;
      this.event(
        "panic",
        undefined,
        `every endpoint of ${this.backend} is unhealthy: calls go to them anyway (panic routing)`,
      );
    } else if (anyHealthy && this.panic) {
      this.panic = false;
      this.event("panic-over", undefined, `an endpoint of ${this.backend} is healthy again`);
    }
  }

  /** An attempt on `pool` ended with gRPC `code` (or a connection to it failed: UNAVAILABLE). */
  outcome(pool: UpstreamPool, code: number, now: number): void {
    const o = this.outlier;
    if (o === undefined) return;
    if (code === GrpcCode.CANCELLED || code === GrpcCode.DEADLINE_EXCEEDED) return;
    if (code !== GrpcCode.UNAVAILABLE) {
      pool.outlierFailures = 0;
      return;
    }
    pool.outlierFailures++;
    if (pool.outlierFailures < o.consecutiveFailures || pool.outlierUntil > now) return;
    // At most maxEjectionPercent of the endpoints out at once, but at least one may be.
    const cap = Math.max(1, Math.floor((this.pools.length * o.maxEjectionPercent) / 100));
    let out = 0;
    for (const p of this.pools) if (p.outlierUntil > now) out++;
    if (out >= cap) return;
    // The ejection count decays by one per interval spent back in the pick.
    if (pool.outlierEjections > 0 && pool.outlierBackAt > 0) {
      const back = Math.floor((now - pool.outlierBackAt) / o.intervalMs);
      pool.outlierEjections = Math.max(0, pool.outlierEjections - back);
    }
    pool.outlierEjections++;
    const ms = o.baseEjectionMs * pool.outlierEjections;
    pool.outlierUntil = now + ms;
    pool.outlierBackAt = pool.outlierUntil;
    const failures = pool.outlierFailures;
    pool.outlierFailures = 0;
    this.event(
      "ejected",
      pool,
      `${failures} UNAVAILABLE answers or failed connections in a row: ejected for ${ms} ms (ejection ${pool.outlierEjections})`,
    );
    const t = setTimeout(returned, ms, this, pool);
    t.unref();
  }
}

function returned(group: EndpointGroup, pool: UpstreamPool): void {
  if (pool.retired || pool.outlierUntil > Date.now()) return;
  group.event("returned", pool, "its ejection time is over");
}
