/**
 * The data plane: HTTP/2 listeners that route real gRPC calls as the routing table says.
 *
 * `apply(table)` builds the immutable runtime of the table (routers, weighted backends, clusters), binds the
 * ports the table adds, then swaps each port's state in one synchronous step, so every call sees either the
 * old table or the new one, and calls in flight finish on the table they started with. Ports no longer used
 * close gracefully; endpoints no longer named close their sessions once their streams end.
 */
import type { IrCluster, IrListener, RoutingTable } from "../ir/routing-table.js";
import { validateRoutingTable } from "../ir/validate.js";
import { GatewayError, GW_ERR_CONFIG, GW_ERR_TLS } from "../util/errors.js";
import { GeneratedCertificates } from "../util/self-signed.js";
import type { CallHost, ProxyCall } from "./proxy-stream.js";
import { buildRuntime, type TableRuntime } from "./runtime.js";
import { type CertKey, contextOf, PortServer, type PortState } from "./server.js";
import type { DataplaneApi, DataplaneOptions, DataplaneStats } from "./types.js";
import { type Balancer, EndpointState } from "./upstream/cluster.js";
import { DEFAULT_POOL_OPTIONS, type PoolOptions, SessionPool } from "./upstream/session-pool.js";

/** Default time calls in flight get to finish on `close()` (ms). */
export const DEFAULT_GRACE_MS = 10_000;

/** Upstream tuning beyond `DataplaneOptions` (tests and benchmarks). */
export interface UpstreamOptions extends Partial<Omit<PoolOptions, "onSessionCount">> {
  /** Endpoint choice within a cluster. Default round-robin. */
  balancer?: Balancer;
}

export class Dataplane implements DataplaneApi, CallHost {
  private readonly opts: DataplaneOptions;
  private readonly poolOptions: PoolOptions;
  private readonly balancer: Balancer;
  private readonly ports = new Map<number, PortServer>();
  /** Servers of ports a table removed, still draining their calls. */
  private readonly closingPorts = new Set<PortServer>();
  /** Endpoint state by pool key, shared across tables so sessions and health survive reloads. */
  private readonly endpoints = new Map<string, EndpointState>();
  /** Generated certificates by their sorted name list, kept across applies. */
  private readonly generated: GeneratedCertificates;
  private runtime: TableRuntime | undefined;
  private queue: Promise<void> = Promise.resolve();
  private activeCalls = 0;
  private upstreamSessions = 0;
  private closed = false;

  constructor(opts: DataplaneOptions = {}, upstream: UpstreamOptions = {}) {
    this.opts = opts;
    this.generated = new GeneratedCertificates(opts.onCertificateGenerated);
    this.balancer = upstream.balancer ?? opts.balancer ?? "round-robin";
    const { balancer: _b, ...pool } = upstream;
    this.poolOptions = {
      ...DEFAULT_POOL_OPTIONS,
      ...Object.fromEntries(Object.entries(pool).filter(([, v]) => v !== undefined)),
      onSessionCount: (d: number) => {
        this.upstreamSessions += d;
      },
    };
  }

