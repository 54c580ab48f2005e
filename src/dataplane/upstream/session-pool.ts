/**
 * HTTP/2 sessions to one upstream endpoint (undici's and grpc-js's habits): as many sessions as the peer's
 * `maxConcurrentStreams` requires, a connect timeout, keepalive PINGs with a timeout (gRPC proposal A8),
 * GOAWAY drain (a session that got GOAWAY takes no new streams and closes once its streams end), idle close,
 * and every timer `unref()`'d so a pool never keeps the process alive.
 */
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants as h2,
  type OutgoingHttpHeaders,
  type SecureClientSessionOptions,
} from "node:http2";
import { isIP } from "node:net";
import { trace } from "../trace.js";

/** Tunables of upstream sessions. Every value in ms unless said otherwise. */
export interface PoolOptions {
  /** Give up connecting after this long. Default 5000. */
  connectTimeoutMs: number;
  /** Send a PING after this long without one. Default 30000; 0 disables keepalive. */
  keepaliveIntervalMs: number;
  /** Close a session whose PING is not answered within this. Default 10000. */
  keepaliveTimeoutMs: number;
  /** Close a session with no streams for this long. Default 60000. */
  idleTimeoutMs: number;
  /** Most sessions per endpoint. Default 16. */
  maxSessions: number;
  /** Trusted CA certificates (PEM) for TLS upstreams; default the system store. */
  ca?: string | undefined;
  /** Called when the number of open sessions changes (+1 / -1). */
  onSessionCount?: ((delta: number) => void) | undefined;
}

export const DEFAULT_POOL_OPTIONS: PoolOptions = {
  connectTimeoutMs: 5000,
  keepaliveIntervalMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  maxSessions: 16,
};

/** Streams we allow on a session before the peer's SETTINGS said how many it takes. */
const ASSUMED_MAX_STREAMS = 100;
/** Our flow-control window per stream: large enough for throughput, small enough to bound memory. */
const INITIAL_WINDOW = 1 << 20;

type SessionState = "connecting" | "ready" | "draining" | "closed";

/** One upstream HTTP/2 session and its bookkeeping. */
class PooledSession {
  state: SessionState = "connecting";
  active = 0;
  idleTimer: NodeJS.Timeout | undefined;
  pingTimer: NodeJS.Timeout | undefined;
  constructor(
    readonly pool: SessionPool,
    readonly session: ClientHttp2Session,
  ) {}

  capacity(): number {
    const max = this.session.remoteSettings?.maxConcurrentStreams;
    return max === undefined || max > 1_000_000 ? ASSUMED_MAX_STREAMS : max;
  }
}

const kPooled = Symbol("grpcroute.pooledSession");

/** Result of `SessionPool.request`: a stream, or why none could be opened. */
export type RequestCallback = (err: Error | undefined, stream: ClientHttp2Stream | undefined) => void;

