/**
 * Listener ports of the relay: one `net` or `tls` server per distinct listener port, the connections it
 * accepted, what the port serves (swapped as one reference on `apply()`), and certificates chosen by SNI.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import type { IrListener, RoutingTable } from "../../ir/routing-table.js";
import { GatewayError, GW_ERR_BIND, GW_ERR_TLS } from "../../util/errors.js";
import type { GeneratedCertificates } from "../../util/self-signed.js";
import type { LocalServices } from "../local/dispatch.js";
import { hostnameMatches, type Router } from "../router.js";
import type { CallHost } from "./call.js";
import { type ConnectionHandler, type ConnectionOptions, H2Connection } from "./connection.js";
import { Http1Side, sniff } from "./http1.js";
import { DEFAULT_LIMITS, type ProtocolLimits } from "./limits.js";

/** What a listener port serves: swapped as one reference on `apply()`. */
export interface PortState {
  readonly router: Router;
  readonly table: RoutingTable;
  /** Whether any route of the port matches on headers (else calls skip building the header record). */
  readonly matchesHeaders: boolean;
  /** Calls the gateway answers itself (reflection, transcoding). */
  readonly local?: LocalServices;
}

/** A listener's certificate, ready for SNI. */
export interface ListenerContext {
  listener: IrListener;
  ctx: tls.SecureContext;
  certPem: string;
  keyPem: string;
}

/** One bound port. */
export class RelayListener {
  state: PortState;
  /** The listener name of calls no listener of the port matched. */
  readonly portName: string;
  readonly conns = new Set<H2Connection>();
  localPort = 0;
  /** HTTPS: the port's listeners with their TLS contexts, for SNI. */
  contexts: ListenerContext[] = [];
  server: net.Server | undefined = undefined;
  /** HTTP/1.1 connections (gRPC-Web from browsers), made at the first one. */
  http1: Http1Side | undefined = undefined;
  constructor(
    readonly host: CallHost,
    readonly port: number,
    readonly secure: boolean,
    state: PortState,
    readonly limits: ProtocolLimits = DEFAULT_LIMITS,
  ) {
    this.state = state;
    this.portName = `port/${port}`;
  }

  /** Certificate choice by SNI among the port's listeners: exact, then longest wildcard, then any. */
  contextFor(servername: string): tls.SecureContext | undefined {
    const host = servername.toLowerCase();
    let wild: { len: number; ctx: tls.SecureContext } | undefined;
    let any: tls.SecureContext | undefined;
    for (const c of this.contexts) {
      const h = c.listener.hostname?.toLowerCase();
      if (h === undefined || h === "" || h === "*") any ??= c.ctx;
      else if (h === host) return c.ctx;
      else if (h.startsWith("*.") && hostnameMatches(h, host) && (wild === undefined || h.length > wild.len))
        wild = { len: h.length, ctx: c.ctx };
    }
    return wild?.ctx ?? any ?? this.contexts[0]?.ctx;
  }

  /** Takes the port's new state and certificates (part of an atomic `apply()`). */
  update(state: PortState, contexts: ListenerContext[]): void {
    this.state = state;
    this.contexts = contexts;
    // Clients that send no SNI (an IP address as target) get the first listener's certificate.
    const first = contexts[0];
    if (this.secure && first !== undefined) {
      (this.server as tls.Server).setSecureContext({ cert: first.certPem, key: first.keyPem });
    }
  }

  /** Stops accepting and sends GOAWAY on every connection; calls in flight finish. */
  close(): void {
    this.server?.close();
    for (const c of this.conns) c.shutdown();
    this.http1?.close();
  }

  /** Closes every connection now. */
  destroyConnections(): void {
    for (const c of this.conns) c.destroy();
    this.http1?.destroy();
  }
}

/** How to bind a port. */
export interface ListenOptions {
  host: CallHost;
  port: number;
  /** Local port to bind (the port map's, else `port`). */
  local: number;
  address: string | undefined;
  secure: boolean;
  state: PortState;
  handler: ConnectionHandler;
  connOpts: ConnectionOptions;
  /** False while the data plane is closing: new sockets are dropped. */
  accepting: () => boolean;
}

