/**
 * Upstream connections of the relay: one pool of HTTP/2 client connections per endpoint, respecting each
 * peer's SETTINGS_MAX_CONCURRENT_STREAMS (another connection opens when all are full), spreading busy
 * endpoints over a few connections (`streamsPerConnection`), draining connections that got GOAWAY, closing
 * idle ones, and setting aside endpoints whose connections keep failing.
 */
import { createHash } from "node:crypto";
import * as net from "node:net";
import * as tls from "node:tls";
import type { IrBackendTls, IrCluster, IrEndpoint } from "../../ir/routing-table.js";
import { GrpcCode } from "../grpc-status.js";
import { type ConnectionHandler, type ConnectionOptions, H2Connection } from "./connection.js";
import type { EndpointGroup } from "./endpoint-group.js";
import { HealthChecker } from "./health.js";
import { HttpHealthChecker } from "./http-health.js";

/** Something waiting for a stream on a pool's connections (a relayed call or a mirror copy). */
export interface PoolWaiter {
  /** A connection with a free stream slot: open the stream now. */
  bind(conn: H2Connection): void;
  /** No connection could be made (`reason` says why). */
  connectFailed(reason: string): void;
}

/**
 * Upstream tuning (the same names and defaults as the node:http2 data path's `UpstreamOptions`, plus
 * `streamsPerConnection`, which only the relay has).
 */
export interface UpstreamOptions {
  /** Give up a connection attempt after this long (ms). Default 5000. */
  connectTimeoutMs?: number;
  /** Close connections without streams after this long (ms). Default 60000. */
  idleTimeoutMs?: number;
  /** PING a connection after this long (ms); 0 disables keepalive. Default 30000. */
  keepaliveIntervalMs?: number;
  /** Close a connection whose PING is not answered within this (ms). Default 10000. */
  keepaliveTimeoutMs?: number;
  /** Most connections per endpoint. Default 16. */
  maxSessions?: number;
  /**
   * Streams a connection carries before the pool opens another one to the same endpoint (while it has fewer
   * than `maxSessions`). Beyond it, and while the new connection is being made, streams go to the least busy
   * connection up to the peer's own limit: the soft limit never makes a call wait. Default 32.
   *
   * Why: a server reads whatever a connection has queued in one go, so one connection carrying every call
   * hands a busy backend its whole backlog at once, and a grpc-js backend then holds all those calls in memory
   * together and pays for it in garbage collection (bench/history/notes-2026.md, "Upstream connections of at most 32
   * streams"). A backend made of several processes sharing one port also keeps only as many of them busy as
   * it has connections.
   */
  streamsPerConnection?: number;
  /** Trusted CA certificates (PEM) for TLS upstreams; default the system store. */
  ca?: string | undefined;
  /** Endpoint choice within a cluster. Default round-robin. */
  balancer?: "round-robin" | "least-request";
  /**
   * An endpoint whose connection attempts failed twice in a row is set aside (calls go to other endpoints,
   * or other backendRefs) for this long (ms), doubled after each further failure up to `backoffMaxMs`.
   * Default 1000.
   */
  backoffBaseMs?: number;
  /** The longest an endpoint is set aside before calls try it again (ms). Default 30000. */
  backoffMaxMs?: number;
  /**
   * While an endpoint is set aside, one connection attempt at a time is made to it in the background, this
   * long (ms) after the last one failed; the first that completes an HTTP/2 handshake brings the endpoint
   * back (and serves its calls), however long it was set aside. 0 turns these attempts off. Default 250.
   */
  probeIntervalMs?: number;
}

/** Options with defaults applied. */
export type PoolSettings = Required<Omit<UpstreamOptions, "ca">> & { ca: string | undefined };

export const DEFAULT_UPSTREAM: PoolSettings = {
  connectTimeoutMs: 5000,
  idleTimeoutMs: 60_000,
  keepaliveIntervalMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  maxSessions: 16,
  streamsPerConnection: 32,
  ca: undefined,
  balancer: "round-robin",
  backoffBaseMs: 1000,
  backoffMaxMs: 30_000,
  probeIntervalMs: 250,
};