  /**
   * Swap in a new table atomically: calls in flight keep the table they started on; binds new listener
   * ports, closes (gracefully) ports no longer used, keeps the others untouched. Rejects with a
   * GatewayError (code GW_ERR_BIND, naming the port) if a new port cannot be bound, keeping the old table
   * serving. Applies run one at a time, in call order.
   */
  apply(table: RoutingTable): Promise<void> {
    const next = this.queue.then(() => this.applyNow(table));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async applyNow(table: RoutingTable): Promise<void> {
    if (this.closed) throw new GatewayError(GW_ERR_CONFIG, "the data plane is closed");
    try {
      validateRoutingTable(table);
    } catch (e: unknown) {
      // A broken invariant is a translator bug: refuse the table, keep serving the last good one.
      throw new GatewayError(
        GW_ERR_CONFIG,
        `routing table ${table.version} refused: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
    const runtime = buildRuntime(table, (c, host, port) => this.endpointFor(c, host, port), this.balancer);
    const certs = await this.certificates(table.listeners);
    const states = new Map<number, PortState>();
    for (const [port, router] of runtime.routers) {
      const portCerts = new Map<IrListener, CertKey[]>();
      for (const l of router.listeners) {
        const c = certs.get(l);
        if (c !== undefined) portCerts.set(l, c);
      }
      states.set(port, { router, runtime, certs: portCerts });
    }
    // Bind what is new (or changed protocol) before touching what serves now.
    const added: PortServer[] = [];
    const replaced: PortServer[] = [];
    try {
      for (const [port, state] of states) {
        const tls = state.router.listeners[0]?.protocol === "HTTPS";
        const cur = this.ports.get(port);
        if (cur !== undefined && cur.tls === tls) continue;
        if (cur !== undefined) {
          // HTTP <-> HTTPS on the same port: the old server must let go of the port first.
          replaced.push(cur);
          this.ports.delete(port);
          await cur.close(0);
        }
        const server = new PortServer(port, tls, state, this);
        await server.listen(this.opts.address, this.opts.portMap?.get(port) ?? port);
        added.push(server);
      }
    } catch (e: unknown) {
      await Promise.all(added.map((s) => s.close(0)));
      throw e;
    }
    // The swap: synchronous, so no call sees half of it.
    for (const s of added) this.ports.set(s.port, s);
    for (const [port, state] of states) this.ports.get(port)?.update(state);
    const removed: PortServer[] = [];
    for (const [port, server] of this.ports) {
      if (!states.has(port)) {
        removed.push(server);
        this.ports.delete(port);
      }
    }
    this.runtime = runtime;
    for (const s of removed) this.track(s);
    this.closeUnusedEndpoints(runtime);
  }

  private track(server: PortServer): void {
    this.closingPorts.add(server);
    void server.close(DEFAULT_GRACE_MS).finally(() => this.closingPorts.delete(server));
  }

  private endpointFor(c: IrCluster, host: string, port: number): EndpointState {
    const key = SessionPool.keyOf(host, port, c.tls, c.serverName);
    let e = this.endpoints.get(key);
    if (e === undefined) {
      e = new EndpointState(new SessionPool(host, port, c.tls, c.serverName, this.poolOptions));
      this.endpoints.set(key, e);
    }
    return e;
  }

  private closeUnusedEndpoints(runtime: TableRuntime): void {
    const used = new Set<EndpointState>();
    for (const c of runtime.clusters.values()) for (const e of c.endpoints) used.add(e);
    for (const [key, e] of this.endpoints) {
      if (used.has(e)) continue;
      this.endpoints.delete(key);
      e.pool.close(true);
    }
  }

  /** The certificates of every HTTPS listener: its Secrets, or one generated for `tls.generate`. */
  private async certificates(listeners: readonly IrListener[]): Promise<Map<IrListener, CertKey[]>> {
    const out = new Map<IrListener, CertKey[]>();
    for (const l of listeners) {
      if (l.protocol !== "HTTPS" || l.tls === undefined) continue;
      const certs: CertKey[] = [];
      for (const c of l.tls.certificates) {
        const ck = { certPem: c.certPem, keyPem: c.keyPem };
        try {
          // Checked before the swap: a certificate Node cannot load must not half-apply a table.
          contextOf(ck);
        } catch (e: unknown) {
          throw new GatewayError(
            GW_ERR_TLS,
            `listener ${l.name}: certificate ${c.source} cannot be used: ${e instanceof Error ? e.message : String(e)}`,
            { cause: e },
          );
        }
        certs.push(ck);
      }
      const gen = l.tls.generate;
      if (gen !== undefined && certs.length === 0) {
        const c = await this.generated.get(l.name, gen.dnsNames);
        certs.push(c);
      }
      out.set(l, certs);
    }
    return out;
  }

  /** Listener port -> bound local port (after port-map, 0 resolved). */
  boundPorts(): ReadonlyMap<number, number> {
    const out = new Map<number, number>();
    for (const [port, s] of this.ports) out.set(port, s.localPort);
    return out;
  }

  stats(): DataplaneStats {
    return { activeCalls: this.activeCalls, upstreamSessions: this.upstreamSessions };
  }

  /** The table version serving new calls, if any. */
  version(): number | undefined {
    return this.runtime?.version;
  }

  /** @internal CallHost: a call started. */
  callStarted(): void {
    this.activeCalls++;
  }

  /** @internal CallHost: a call ended. */
  callEnded(call: ProxyCall): void {
    this.activeCalls--;
    const cb = this.opts.onCallEnd;
    if (cb !== undefined) {
      try {
        cb(call.info());
      } catch {
        // A broken observer must not break calls.
      }
    }
  }

  /**
   * Stop accepting, send GOAWAY, let calls in flight finish up to `graceMs` (default 10000), then reset the
   * rest and close upstream sessions.
   */
  async close(graceMs: number = DEFAULT_GRACE_MS): Promise<void> {
    this.closed = true;
    await this.queue;
    const servers = [...this.ports.values()];
    this.ports.clear();
    await Promise.all([...servers, ...this.closingPorts].map((s) => s.close(graceMs)));
    for (const e of this.endpoints.values()) e.pool.close(false);
    this.endpoints.clear();
  }
}