/** Binds a listener port; rejects with GW_ERR_BIND naming the port. */
export function listen(o: ListenOptions): Promise<RelayListener> {
  const limits = o.connOpts.limits ?? DEFAULT_LIMITS;
  const listener = new RelayListener(o.host, o.port, o.secure, o.state, limits);
  // A connection that sends nothing is closed as either protocol would close it: the sooner of the two.
  const sniffTimeout = Math.min(limits.settingsTimeoutMs, limits.http1HeadersTimeoutMs);
  const h2 = (socket: net.Socket): void => {
    const conn = new H2Connection(socket, true, o.handler, o.connOpts);
    conn.owner = listener;
    listener.conns.add(conn);
  };
  const http1 = (socket: net.Socket): void => {
    listener.http1 ??= new Http1Side(listener, limits);
    listener.http1.accept(socket);
  };
  const onSocket = (socket: net.Socket): void => {
    if (!o.accepting()) {
      socket.destroy();
      return;
    }
    // HTTPS listeners offer ALPN h2 (gRPC, GRPCRoute reference 2.1) and http/1.1 (gRPC-Web from browsers);
    // a TLS client that chose neither is closed. Cleartext ones are told apart by their first bytes.
    if (o.secure) {
      const alpn = (socket as tls.TLSSocket).alpnProtocol;
      if (alpn === "h2") h2(socket);
      else if (alpn === "http/1.1") http1(socket);
      else socket.destroy();
      return;
    }
    sniff(socket, sniffTimeout, (isH2) => (isH2 ? h2(socket) : http1(socket)));
  };
  let server: net.Server;
  if (o.secure) {
    server = tls.createServer({
      ALPNProtocols: ["h2", "http/1.1"],
      SNICallback: (servername, cb) => cb(null, listener.contextFor(servername)),
    });
    server.on("secureConnection", onSocket);
    server.on("tlsClientError", () => {
      // A client that fails the handshake only loses its own connection.
    });
  } else {
    server = net.createServer(onSocket);
  }
  listener.server = server;
  return new Promise<RelayListener>((resolve, reject) => {
    const onError = (err: Error): void => {
      server.close();
      reject(
        new GatewayError(
          GW_ERR_BIND,
          `cannot bind listener port ${o.port} (local port ${o.local}): ${err.message}`,
          {
            cause: err,
          },
        ),
      );
    };
    server.once("error", onError);
    const lo: net.ListenOptions = { port: o.local };
    if (o.address !== undefined) lo.host = o.address;
    server.listen(lo, () => {
      server.off("error", onError);
      server.on("error", () => {});
      const addr = server.address();
      listener.localPort = typeof addr === "object" && addr !== null ? addr.port : o.local;
      resolve(listener);
    });
  });
}

/** The TLS contexts of a port's HTTPS listeners (given certificates, else generated ones). */
export async function listenerContexts(
  ls: readonly IrListener[],
  generated: GeneratedCertificates,
): Promise<ListenerContext[]> {
  const out: ListenerContext[] = [];
  for (const l of ls) {
    if (l.tls === undefined) continue;
    let cert = l.tls.certificates[0];
    if (cert === undefined && l.tls.generate !== undefined) {
      const g = await generated.get(l.name, l.tls.generate.dnsNames);
      cert = { certPem: g.certPem, keyPem: g.keyPem, source: "generated" };
    }
    if (cert === undefined) continue;
    let ctx: tls.SecureContext;
    try {
      ctx = tls.createSecureContext({ cert: cert.certPem, key: cert.keyPem });
    } catch (err: unknown) {
      const why = err instanceof Error ? err.message : String(err);
      throw new GatewayError(
        GW_ERR_TLS,
        `listener ${l.name}: certificate ${cert.source} is unusable: ${why}`,
        {
          cause: err,
        },
      );
    }
    out.push({ listener: l, ctx, certPem: cert.certPem, keyPem: cert.keyPem });
  }
  return out;
}