/** Per-endpoint connection pool. */
export class UpstreamPool {
  readonly conns: H2Connection[] = [];
  private readonly waiters: PoolWaiter[] = [];
  private connecting = 0;
  /** Consecutive failed connection attempts, and until when the endpoint is set aside. */
  failures = 0;
  ejectedUntil = 0;
  lastError = "";
  /** Set when the data plane dropped this (empty) pool: a new one serves the endpoint from then on. */
  retired = false;
  /** Health checks (TrafficPolicy `healthCheck`) say calls may come here. Always true without checks. */
  healthy = true;
  /** Outlier detection (TrafficPolicy `outlierDetection`): UNAVAILABLE answers or failed connections in a row, ... */
  outlierFailures = 0;
  /** ... times ejected (decaying), until when ejected now, and when the last ejection ended. */
  outlierEjections = 0;
  outlierUntil = 0;
  outlierBackAt = 0;
  readonly tlsServerName: string | undefined;
  /** TLS to the endpoint (appProtocol or a BackendTLSPolicy). */
  readonly secure: boolean;
  private readonly backendTls: IrBackendTls | undefined;
  private readonly connectTimeoutMs: number;
  private checker: HealthChecker | HttpHealthChecker | null = null;
  /** Whether the routing table serving now has this endpoint: background attempts stop when it has not. */
  private inTable = true;
  /** The next background connection attempt while the endpoint is set aside. */
  private probeTimer: NodeJS.Timeout | undefined = undefined;
  /**
   * Connections opened beside serving ones that failed in a row, and until when no more such attempts are made:
   * they say the endpoint takes no more connections, not that it is down.
   */
  private growFailures = 0;
  private growAfter = 0;

  constructor(
    readonly key: string,
    readonly endpoint: IrEndpoint,
    cluster: IrCluster,
    private readonly handler: ConnectionHandler,
    private readonly connOpts: ConnectionOptions,
    private readonly opts: PoolSettings,
    /** The backend's health and outlier state, when its TrafficPolicy asks for either. */
    readonly group: EndpointGroup | null = null,
  ) {
    this.tlsServerName = cluster.serverName;
    this.secure = cluster.tls;
    this.backendTls = cluster.backendTls;
    this.connectTimeoutMs = cluster.policy?.connectTimeoutMs ?? opts.connectTimeoutMs;
    const hc = group?.health;
    if (group !== null && hc !== undefined) {
      const changed = (p: UpstreamPool, why: string): void => group.healthChanged(p, why);
      // A Lattice TargetGroupPolicy checks over HTTP; a TrafficPolicy with grpc.health.v1.
      this.checker =
        hc.http === undefined
          ? new HealthChecker(this, hc, changed)
          : new HttpHealthChecker(this, hc, hc.http, changed);
    }
  }

  /** `host:port` for logs and CallInfo. */
  get address(): string {
    return `${this.endpoint.host}:${this.endpoint.port}`;
  }

  /** Whether the endpoint is set aside: its connections keep failing, or outlier detection ejected it. */
  ejected(now: number): boolean {
    return this.ejectedUntil > now || this.outlierUntil > now;
  }

  /** Whether the endpoint may be set aside or unhealthy (cheap: no clock); `usable` tells for sure. */
  get suspect(): boolean {
    return this.ejectedUntil !== 0 || this.outlierUntil !== 0 || !this.healthy;
  }

  /** Whether calls may be sent here now by choice (not only for want of another endpoint): healthy, not set aside. */
  usable(now: number): boolean {
    return this.healthy && this.ejectedUntil <= now && this.outlierUntil <= now;
  }

  /** Streams open on this endpoint. */
  activeStreams(): number {
    let n = 0;
    for (const c of this.conns) n += c.activeStreams;
    return n + this.waiters.length;
  }

  /** Binds `w` to a connection now, or queues it until one is ready. */
  acquire(w: PoolWaiter): void {
    const c = pickConnection(this.conns, this.opts.streamsPerConnection);
    if (c !== undefined) {
      if (c.activeStreams >= this.opts.streamsPerConnection) this.grow();
      w.bind(c);
      return;
    }
    this.waiters.push(w);
    this.pump();
  }

