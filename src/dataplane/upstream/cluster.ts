/**
 * Runtime state of backends: one `EndpointState` per upstream endpoint (its session pool and passive health,
 * shared by every cluster and table that names the endpoint, so health survives reloads), and one
 * immutable `ClusterRuntime` per cluster of a table that picks an endpoint per call.
 */
import type { IrCluster } from "../../ir/routing-table.js";
import type { SessionPool } from "./session-pool.js";

/** Consecutive failures after which an endpoint is set aside. */
const EJECT_AFTER_FAILURES = 3;
/** First time an endpoint is set aside (ms); doubles on each new ejection, up to EJECT_MAX_MS. */
const EJECT_BASE_MS = 1000;
const EJECT_MAX_MS = 30_000;

/** Passive health and load of one endpoint. */
export class EndpointState {
  /** Consecutive failed connects / lost connections. */
  failures = 0;
  /** How many times in a row it was set aside (for the back-off). */
  ejections = 0;
  /** Set aside until this time (ms since epoch); 0 when healthy. */
  ejectedUntil = 0;
  /** Calls in flight (for least-request). */
  inflight = 0;

  constructor(readonly pool: SessionPool) {}

  /** `host:port` */
  get address(): string {
    return this.pool.endpoint;
  }

  /** A connection could not be opened or was lost: after a few in a row, set the endpoint aside a while. */
  recordFailure(now: number): void {
    this.failures++;
    if (this.failures >= EJECT_AFTER_FAILURES) {
      this.ejectedUntil = now + Math.min(EJECT_MAX_MS, EJECT_BASE_MS * 2 ** this.ejections);
      this.ejections++;
      this.failures = 0;
    }
  }

  /** The endpoint answered: healthy again. */
  recordSuccess(): void {
    if (this.failures !== 0 || this.ejections !== 0 || this.ejectedUntil !== 0) {
      this.failures = 0;
      this.ejections = 0;
      this.ejectedUntil = 0;
    }
  }
}

/** How a cluster chooses among its endpoints. */
export type Balancer = "round-robin" | "least-request";

/** One cluster of a table: its endpoints in a stable order and the per-call pick. */
export class ClusterRuntime {
  private next = 0;

  constructor(
    readonly ir: IrCluster,
    readonly endpoints: readonly EndpointState[],
    private readonly balancer: Balancer,
  ) {}

  get name(): string {
    return this.ir.name;
  }

  /**
   * Picks an endpoint for a call, skipping `exclude` (the one that just failed) and endpoints set aside.
   * When every other endpoint is set aside, one of them is tried anyway (better than failing for sure), so
   * set-aside endpoints are retried later. Undefined when there is no other endpoint at all.
   */
  pick(exclude?: EndpointState): EndpointState | undefined {
    const eps = this.endpoints;
    const n = eps.length;
    if (n === 0) return undefined;
    if (n === 1) {
      const only = eps[0] as EndpointState;
      return only === exclude ? undefined : only;
    }
    const now = Date.now();
    if (this.balancer === "least-request") return this.pickLeastRequest(now, exclude);
    let fallback: EndpointState | undefined;
    for (let i = 0; i < n; i++) {
      const idx = (this.next + i) % n;
      const e = eps[idx] as EndpointState;
      if (e === exclude) continue;
      if (e.ejectedUntil <= now) {
        this.next = idx + 1;
        return e;
      }
      if (fallback === undefined || e.ejectedUntil < fallback.ejectedUntil) fallback = e;
    }
    return fallback;
  }

  /** Power of two choices among healthy endpoints, by calls in flight. */
  private pickLeastRequest(now: number, exclude: EndpointState | undefined): EndpointState | undefined {
    const eps = this.endpoints;
    const n = eps.length;
    const a = eps[Math.floor(Math.random() * n)] as EndpointState;
    const b = eps[Math.floor(Math.random() * n)] as EndpointState;
    const ok = (e: EndpointState) => e !== exclude && e.ejectedUntil <= now;
    if (ok(a) && ok(b)) return a.inflight <= b.inflight ? a : b;
    if (ok(a)) return a;
    if (ok(b)) return b;
    this.next = (this.next + 1) % n;
    let fallback: EndpointState | undefined;
    for (let i = 0; i < n; i++) {
      const e = eps[(this.next + i) % n] as EndpointState;
      if (e === exclude) continue;
      if (e.ejectedUntil <= now) return e;
      if (fallback === undefined || e.ejectedUntil < fallback.ejectedUntil) fallback = e;
    }
    return fallback;
  }
}
