/**
 * One HTTP/2 server per listener port: h2c with prior knowledge for HTTP listeners, TLS with ALPN `h2` for
 * HTTPS listeners (certificate chosen by SNI among the listeners of the port, with the router's listener
 * choice). The server reads its current `PortState` for every new call; `apply()` replaces that reference.
 */

import { X509Certificate } from "node:crypto";
import {
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { Socket } from "node:net";
import { createSecureContext, type SecureContext } from "node:tls";
import type { IrListener } from "../ir/routing-table.js";
import { GatewayError, GW_ERR_BIND } from "../util/errors.js";
import { type CallHost, ProxyCall, startCall } from "./proxy-stream.js";
import { hostFromAuthority, type Router } from "./router.js";
import type { TableRuntime } from "./runtime.js";
import { MAX_CLIENT_STREAMS } from "./types.js";

/** A certificate and key (PEM). */
export interface CertKey {
  certPem: string;
  keyPem: string;
}

/** What a port serves right now. Replaced whole on apply. */
export interface PortState {
  readonly router: Router;
  readonly runtime: TableRuntime;
  /** HTTPS only: the certificates of each listener, in the listener order of the router. */
  readonly certs: ReadonlyMap<IrListener, readonly CertKey[]>;
}

const SERVER_SETTINGS = {
  initialWindowSize: 1 << 20,
  enablePush: false,
  maxConcurrentStreams: MAX_CLIENT_STREAMS,
};

/** Keeps TLS contexts per certificate so SNI lookups do not rebuild them. */
const contextCache = new WeakMap<CertKey, SecureContext>();

/** The TLS context of a certificate (cached); throws when the PEM cannot be used. */
export function contextOf(c: CertKey): SecureContext {
  let ctx = contextCache.get(c);
  if (ctx === undefined) {
    ctx = createSecureContext({ cert: c.certPem, key: c.keyPem, ALPNProtocols: ["h2"] } as Parameters<
      typeof createSecureContext
    >[0]);
    contextCache.set(c, ctx);
  }
  return ctx;
}

/** Among a listener's certificates, the first whose names cover `host`; else the first. */
function certFor(certs: readonly CertKey[], host: string): CertKey | undefined {
  if (certs.length <= 1 || host === "") return certs[0];
  for (const c of certs) {
    try {
      if (new X509Certificate(c.certPem).checkHost(host) !== undefined) return c;
    } catch {
      // An unreadable certificate is simply not chosen.
    }
  }
  return certs[0];
}

export class PortServer {
  readonly server: Http2Server | Http2SecureServer;
  readonly sessions = new Set<ServerHttp2Session>();
  localPort = 0;
  closing = false;
  private closed: Promise<void> | undefined;

  constructor(
    readonly port: number,
    readonly tls: boolean,
    public state: PortState,
    private readonly host: CallHost,
  ) {
    const onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) =>
      this.onStream(stream, headers);
    if (tls) {
      const first = this.defaultCert();
      const server = createSecureServer({
        allowHTTP1: false,
        ALPNProtocols: ["h2"],
        settings: SERVER_SETTINGS,
        maxSessionMemory: 64,
        ...(first === undefined ? {} : { cert: first.certPem, key: first.keyPem }),
        SNICallback: (servername, cb) => {
          try {
            const c = this.certForServername(servername);
            if (c === undefined) cb(new Error(`no certificate for ${servername}`));
            else cb(null, contextOf(c));
          } catch (e: unknown) {
            cb(e instanceof Error ? e : new Error(String(e)));
          }
        },
      });
      server.on("unknownProtocol", (socket: Socket) => socket.destroy());
      server.on("tlsClientError", ignore);
      this.server = server;
    } else {
      this.server = createServer({ settings: SERVER_SETTINGS, maxSessionMemory: 64 });
    }
    this.server.on("stream", onStream);
    this.server.on("session", (s: ServerHttp2Session) => {
      this.sessions.add(s);
      s.on("error", ignore);
      s.once("close", () => this.sessions.delete(s));
      if (this.closing) s.close();
    });
    this.server.on("sessionError", ignore);
    this.server.on("error", ignore);
  }

  private defaultCert(): CertKey | undefined {
    for (const l of this.state.router.listeners) {
      const c = this.state.certs.get(l)?.[0];
      if (c !== undefined) return c;
    }
    return undefined;
  }

  private certForServername(servername: string): CertKey | undefined {
    const host = hostFromAuthority(servername);
    const l = this.state.router.selectListener(host);
    const certs = l === undefined ? undefined : this.state.certs.get(l);
    return (certs === undefined ? undefined : certFor(certs, host)) ?? this.defaultCert();
  }

  /** Replaces what the port serves; calls in flight keep the state they started with. */
  update(state: PortState): void {
    this.state = state;
    if (this.tls) {
      const c = this.defaultCert();
      if (c !== undefined)
        (this.server as Http2SecureServer).setSecureContext({ cert: c.certPem, key: c.keyPem });
    }
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const state = this.state;
    const path = headers[":path"] ?? "";
    const authority = headers[":authority"] ?? (typeof headers.host === "string" ? headers.host : "");
    const match = state.router.match(authority, path, headers);
    const call = new ProxyCall(
      this.host,
      stream,
      headers,
      state.runtime,
      match,
      match.listener?.name ?? `port/${this.port}`,
      authority,
      path,
    );
    startCall(call);
  }

  /** Binds the server; rejects with GW_ERR_BIND naming the port. */
  listen(address: string | undefined, localPort: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        this.server.off("listening", onListening);
        reject(
          new GatewayError(
            GW_ERR_BIND,
            `cannot bind listener port ${this.port} on ${address ?? "all interfaces"}:${localPort}: ${err.message}`,
            { cause: err },
          ),
        );
      };
      const onListening = () => {
        this.server.off("error", onError);
        const a = this.server.address();
        this.localPort = typeof a === "object" && a !== null ? a.port : localPort;
        resolve();
      };
      this.server.once("error", onError);
      this.server.once("listening", onListening);
      if (address === undefined) this.server.listen(localPort);
      else this.server.listen(localPort, address);
    });
  }

  /**
   * Stops accepting, sends GOAWAY on every connection so clients go elsewhere, lets calls in flight finish,
   * and after `graceMs` destroys what is left (their streams are reset).
   */
  close(graceMs: number): Promise<void> {
    // Closing again (shutdown while a removed port drains) only shortens the grace period.
    const timer = setTimeout(() => this.destroySessions(), graceMs);
    timer.unref();
    if (this.closed !== undefined) {
      void this.closed.then(() => clearTimeout(timer));
      return this.closed;
    }
    this.closing = true;
    this.closed = new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        resolve();
      };
      if (!this.server.listening) {
        this.destroySessions();
        finish();
        return;
      }
      this.server.close(() => finish());
      for (const s of this.sessions) s.close();
      if (graceMs <= 0) this.destroySessions();
    });
    return this.closed;
  }

  private destroySessions(): void {
    for (const s of this.sessions) s.destroy();
  }
}

function ignore(): void {}