  /** Forgets a waiter that gave up (its call was cancelled or timed out). */
  cancel(w: PoolWaiter): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  /** Hands queued waiters to connections with free slots; opens a connection when none has one. */
  pump(): void {
    while (this.waiters.length > 0) {
      const conn = pickConnection(this.conns, this.opts.streamsPerConnection);
      if (conn === undefined) {
        this.grow();
        return;
      }
      if (conn.activeStreams >= this.opts.streamsPerConnection) this.grow();
      this.waiters.shift()!.bind(conn);
    }
  }

  /**
   * Opens one more connection, unless one is already being made, the pool is at `maxSessions`, or the last
   * attempt beside serving connections failed not long ago.
   */
  private grow(): void {
    if (this.connecting > 0 || this.conns.length >= this.opts.maxSessions) return;
    if (this.growAfter > Date.now() && this.conns.some(serving)) return;
    this.open();
  }

  private open(): void {
    this.lastError = "";
    this.connecting++;
    const { host, port } = this.endpoint;
    let socket: net.Socket;
    const bt = this.backendTls;
    if (bt?.invalid !== undefined) {
      // A BackendTLSPolicy without a valid CA: no connection at all, never one in cleartext.
      this.connecting--;
      this.lastError = bt.invalid;
      this.connectFailure();
      return;
    }
    if (this.secure) {
      const name = this.tlsServerName ?? host;
      const o: tls.ConnectionOptions = { host, port, ALPNProtocols: ["h2"] };
      // SNI carries names only; the certificate is checked against `name` either way.
      if (!net.isIP(name)) o.servername = name;
      if (bt !== undefined) {
        // BackendTLSPolicy: its CA bundle, or the system's store, whatever the data plane's own `ca`.
        if (bt.caPem !== undefined) o.ca = bt.caPem;
        o.checkServerIdentity = (_host, cert) => checkBackendIdentity(bt, cert);
      } else {
        if (this.opts.ca !== undefined) o.ca = this.opts.ca;
        o.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(name, cert);
      }
      socket = tls.connect(o);
    } else {
      socket = net.connect({ host, port });
    }
    const conn = new H2Connection(socket, false, this.handler, this.connOpts);
    conn.owner = this;
    socket.once("error", (e: NodeJS.ErrnoException) => {
      this.lastError = e.message;
    });
    const timer = setTimeout(() => {
      if (!conn.ready) {
        this.lastError = `no answer within ${this.connectTimeoutMs} ms`;
        conn.destroy();
      }
    }, this.connectTimeoutMs);
    timer.unref();
    conn.connectTimer = timer;
    this.conns.push(conn);
  }

  /** The connection's first SETTINGS arrived: it is usable. */
  onReady(conn: H2Connection): void {
    if (conn.connectTimer !== undefined) clearTimeout(conn.connectTimer);
    conn.connectTimer = undefined;
    if (this.opts.keepaliveIntervalMs > 0) {
      conn.keepaliveTimer = setInterval(
        keepalive,
        this.opts.keepaliveIntervalMs,
        conn,
        this.opts.keepaliveTimeoutMs,
      );
      conn.keepaliveTimer.unref();
    }
    this.connecting--;
    if (this.probeTimer !== undefined) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.failures = 0;
    this.ejectedUntil = 0;
    this.growFailures = 0;
    this.growAfter = 0;
    this.pump();
  }

  /** A stream finished on `conn`: its slot may serve a waiter; a draining connection closes when empty. */
  release(conn: H2Connection): void {
    if (conn.goawayReceived && conn.activeStreams === 0) conn.destroy();
    else if (this.waiters.length > 0) this.pump();
  }

  /** GOAWAY from the peer: the connection takes no new streams; others serve the waiters. */
  onGoaway(_conn: H2Connection): void {
    this.pump();
  }

