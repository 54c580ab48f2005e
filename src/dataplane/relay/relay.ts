/**
 * The frame-level relay data plane: listener ports, atomic table swaps, endpoint pools, draining, and the
 * report of each finished call.
 *
 * Every downstream stream becomes a `RelayCall` (`downstream.ts`), which the router sends to a backend; the
 * call opens a stream on a pooled upstream connection (`upstream.ts`; stream ids are remapped by
 * construction: each connection numbers its own) and from then on header blocks and DATA payloads are passed
 * between the two `H2Connection`s as they arrive (`downstream.ts`, `responses.ts`). Windows are returned to a
 * sender only when the other side's connection actually wrote the bytes, so memory per call is bounded by the
 * stream window and a slow reader slows the writer.
 */
import { performance } from "node:perf_hooks";
import type { IrCluster, IrListener, IrRetryPolicy, RoutingTable } from "../../ir/routing-table.js";
import { validateRoutingTable } from "../../ir/validate.js";
import { GatewayError, GW_ERR_CONFIG } from "../../util/errors.js";
import { GeneratedCertificates } from "../../util/self-signed.js";
import { BackendClient } from "../local/backend-client.js";
import { BackendReflection } from "../local/backend-reflection.js";
import { type LocalEnv, LocalServices } from "../local/dispatch.js";
import { DEFAULT_TRANSCODING_BODY_LIMIT } from "../local/transcode.js";
import { compileRouter } from "../router.js";
import type { CallInfo, DataplaneApi, DataplaneOptions, DataplaneStats } from "../types.js";
import type { CallHost, RelayCall } from "./call.js";
import type { ConnectionOptions, H2Connection } from "./connection.js";
import { downstreamHandler } from "./downstream.js";
import { EndpointGroup } from "./endpoint-group.js";
import { resolveLimits } from "./limits.js";
import {
  type ListenerContext,
  listen,
  listenerContexts,
  type PortState,
  type RelayListener,
} from "./listener.js";
import { upstreamHandler } from "./responses.js";
import { DEFAULT_RETRY_BUFFER_BYTES, RetryBudget, RetryBuffer } from "./retry.js";
import {
  DEFAULT_UPSTREAM,
  type PoolSettings,
  poolKey,
  type UpstreamOptions,
  UpstreamPool,
} from "./upstream.js";
import { auditWindows, type WindowAudit } from "./window-audit.js";

/** The endpoint group of a cluster with health checks or outlier detection: its name and its settings. */
function groupId(c: IrCluster): string {
  const p = c.policy;
  return `${c.name}|${JSON.stringify([p?.healthCheck ?? null, p?.outlierDetection ?? null])}`;
}

/** The data plane options, plus the HTTP/2 limits the relay advertises (tests and tuning). */
export interface RelayOptions extends DataplaneOptions {
  /** Limits we advertise to clients and backends. Defaults in `ConnectionOptions`. */
  connection?: ConnectionOptions;
}

/** Default time calls in flight get to finish on `close()` (ms). */
export const DEFAULT_GRACE_MS = 10_000;

const SWEEP_INTERVAL_MS = 10_000;

/**
 * The relay data plane. Same contract as the node:http2 `Dataplane`: `apply()` swaps the table atomically
 * (calls in flight keep the configuration they started with), `close()` drains.
 */