/** The sessions to one endpoint (`host:port`, h2c or TLS). */
export class SessionPool {
  readonly key: string;
  private readonly sessions: PooledSession[] = [];
  private waiters: { headers: OutgoingHttpHeaders; cb: RequestCallback }[] = [];
  private connecting = 0;
  private closed = false;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly tls: boolean,
    readonly serverName: string | undefined,
    private readonly opts: PoolOptions,
  ) {
    this.key = SessionPool.keyOf(host, port, tls, serverName);
  }

  static keyOf(host: string, port: number, tls: boolean, serverName: string | undefined): string {
    return `${tls ? "https" : "http"}://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}${tls && serverName ? `#${serverName}` : ""}`;
  }

  /** `host:port` for logs. */
  get endpoint(): string {
    return `${this.host}:${this.port}`;
  }

  /** Open sessions (any state but closed). */
  sessionCount(): number {
    return this.sessions.length;
  }

  /**
   * Opens a stream on a session with room for it, connecting a new session when every one is full. The
   * callback runs once: with a stream, or with the connect error.
   */
  request(headers: OutgoingHttpHeaders, cb: RequestCallback): void {
    if (this.closed) {
      cb(
        Object.assign(new Error(`upstream pool ${this.endpoint} is closed`), {
          code: "ERR_HTTP2_INVALID_SESSION",
        }),
        undefined,
      );
      return;
    }
    for (const s of this.sessions) {
      if (s.state === "ready" && s.active < s.capacity()) {
        this.open(s, headers, cb);
        return;
      }
    }
    this.waiters.push({ headers, cb });
    // Each connecting session will take up to ASSUMED_MAX_STREAMS waiters.
    if (this.connecting * ASSUMED_MAX_STREAMS < this.waiters.length) {
      if (this.sessions.length < this.opts.maxSessions) this.connect();
      else if (this.connecting === 0) this.dispatchWaiters();
    }
  }

  private open(s: PooledSession, headers: OutgoingHttpHeaders, cb: RequestCallback): void {
    let stream: ClientHttp2Stream;
    try {
      stream = s.session.request(headers, { endStream: false });
    } catch (e: unknown) {
      // Headers Node refuses to send (invalid names or values): the request's fault, not the endpoint's.
      const err = e instanceof Error ? e : new Error(String(e));
      cb(Object.assign(err, { requestRejected: true }), undefined);
      return;
    }
    s.active++;
    if (s.idleTimer) {
      clearTimeout(s.idleTimer);
      s.idleTimer = undefined;
    }
    (stream as unknown as Record<symbol, PooledSession>)[kPooled] = s;
    stream.once("close", onPooledStreamClose);
    cb(undefined, stream);
  }

  /** Gives queued requests to ready sessions, even beyond their capacity when no more sessions may open. */
  private dispatchWaiters(): void {
    while (this.waiters.length > 0) {
      let best: PooledSession | undefined;
      for (const s of this.sessions) {
        if (s.state !== "ready") continue;
        if (s.active < s.capacity()) {
          best = s;
          break;
        }
        if (this.sessions.length >= this.opts.maxSessions && (best === undefined || s.active < best.active))
          best = s;
      }
      if (best === undefined) break;
      const w = this.waiters.shift()!;
      this.open(best, w.headers, w.cb);
    }
    if (this.waiters.length > 0 && this.connecting === 0 && this.sessions.length < this.opts.maxSessions)
      this.connect();
  }

  private failWaiters(err: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.cb(err, undefined);
  }

  private connect(): void {
    this.connecting++;
    const authority = `${this.tls ? "https" : "http"}://${this.host.includes(":") ? `[${this.host}]` : this.host}:${this.port}`;
    const options: SecureClientSessionOptions = {
      settings: { initialWindowSize: INITIAL_WINDOW, enablePush: false },
      maxSessionMemory: 64,
    };
    if (this.tls) {
      options.ALPNProtocols = ["h2"];
      const sni = this.serverName ?? this.host;
      if (isIP(sni) === 0) options.servername = sni;
      if (this.opts.ca !== undefined) options.ca = this.opts.ca;
    }
    let session: ClientHttp2Session;
    try {
      session = connect(authority, options);
    } catch (e: unknown) {
      this.connecting--;
      this.failWaiters(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    const s = new PooledSession(this, session);
    this.sessions.push(s);
    this.opts.onSessionCount?.(1);
    const timer = setTimeout(() => {
      session.destroy(
        Object.assign(
          new Error(`connect to ${this.endpoint} timed out after ${this.opts.connectTimeoutMs} ms`),
          {
            code: "ETIMEDOUT",
          },
        ),
      );
    }, this.opts.connectTimeoutMs);
    timer.unref();
    let connectError: Error | undefined;
    // Ready once the peer's first SETTINGS frame arrives: that proves it speaks HTTP/2 (a TCP connect alone
    // does not) and tells its stream limit before any stream is opened.
    session.once("remoteSettings", () => {
      clearTimeout(timer);
      this.connecting--;
      if (s.state !== "connecting") return;
      s.state = "ready";
      try {
        session.setLocalWindowSize(INITIAL_WINDOW * 16);
      } catch {
        // Only an optimisation.
      }
      this.startKeepalive(s);
      this.dispatchWaiters();
      if (s.active === 0) this.armIdle(s);
    });
    session.on("error", (err: Error) => {
      connectError ??= err;
    });
    session.on("goaway", (code: number, lastStreamId: number) => {
      if (trace.enabled)
        trace("upstream %s: GOAWAY code %d last stream %d", this.endpoint, code, lastStreamId);
      // Node closes the session itself after GOAWAY; streams the peer never processed are refused
      // (REFUSED_STREAM), which the proxy retries. Take no new streams here.
      if (s.state === "ready" || s.state === "connecting") s.state = "draining";
    });
    session.once("close", () => {
      clearTimeout(timer);
      if (trace.enabled)
        trace(
          "upstream %s: session closed%s",
          this.endpoint,
          connectError ? `: ${connectError.message}` : "",
        );
      const wasConnecting = s.state === "connecting";
      s.state = "closed";
      if (s.idleTimer) clearTimeout(s.idleTimer);
      if (s.pingTimer) clearInterval(s.pingTimer);
      const i = this.sessions.indexOf(s);
      if (i >= 0) this.sessions.splice(i, 1);
      this.opts.onSessionCount?.(-1);
      if (wasConnecting) {
        this.connecting--;
        const err =
          connectError ??
          Object.assign(new Error(`connection to ${this.endpoint} closed before it was ready`), {
            code: "ECONNRESET",
          });
        if (this.connecting === 0) this.failWaiters(err);
      } else if (this.waiters.length > 0) {
        this.dispatchWaiters();
      }
    });
    // Keep the socket from holding the process open when nothing else does.
    session.unref();
  }

  private startKeepalive(s: PooledSession): void {
    if (this.opts.keepaliveIntervalMs <= 0) return;
    s.pingTimer = setInterval(() => {
      if (s.state === "closed" || s.session.destroyed) return;
      const deadline = setTimeout(() => {
        s.session.destroy(
          Object.assign(new Error(`keepalive ping to ${this.endpoint} not answered`), {
            code: "ERR_HTTP2_PING_CANCEL",
          }),
        );
      }, this.opts.keepaliveTimeoutMs);
      deadline.unref();
      try {
        s.session.ping(() => clearTimeout(deadline));
      } catch {
        clearTimeout(deadline);
      }
    }, this.opts.keepaliveIntervalMs);
    s.pingTimer.unref();
  }

  /** @internal Called when a stream of `s` closes. */
  streamClosed(s: PooledSession): void {
    s.active--;
    if (s.state === "ready") {
      if (this.waiters.length > 0) this.dispatchWaiters();
      else if (s.active === 0) this.armIdle(s);
    }
  }

  private armIdle(s: PooledSession): void {
    if (this.opts.idleTimeoutMs <= 0) return;
    s.idleTimer = setTimeout(() => {
      if (s.active === 0 && s.state === "ready") {
        s.state = "draining";
        s.session.close();
      }
    }, this.opts.idleTimeoutMs);
    s.idleTimer.unref();
  }

  /**
   * Closes every session: `graceful` sends GOAWAY and lets streams finish; otherwise streams are reset.
   * Requests still waiting for a connection fail.
   */
  close(graceful = true): void {
    this.closed = true;
    this.failWaiters(
      Object.assign(new Error(`upstream pool ${this.endpoint} closed`), {
        code: "ERR_HTTP2_INVALID_SESSION",
      }),
    );
    for (const s of [...this.sessions]) {
      if (graceful && s.state !== "connecting") {
        s.state = "draining";
        s.session.close();
      } else {
        s.session.destroy(undefined, h2.NGHTTP2_CANCEL);
      }
    }
  }

  /** True once closed and every session is gone. */
  isDrained(): boolean {
    return this.closed && this.sessions.length === 0;
  }
}

function onPooledStreamClose(this: ClientHttp2Stream): void {
  const s = (this as unknown as Record<symbol, PooledSession | undefined>)[kPooled];
  if (s !== undefined) s.pool.streamClosed(s);
}