  /**
   * The connection closed. Before it was ready, this was a failed attempt: waiters fail, unless other
   * connections still serve the endpoint (they take the waiters as their streams end).
   */
  onClose(conn: H2Connection): void {
    if (conn.keepaliveTimer !== undefined) clearInterval(conn.keepaliveTimer);
    if (conn.pingTimer !== undefined) clearTimeout(conn.pingTimer);
    const i = this.conns.indexOf(conn);
    if (i >= 0) this.conns.splice(i, 1);
    if (!conn.ready) {
      if (conn.connectTimer !== undefined) clearTimeout(conn.connectTimer);
      this.connecting--;
      if (this.conns.some(serving)) {
        // The endpoint answers on its other connections: it only refused one more. Back off 1 s, 2 s, 4 s ...
        // up to 30 s before the next attempt, without setting the endpoint aside.
        this.growFailures++;
        this.growAfter = Date.now() + Math.min(30_000, 1000 * 2 ** (this.growFailures - 1));
        this.pump();
        return;
      }
      this.connectFailure();
      return;
    }
    this.pump();
  }

  /** No connection could be made: count it, set the endpoint aside after repeated failures, fail the waiters. */
  private connectFailure(): void {
    this.failures++;
    // Set aside 1 s, 2 s, 4 s ... up to 30 s (by default) after repeated failures, and checked meanwhile.
    if (this.failures >= 2) {
      const { backoffBaseMs: base, backoffMaxMs: max } = this.opts;
      this.ejectedUntil = Date.now() + Math.min(max, base * 2 ** (this.failures - 2));
      this.scheduleProbe();
    }
    this.group?.outcome(this, GrpcCode.UNAVAILABLE, Date.now());
    const reason = `cannot connect to upstream ${this.address}: ${this.lastError || "connection closed"}`;
    const waiting = this.waiters.splice(0);
    for (const w of waiting) w.connectFailed(reason);
  }

  /** The routing table serving now has this endpoint (`true`) or not: background attempts stop when not. */
  setInTable(inTable: boolean): void {
    this.inTable = inTable;
    if (!inTable) {
      this.stopProbing();
      this.checker?.stop();
      this.checker = null;
    } else if (this.ejectedUntil !== 0) this.scheduleProbe();
  }

  /** Whether the routing table serving now has this endpoint. */
  get listed(): boolean {
    return this.inTable;
  }

  /** Plans the next background connection attempt, unless one is planned or they are off. */
  private scheduleProbe(): void {
    const every = this.opts.probeIntervalMs;
    if (this.probeTimer !== undefined || !this.inTable || this.retired || every <= 0) return;
    // Nothing to wait for: a connection is not even tried without a valid CA.
    if (this.backendTls?.invalid !== undefined) return;
    this.probeTimer = setTimeout(probe, every, this);
    this.probeTimer.unref();
  }

  /**
   * A background connection attempt to the set-aside endpoint, unless one (a call's) is under way: its
   * failure plans the next one, its handshake brings the endpoint back (`onReady`). @internal
   */
  probe(): void {
    this.probeTimer = undefined;
    if (!this.inTable || this.retired || this.failures === 0 || this.connecting > 0) return;
    this.open();
  }

  private stopProbing(): void {
    if (this.probeTimer !== undefined) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
  }

  /** Closes connections idle for longer than the idle timeout. */
  sweep(now: number): void {
    for (const c of [...this.conns]) {
      if (!c.ready) continue;
      if (c.activeStreams === 0 && now - c.idleSince > this.opts.idleTimeoutMs) c.shutdownClient();
    }
  }

  /** Whether the pool holds nothing (it may be dropped). */
  empty(): boolean {
    return this.conns.length === 0 && this.waiters.length === 0;
  }

  /** Closes every connection now, and makes no more attempts. */
  destroy(): void {
    this.inTable = false;
    this.stopProbing();
    this.checker?.stop();
    this.checker = null;
    for (const c of [...this.conns]) c.destroy();
  }
}

function probe(pool: UpstreamPool): void {
  pool.probe();
}