export class RelayDataplane implements DataplaneApi, CallHost {
  activeCalls = 0;
  readonly maxHeaderListSize: number;
  private readonly listeners = new Map<number, RelayListener>();
  private readonly pools = new Map<string, UpstreamPool>();
  private readonly poolCache = new WeakMap<IrCluster, UpstreamPool[]>();
  private readonly rr = new Map<string, number>();
  /** Retry budgets by retry policy object (the policies of one rule share one object per table). */
  private readonly budgets = new WeakMap<IrRetryPolicy, RetryBudget>();
  /** The budget found last: calls of one rule come in runs, and this spares them the WeakMap. */
  private lastBudget: RetryBudget | undefined = undefined;
  readonly retryBuffer: RetryBuffer;
  private readonly generated: GeneratedCertificates;
  private readonly connOpts: ConnectionOptions;
  private readonly upOpts: PoolSettings;
  private readonly sweepTimer: NodeJS.Timeout;
  private closing = false;
  private drained: (() => void) | null = null;
  private queue: Promise<void> = Promise.resolve();
  private tableVersion: number | undefined = undefined;
  /** Pool keys of every endpoint of the table serving now (undefined before the first). */
  private tableKeys: Set<string> | undefined = undefined;
  /** Health and outlier state of the backends whose TrafficPolicy asks for either, by pool-key suffix. */
  private groups = new Map<string, EndpointGroup>();
  /** Calls the gateway makes itself (reflection, transcoding), and what it learned of backends' reflection. */
  private readonly backendClient = new BackendClient();
  private readonly localEnv: LocalEnv;

  /**
   * @param opts listeners' address and port map, the per-call observer, HTTP/2 limits.
   * @param upstream upstream connection tuning (same names and defaults as the node:http2 data path).
   */
  constructor(
    private readonly opts: RelayOptions = {},
    upstream: UpstreamOptions = {},
  ) {
    this.generated = new GeneratedCertificates(opts.onCertificateGenerated);
    const limits = resolveLimits({ ...opts.connection?.limits, ...opts.limits });
    // A limit given as a flag wins over the connection options (tests), which win over the defaults.
    this.connOpts = {
      ...opts.connection,
      maxHeaderListSize:
        opts.limits?.maxHeaderListSize ?? opts.connection?.maxHeaderListSize ?? limits.maxHeaderListSize,
      maxConcurrentStreams:
        opts.limits?.maxConcurrentStreams ??
        opts.connection?.maxConcurrentStreams ??
        limits.maxConcurrentStreams,
      limits,
    };
    this.maxHeaderListSize = this.connOpts.maxHeaderListSize ?? limits.maxHeaderListSize;
    this.retryBuffer = new RetryBuffer(opts.retryBufferBytes ?? DEFAULT_RETRY_BUFFER_BYTES);
    const given = Object.fromEntries(Object.entries(upstream).filter(([, v]) => v !== undefined));
    this.upOpts = { ...DEFAULT_UPSTREAM, ...given };
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
    const backends = new BackendReflection(this.backendClient, {
      pickEndpoint: (c) => this.pickPool(c, undefined)?.endpoint,
      onNoReflection: (backend, reason) => opts.onLocalEvent?.({ kind: "no-reflection", backend, reason }),
    });
    this.localEnv = {
      backends,
      client: this.backendClient,
      pickEndpoint: (c) => this.pickPool(c, undefined)?.endpoint,
      transcodingBodyLimit: opts.transcodingBodyLimit ?? DEFAULT_TRANSCODING_BODY_LIMIT,
    };
  }

