/**
 * Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection package does it, with
 * its defaults: lease duration 15 s, renew deadline 10 s, retry period 2 s.
 *
 * - A candidate tries every retry period (with jitter) to take the Lease: it creates it when missing, and
 *   takes it when it is free (no holder) or expired. Expiry is judged on the local clock from when this
 *   replica last saw the Lease record change, never from the times written in it (clocks differ).
 * - The leader renews every retry period. If it cannot renew for the renew deadline, it stops leading
 *   (stops writing status) and becomes a candidate again; it keeps serving traffic throughout.
 * - On shutdown the leader releases the Lease (no holder, 1 s duration) so another replica takes over at
 *   its next try instead of after the lease duration.
 *
 * Lease times are MicroTime: RFC 3339 with exactly six fractional digits (an API server refuses three).
 */
import { hostname } from "node:os";
import type { Logger } from "../log/logger.js";
import { sleep } from "../util/sleep.js";
import { KubeApiError, type KubeClient } from "./client.js";

export const DEFAULT_LEASE_DURATION_S = 15;
export const DEFAULT_RENEW_DEADLINE_S = 10;
export const DEFAULT_RETRY_PERIOD_S = 2;
const JITTER = 1.2;

export interface LeaderElectionOptions {
  client: KubeClient;
  log: Logger;
  namespace: string;
  name: string;
  /** Unique per replica. Default `<hostname>_<random>`. */
  identity?: string;
  leaseDurationS?: number;
  renewDeadlineS?: number;
  retryPeriodS?: number;
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** Now as a Kubernetes MicroTime: `2006-01-02T15:04:05.000000Z`. */
export function microTime(ms: number = performance.timeOrigin + performance.now()): string {
  const whole = Math.floor(ms);
  const micros = Math.floor((ms - whole) * 1000);
  const iso = new Date(whole).toISOString(); // ...SS.mmmZ
  return `${iso.slice(0, 23)}${String(micros).padStart(3, "0")}Z`;
}

export class LeaderElector {
  readonly identity: string;
  readonly #o: LeaderElectionOptions;
  readonly #durationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryMs: number;
  #leading = false;
  /** The last Lease record seen, and when (local monotonic clock) it was first seen as it is. */
  #observed: { record: string; at: number } | undefined;
  #lastRenew = 0;

  constructor(opts: LeaderElectionOptions) {
    this.#o = opts;
    this.identity = opts.identity ?? `${hostname()}_${Math.random().toString(36).slice(2, 10)}`;
    this.#durationMs = (opts.leaseDurationS ?? DEFAULT_LEASE_DURATION_S) * 1000;
    this.#renewDeadlineMs = (opts.renewDeadlineS ?? DEFAULT_RENEW_DEADLINE_S) * 1000;
    this.#retryMs = (opts.retryPeriodS ?? DEFAULT_RETRY_PERIOD_S) * 1000;
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Campaigns and renews until `signal` aborts, then releases the Lease if held. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let ok = false;
      try {
        ok = await this.#tryAcquireOrRenew(signal);
      } catch (err: unknown) {
        if (signal.aborted) break;
        this.#o.log.warn(
          {
            code: err instanceof KubeApiError ? err.code : "GW_ERR_KUBE_API",
            lease: `${this.#o.namespace}/${this.#o.name}`,
            reason: err instanceof Error ? err.message : String(err),
          },
          this.#leading ? "cannot renew the leader Lease" : "cannot read or take the leader Lease",
        );
      }
      const now = performance.now();
      if (ok) {
        this.#lastRenew = now;
        if (!this.#leading) {
          this.#leading = true;
          this.#o.log.info(
            { identity: this.identity, lease: `${this.#o.namespace}/${this.#o.name}` },
            "became leader",
          );
          this.#o.onStartedLeading();
        }
      } else if (this.#leading && now - this.#lastRenew > this.#renewDeadlineMs) {
        this.#stopLeading("the Lease could not be renewed within the renew deadline");
      }
      const wait = this.#leading ? this.#retryMs : this.#retryMs * (1 + Math.random() * (JITTER - 1));
      await sleep(wait, signal);
    }
    await this.#release();
  }

  #stopLeading(why: string): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#o.log.warn({ identity: this.identity, reason: why }, "stopped leading");
    this.#o.onStoppedLeading();
  }

  #path(name?: string): string {
    const base = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.#o.namespace)}/leases`;
    return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
  }

  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const now = microTime();
    const durationS = Math.round(this.#durationMs / 1000);
    let lease: Lease;
    try {
      lease = await this.#o.client.request<Lease>("GET", this.#path(this.#o.name), { signal });
    } catch (err: unknown) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      const fresh: Lease = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: this.#o.name, namespace: this.#o.namespace },
        spec: {
          holderIdentity: this.identity,
          leaseDurationSeconds: durationS,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: 0,
        },
      };
      try {
        await this.#o.client.request("POST", this.#path(), { body: fresh, signal });
        return true;
      } catch (e: unknown) {
        if (e instanceof KubeApiError && e.status === 409) return false; // another replica created it
        throw e;
      }
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify(spec);
    const t = performance.now();
    if (this.#observed?.record !== record) this.#observed = { record, at: t };
    const holder = spec.holderIdentity ?? "";
    const ours = holder === this.identity;
    const leaseMs = (spec.leaseDurationSeconds ?? durationS) * 1000;
    const expired = holder === "" || t - (this.#observed?.at ?? t) > leaseMs;
    if (!ours && !expired) {
      if (this.#leading) this.#stopLeading(`the Lease is held by ${holder}`);
      return false;
    }
    const next: Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: durationS,
        renewTime: now,
        acquireTime: ours ? (spec.acquireTime ?? now) : now,
        leaseTransitions: ours ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      const written = await this.#o.client.request<Lease>("PUT", this.#path(this.#o.name), {
        body: next,
        signal,
      });
      this.#observed = { record: JSON.stringify(written.spec ?? next.spec), at: performance.now() };
      return true;
    } catch (err: unknown) {
      if (err instanceof KubeApiError && err.status === 409) return false;
      throw err;
    }
  }

  /** Gives the Lease up if we hold it (SIGTERM), so another replica takes over at once. */
  async #release(): Promise<void> {
    if (!this.#leading) return;
    this.#leading = false;
    this.#o.onStoppedLeading();
    try {
      const lease = await this.#o.client.request<Lease>("GET", this.#path(this.#o.name));
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = microTime();
      await this.#o.client.request("PUT", this.#path(this.#o.name), {
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: "",
            leaseDurationSeconds: 1,
            renewTime: now,
            acquireTime: now,
          },
        },
      });
      this.#o.log.info({ identity: this.identity }, "released the leader Lease");
    } catch (err: unknown) {
      this.#o.log.warn(
        { reason: err instanceof Error ? err.message : String(err) },
        "cannot release the leader Lease; another replica takes over when it expires",
      );
    }
  }
}