/** Whether `c` is up and takes new streams (now, or once some of its streams end). */
function serving(c: H2Connection): boolean {
  return c.ready && !c.goawayReceived && !c.goawaySent && !c.destroyed;
}

/** What `pickConnection` looks at. */
export interface StreamSlots {
  readonly hasCapacity: boolean;
  readonly activeStreams: number;
}

/**
 * The connection that takes the next stream: the first one with fewer than `soft` streams, so that a quiet
 * endpoint keeps using one connection and the others can go idle; else the least busy one the peer still
 * takes streams on (the caller then opens another connection); else none.
 */
export function pickConnection<C extends StreamSlots>(conns: readonly C[], soft: number): C | undefined {
  let spare: C | undefined;
  for (let i = 0; i < conns.length; i++) {
    const c = conns[i]!;
    if (!c.hasCapacity) continue;
    if (c.activeStreams < soft) return c;
    if (spare === undefined || c.activeStreams < spare.activeStreams) spare = c;
  }
  return spare;
}

/**
 * Keepalive (gRPC proposal A8): PING the connection; if no ACK comes within `timeoutMs` it is dead, and its
 * calls end UNAVAILABLE rather than hang.
 */
function keepalive(conn: H2Connection, timeoutMs: number): void {
  if (conn.destroyed || conn.pingTimer !== undefined) return;
  conn.onPingAck = onKeepaliveAck;
  conn.pingTimer = setTimeout(onKeepaliveTimeout, timeoutMs, conn);
  conn.pingTimer.unref();
  conn.ping();
}
function onKeepaliveAck(this: H2Connection): void {
  if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
  this.pingTimer = undefined;
}
function onKeepaliveTimeout(conn: H2Connection): void {
  conn.pingTimer = undefined;
  conn.destroy();
}

/**
 * Whether a backend's certificate passes a BackendTLSPolicy: it carries one of `subjectAltNames` (DNS names
 * with wildcards as TLS allows them, or exact URIs) when the policy lists some, else `hostname`. Returns the
 * error that fails the handshake, or undefined.
 */
export function checkBackendIdentity(bt: IrBackendTls, cert: tls.PeerCertificate): Error | undefined {
  if (bt.subjectAltNames.length === 0) return tls.checkServerIdentity(bt.hostname, cert);
  const uris = (cert.subjectaltname ?? "")
    .split(", ")
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));
  for (const san of bt.subjectAltNames) {
    if (
      san.type === "URI" ? uris.includes(san.value) : tls.checkServerIdentity(san.value, cert) === undefined
    ) {
      return undefined;
    }
  }
  const want = bt.subjectAltNames.map((s) => `${s.type} ${s.value}`).join(", ");
  const err = new Error(
    `the backend's certificate carries none of the subjectAltNames of ${bt.source} (${want}); it has: ${cert.subjectaltname ?? "none"}`,
  ) as Error & { code: string };
  err.code = "ERR_TLS_CERT_ALTNAME_INVALID";
  return err;
}

/** Pool-key suffixes of clusters with their own connection settings, per (immutable) cluster object. */
const settingsKeys = new WeakMap<IrCluster, string>();

/**
 * The pool key of an endpoint of a cluster. A cluster with its own connection settings (a BackendTLSPolicy,
 * a TrafficPolicy's connect timeout, health checks or outlier detection) gets pools of its own, named after
 * it and its settings, so its endpoints' state is its own and a change of settings starts afresh.
 */
export function poolKey(cluster: IrCluster, ep: IrEndpoint): string {
  const base = `${cluster.tls ? "tls" : "h2c"}|${ep.host}|${ep.port}|${cluster.serverName ?? ""}`;
  if (cluster.backendTls === undefined && cluster.policy === undefined) return base;
  let suffix = settingsKeys.get(cluster);
  if (suffix === undefined) {
    const settings = JSON.stringify([cluster.backendTls ?? null, cluster.policy ?? null]);
    suffix = `|${cluster.name}|${createHash("sha256").update(settings).digest("hex").slice(0, 16)}`;
    settingsKeys.set(cluster, suffix);
  }
  return base + suffix;
}