  /**
   * Swaps the routing table atomically: binds new ports first, then switches every port's state in one
   * synchronous step, then closes ports no longer used. Rejects with a GatewayError, keeping the old table
   * serving, when a new port cannot be bound (GW_ERR_BIND, naming the port) or the table breaks an IR
   * invariant (GW_ERR_CONFIG). Applies run one at a time.
   */
  apply(table: RoutingTable): Promise<void> {
    const next = this.queue.then(() => this.applyNow(table));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Version of the table serving now; undefined before the first `apply()`. */
  version(): number | undefined {
    return this.tableVersion;
  }

  private async applyNow(table: RoutingTable): Promise<void> {
    if (this.closing) throw new GatewayError(GW_ERR_CONFIG, "the data plane is closed");
    try {
      validateRoutingTable(table);
    } catch (e: unknown) {
      // A broken invariant is a translator bug: refuse the table and keep serving the last good one.
      const why = e instanceof Error ? e.message : String(e);
      throw new GatewayError(GW_ERR_CONFIG, `routing table ${table.version} refused: ${why}`, { cause: e });
    }
    const byPort = new Map<number, IrListener[]>();
    for (const l of table.listeners) {
      const list = byPort.get(l.port);
      if (list) list.push(l);
      else byPort.set(l.port, [l]);
    }
    const prepared: {
      port: number;
      state: PortState;
      contexts: ListenerContext[];
      secure: boolean;
    }[] = [];
    for (const [port, ls] of byPort) {
      const secure = ls.some((l) => l.protocol === "HTTPS");
      const contexts = secure ? await listenerContexts(ls, this.generated) : [];
      const matchesHeaders = ls.some((l) => l.routes.some((r) => r.match.headers.length > 0));
      const router = compileRouter(ls);
      const local = new LocalServices(router, table, this.localEnv);
      prepared.push({ port, state: { router, table, matchesHeaders, local }, contexts, secure });
    }
    // Bind every new port first, so a bind failure leaves the running configuration untouched.
    const created: RelayListener[] = [];
    try {
      for (const p of prepared) {
        const existing = this.listeners.get(p.port);
        if (existing !== undefined && existing.secure === p.secure) continue;
        created.push(
          await listen({
            host: this,
            port: p.port,
            local: this.opts.portMap?.get(p.port) ?? p.port,
            address: this.opts.address,
            secure: p.secure,
            state: p.state,
            handler: downstreamHandler,
            connOpts: this.connOpts,
            accepting: () => !this.closing,
          }),
        );
      }
    } catch (err: unknown) {
      for (const l of created) l.close();
      throw err;
    }
    for (const l of created) {
      const old = this.listeners.get(l.port);
      if (old !== undefined) old.close();
      this.listeners.set(l.port, l);
    }
    for (const p of prepared) this.listeners.get(p.port)!.update(p.state, p.contexts);
    for (const [port, l] of this.listeners) {
      if (!byPort.has(port)) {
        l.close();
        this.listeners.delete(port);
      }
    }
    this.tableVersion = table.version;
    this.listEndpoints(table);
    // Backends' reflection answers are asked again under the new table.
    this.localEnv.backends.reload();
  }

  /**
   * Tells every pool whether the table serving now still has its endpoint: background connection attempts
   * stop for endpoints that left it, and empty pools of those are dropped at once.
   */
  private listEndpoints(table: RoutingTable): void {
    const keys = new Set<string>();
    for (const c of Object.values(table.clusters)) for (const ep of c.endpoints) keys.add(poolKey(c, ep));
    this.tableKeys = keys;
    for (const [key, p] of this.pools) {
      p.setInTable(keys.has(key));
      if (!p.listed && p.empty()) {
        p.retired = true;
        this.pools.delete(key);
      }
    }
    // Backends with health checks or outlier detection: their endpoints' pools exist from now on (checks
    // start at once), and each group knows its pools, for panic routing and the ejection cap.
    const groups = new Map<string, EndpointGroup>();
    const grouped: IrCluster[] = [];
    for (const c of Object.values(table.clusters)) {
      const hc = c.policy?.healthCheck;
      const od = c.policy?.outlierDetection;
      if ((hc === undefined && od === undefined) || c.endpoints.length === 0) continue;
      const id = groupId(c);
      const group =
        this.groups.get(id) ??
        new EndpointGroup(c.name, hc, od, (e) => {
          this.opts.onEndpointEvent?.(e);
        });
      groups.set(id, group);
      grouped.push(c);
    }
    this.groups = groups;
    for (const c of grouped) {
      const group = groups.get(groupId(c))!;
      group.pools = c.endpoints.map((_, i) => this.pool(c, i));
    }
  }

  /** @internal Health of every health-checked endpoint, and the backends in panic routing (metrics). */
  endpointHealth(): {
    endpoints: { backend: string; endpoint: string; healthy: boolean }[];
    panic: string[];
  } {
    const endpoints: { backend: string; endpoint: string; healthy: boolean }[] = [];
    const panic: string[] = [];
    for (const g of this.groups.values()) {
      if (g.health === undefined) continue;
      if (g.panic) panic.push(g.backend);
      for (const p of g.pools)
        endpoints.push({ backend: g.backend, endpoint: p.address, healthy: p.healthy });
    }
    return { endpoints, panic };
  }

  /** Listener port -> locally bound port. */
  boundPorts(): ReadonlyMap<number, number> {
    const out = new Map<number, number>();
    for (const [port, l] of this.listeners) out.set(port, l.localPort);
    return out;
  }

  stats(): DataplaneStats {
    let sessions = 0;
    for (const p of this.pools.values()) sessions += p.conns.length;
    const health = this.endpointHealth();
    return {
      activeCalls: this.activeCalls,
      upstreamSessions: sessions,
      retryBufferedBytes: this.retryBuffer.held,
      endpointHealth: health.endpoints,
      panicBackends: health.panic,
    };
  }

  /** @internal CallHost: the budget of a retry policy. */
  retryBudget(policy: IrRetryPolicy): RetryBudget {
    const last = this.lastBudget;
    if (last !== undefined && last.policy === policy) return last;
    let b = this.budgets.get(policy);
    if (b === undefined) {
      b = new RetryBudget(policy, this.retryBuffer);
      this.budgets.set(policy, b);
    }
    this.lastBudget = b;
    return b;
  }

  /** Client connections open now: the client's port and the bytes read so far on each (tests, diagnostics). */
  clientConnections(): { remotePort: number; bytesRead: number }[] {
    const out: { remotePort: number; bytesRead: number }[] = [];
    for (const l of this.listeners.values()) {
      for (const c of l.conns)
        out.push({ remotePort: c.socket.remotePort ?? 0, bytesRead: c.socket.bytesRead });
    }
    return out;
  }

  /** Stops accepting, sends GOAWAY, waits for calls in flight up to `graceMs`, then closes everything. */
  async close(graceMs: number = DEFAULT_GRACE_MS): Promise<void> {
    this.closing = true;
    clearInterval(this.sweepTimer);
    for (const l of this.listeners.values()) l.close();
    if (this.activeCalls > 0 && graceMs > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, graceMs);
        t.unref();
        this.drained = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    this.drained = null;
    this.groups.clear();
    for (const l of this.listeners.values()) l.destroyConnections();
    this.listeners.clear();
    for (const p of this.pools.values()) p.destroy();
    this.pools.clear();
    this.backendClient.close();
  }

  /**
   * @internal Picks an endpoint pool of `cluster` round-robin, skipping `exclude` and endpoints that are set
   * aside or unhealthy. When every other endpoint is, one of them is tried anyway rather than failing the call
   * without an attempt (for health checks: "panic" routing).
   */
  pickPool(cluster: IrCluster, exclude: UpstreamPool | undefined): UpstreamPool | undefined {
    const eps = cluster.endpoints;
    const n = eps.length;
    if (n === 0) return undefined;
    if (this.upOpts.balancer === "least-request" && n > 1) return this.pickLeast(cluster, exclude);
    const start = this.rr.get(cluster.name) ?? 0;
    const now = Date.now();
    let fallback: UpstreamPool | undefined;
    for (let i = 0; i < n; i++) {
      const idx = (start + i) % n;
      const pool = this.pool(cluster, idx);
      if (pool === exclude) continue;
      if (!pool.usable(now)) {
        fallback ??= pool;
        continue;
      }
      this.rr.set(cluster.name, idx + 1);
      return pool;
    }
    if (fallback !== undefined) this.rr.set(cluster.name, start + 1);
    return fallback;
  }

  /** @internal CallHost: whether some endpoint of `cluster` is healthy and not set aside. */
  available(cluster: IrCluster): boolean {
    const now = Date.now();
    for (let i = 0; i < cluster.endpoints.length; i++) if (this.pool(cluster, i).usable(now)) return true;
    return false;
  }

  /** The ready endpoint with the fewest calls in flight; ties go round-robin. */
  private pickLeast(cluster: IrCluster, exclude: UpstreamPool | undefined): UpstreamPool | undefined {
    const eps = cluster.endpoints;
    const n = eps.length;
    const start = this.rr.get(cluster.name) ?? 0;
    const now = Date.now();
    let best: UpstreamPool | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    let bestIdx = 0;
    // Healthy endpoints first; when none is, the unhealthy ones not set aside (panic routing).
    for (let pass = 0; pass < 2 && best === undefined; pass++) {
      for (let i = 0; i < n; i++) {
        const idx = (start + i) % n;
        const pool = this.pool(cluster, idx);
        if (pool === exclude || pool.ejected(now) || (pass === 0 && !pool.healthy)) continue;
        const load = pool.activeStreams();
        if (load < bestLoad) {
          best = pool;
          bestLoad = load;
          bestIdx = idx;
        }
      }
    }
    if (best === undefined) return undefined;
    this.rr.set(cluster.name, bestIdx + 1);
    return best;
  }

  /** The pool of endpoint `idx` of `cluster`, cached on the (immutable) cluster object of the table. */
  private pool(cluster: IrCluster, idx: number): UpstreamPool {
    let cached = this.poolCache.get(cluster);
    if (cached === undefined) {
      cached = [];
      this.poolCache.set(cluster, cached);
    }
    let p = cached[idx];
    if (p === undefined || p.retired) {
      p = this.poolFor(cluster, cluster.endpoints[idx]!);
      cached[idx] = p;
    }
    return p;
  }

  private poolFor(cluster: IrCluster, ep: IrCluster["endpoints"][number]): UpstreamPool {
    const key = poolKey(cluster, ep);
    let p = this.pools.get(key);
    if (p === undefined) {
      const group = cluster.policy === undefined ? null : (this.groups.get(groupId(cluster)) ?? null);
      p = new UpstreamPool(key, ep, cluster, upstreamHandler, this.connOpts, this.upOpts, group);
      // A pool made for a call still on an older table, for an endpoint gone since, makes no background attempts.
      if (this.tableKeys !== undefined && !this.tableKeys.has(key)) p.setInTable(false);
      this.pools.set(key, p);
    }
    return p;
  }

  /**
   * @internal The flow-control books of every connection (see `window-audit.ts`), for tests: call it when no
   * frame is being handled (from a timer or an await, not from a handler).
   */
  windowAudit(): WindowAudit[] {
    const down: H2Connection[] = [];
    for (const l of this.listeners.values()) down.push(...l.conns);
    const up: H2Connection[] = [];
    for (const p of this.pools.values()) up.push(...p.conns);
    return auditWindows(down, up);
  }

  /** @internal CallHost: a call started. */
  callStarted(): void {
    this.activeCalls++;
  }

  /** @internal CallHost: a call finished: report it. */
  callEnded(call: RelayCall): void {
    this.activeCalls--;
    const cb = this.opts.onCallEnd;
    if (cb !== undefined) {
      const info: CallInfo = {
        listener: call.listenerName,
        authority: call.authority,
        path: call.path,
        grpcStatus: call.grpcStatus,
        httpStatus: call.httpStatus,
        durationMs: performance.now() - call.start,
        requestBytes: call.requestBytes,
        responseBytes: call.responseBytes,
      };
      if (call.gateway !== undefined) info.gateway = call.gateway;
      if (call.route !== undefined) info.route = call.route.name;
      if (call.cluster !== undefined) info.backend = call.cluster.name;
      if (call.endpoint !== undefined) info.endpoint = call.endpoint;
      if (call.gatewayError !== undefined) info.gatewayError = call.gatewayError;
      if (call.failover !== undefined) info.failover = call.failover;
      if (call.retry !== null && call.retry.tries > 1) info.attempts = call.retry.tries;
      if (call.web) info.protocol = "grpc-web";
      try {
        cb(info);
      } catch {
        // A failing observer must not break the data path.
      }
    }
    if (this.activeCalls === 0 && this.drained !== null) this.drained();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, p] of this.pools) {
      p.sweep(now);
      // A failing endpoint's pool is kept (it remembers the backoff) while the table has the endpoint, and so
      // is a health-checked or outlier-tracked one (it holds the endpoint's health and ejections).
      if (p.empty() && ((p.failures === 0 && p.group === null) || !p.listed)) {
        p.retired = true;
        this.pools.delete(key);
      }
    }
  }
}
