/**
 * HTTP/1.1 on listener ports, for browsers: gRPC-Web calls and CORS preflights. Node's `node:http` (llhttp)
 * parses the requests: each port has one `http.Server` that is never bound itself; the listener hands it the
 * connections it found to speak HTTP/1.1 (`sniff` on cleartext ports, ALPN `http/1.1` on TLS ones). Each
 * gRPC-Web call goes the relay's one call path (`startWebCall`), upstream over the ordinary HTTP/2 pools.
 *
 * Limits (docs/security.md): request line and headers size, headers timeout (also the time a new cleartext
 * connection has to send its first bytes), keep-alive idle timeout, and the gRPC-Web body size (`WebFront`).
 */
import * as http from "node:http";
import type { Socket } from "node:net";
import { PREFACE } from "./frames.js";
import { isGrpcWebType, isTextType, WebFront, type WebRequest } from "./grpc-web.js";
import type { ProtocolLimits } from "./limits.js";
import type { PortState, RelayListener } from "./listener.js";
import { H2Stream } from "./stream.js";
import { connectionSpecific, nameProblem, valueProblem } from "./validate.js";
import { answerPreflight, startWebCall } from "./web-h2.js";

const EMPTY = Buffer.alloc(0);
/** Request bytes a call may hold before the client is paused: one HTTP/2 stream window's worth. */
const REQUEST_WINDOW = 128 << 10;

/**
 * Tells HTTP/2 from HTTP/1.1 on the first bytes of a cleartext connection: the HTTP/2 client preface, or
 * anything else (a request line). The bytes read are put back before `decide` runs. A connection that sends
 * nothing within `timeoutMs` is closed.
 */
export function sniff(socket: Socket, timeoutMs: number, decide: (h2: boolean) => void): void {
  let buf: Buffer = EMPTY;
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  const onClose = (): void => clearTimeout(timer);
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const n = Math.min(buf.length, PREFACE.length);
    const h2 = buf.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (h2 && n < PREFACE.length) return;
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("close", onClose);
    socket.pause();
    socket.unshift(buf);
    decide(h2);
    socket.resume();
  };
  socket.on("data", onData);
  socket.on("close", onClose);
  socket.on("error", () => {
    // The 'close' that follows cleans up.
  });
}

/** What `otherHttp1Request` knows of the request's listener port. */
export interface Http1Context {
  /** The listener port's routes and table, as serving now. */
  readonly state: PortState;
  /** The listener port (as in the table, before any port mapping). */
  readonly port: number;
  /** Whether the connection is TLS. */
  readonly secure: boolean;
}

/**
 * Every HTTP/1.1 request that is neither gRPC-Web, a CORS preflight, nor plain gRPC: the one place such
 * requests go. JSON transcoding answers those a TrafficPolicy enables it for (`src/dataplane/local`); the
 * rest get 415, saying what the port serves.
 */
export function otherHttp1Request(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  ctx: Http1Context,
): void {
  const local = ctx.state.local;
  if (local !== undefined && local !== null) {
    const out = {
      writeHead: (status: number, headers: Record<string, string>) => {
        res.writeHead(status, headers);
      },
      write: (chunk: Buffer) => {
        res.write(chunk);
      },
      end: (_grpcStatus: number) => {
        res.end();
      },
      get closed() {
        return res.destroyed || res.writableEnded;
      },
      queued: () => res.writableLength,
    };
    const served = local.serveHttp(
      { method: req.method ?? "GET", path: req.url ?? "/", headers: req.headers, body: req },
      out,
      req.headers.host ?? "",
    );
    if (served) return;
  }
  const ct = req.headers["content-type"] ?? "none";
  textAnswer(
    res,
    415,
    `content-type ${ct} is not served over HTTP/1.1 here: send gRPC-Web (application/grpc-web, application/grpc-web-text), or gRPC over HTTP/2`,
  );
}

function textAnswer(res: http.ServerResponse, status: number, message: string, headers: string[] = []): void {
  const body = Buffer.from(`${message}\n`);
  res.writeHead(status, [
    ...headers,
    "content-type",
    "text/plain; charset=utf-8",
    "content-length",
    String(body.length),
  ]);
  res.end(body);
}

/** A gRPC-Web call's client side on an HTTP/1.1 exchange. */
class WebH1Front extends WebFront {
  private pending = 0;
  private paused = false;
  private closed = false;

  constructor(
    private readonly msg: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    wr: WebRequest,
  ) {
    super(wr);
  }

  protected sendHead(status: number, fields: string[], end: boolean): void {
    if (this.closed || this.res.headersSent) return;
    this.res.writeHead(status, fields);
    if (end) this.res.end();
  }

  protected sendBody(data: Buffer | null, end: boolean): void {
    if (this.closed) {
      if (data !== null) this.released(data.length);
      return;
    }
    if (data !== null && data.length > 0) {
      const n = data.length;
      this.res.write(data, () => {
        if (!this.closed) this.released(n);
      });
    }
    if (end) this.res.end();
  }

  protected returnRequest(n: number): void {
    this.pending -= n;
    if (this.paused && this.pending < REQUEST_WINDOW / 2) {
      this.paused = false;
      this.msg.resume();
    }
  }

  /** Request body bytes from llhttp. */
  body(chunk: Buffer): void {
    this.pending += chunk.length;
    if (!this.paused && this.pending >= REQUEST_WINDOW) {
      this.paused = true;
      this.msg.pause();
    }
    this.requestData(chunk, false);
  }

  /** The exchange is over (answered, or the client went away). */
  close(): void {
    if (this.closed) return;
    if (!this.res.writableFinished) this.cancel("client connection lost");
    this.closed = true;
    // Written or not, the backend's bytes are not held any more.
    this.released(Number.MAX_SAFE_INTEGER);
  }
}

/** The request's fields as an HTTP/2 field list: names lowercase, without hop-by-hop ones; or a problem. */
function requestFields(req: http.IncomingMessage): string[] | string {
  const raw = req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name === "host" || name === "te" || name === "http2-settings" || connectionSpecific(name)) continue;
    const why = nameProblem(name) || valueProblem(name, value);
    if (why !== "") return why;
    out.push(name, value);
  }
  return out;
}

function onRequest(l: RelayListener, req: http.IncomingMessage, res: http.ServerResponse): void {
  const method = req.method ?? "";
  const path = req.url ?? "";
  const authority = req.headers.host ?? "";
  const ct = req.headers["content-type"] ?? "";
  const origin = req.headers.origin ?? "";
  const asked = req.headers["access-control-request-method"];
  if (method === "OPTIONS" && origin !== "" && asked !== undefined) {
    const fields = requestFields(req);
    if (typeof fields === "string") {
      textAnswer(res, 400, `malformed request: ${fields}`);
      return;
    }
    const a = answerPreflight(l.state, authority, path, fields, origin, asked);
    if (a.message !== "") textAnswer(res, a.status, a.message, a.headers);
    else {
      res.writeHead(a.status, a.headers);
      res.end();
    }
    return;
  }
  if (isGrpcWebType(ct)) {
    const fields = requestFields(req);
    if (method !== "POST" || typeof fields === "string") {
      if (typeof fields === "string") textAnswer(res, 400, `malformed request: ${fields}`);
      else textAnswer(res, 405, `gRPC-Web calls are POST, not ${method}`, ["allow", "POST"]);
      return;
    }
    const front = new WebH1Front(req, res, {
      text: isTextType(ct),
      origin,
      maxRequestBytes: l.limits.grpcWebMaxRequestBytes,
    });
    req.on("data", (chunk: Buffer) => front.body(chunk));
    req.on("end", () => front.requestData(EMPTY, true));
    res.on("close", () => front.close());
    // A call answered before its request was read whole (refused, too large): the connection is not reused.
    res.on("finish", () => {
      if (!req.complete) req.socket.destroy();
    });
    startWebCall(l, front, new H2Stream(0, 0, 0), authority, path, fields, 0, false);
    return;
  }
  if (ct.startsWith("application/grpc")) {
    textAnswer(
      res,
      505,
      "gRPC needs HTTP/2: connect with HTTP/2 (h2c with prior knowledge, or TLS with ALPN h2), or send gRPC-Web (application/grpc-web)",
    );
    return;
  }
  otherHttp1Request(req, res, { state: l.state, port: l.port, secure: l.secure });
}

/** The HTTP/1.1 side of a listener port: an `http.Server` fed the port's HTTP/1.1 connections. */
export class Http1Side {
  readonly server: http.Server;
  readonly sockets = new Set<Socket>();

  constructor(l: RelayListener, limits: ProtocolLimits) {
    this.server = http.createServer(
      {
        maxHeaderSize: limits.http1MaxHeaderBytes,
        headersTimeout: limits.http1HeadersTimeoutMs,
        // Checked this often (Node's default, 30 s, would let a slow client keep its socket that long).
        connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.http1HeadersTimeoutMs / 2)),
        noDelay: true,
      },
      (req, res) => onRequest(l, req, res),
    );
    this.server.keepAliveTimeout = limits.http1IdleTimeoutMs;
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
      if (!socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) {
        socket.destroy();
        return;
      }
      const status =
        err.code === "HPE_HEADER_OVERFLOW"
          ? "431 Request Header Fields Too Large"
          : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
            ? "408 Request Timeout"
            : "400 Bad Request";
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    });
    // The server is never bound: 'listening' starts its checks of headers and keep-alive timeouts.
    this.server.emit("listening");
  }

  /** Takes a connection that speaks HTTP/1.1 (its first bytes still unread). */
  accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    this.server.emit("connection", socket);
  }

  /** No new requests: idle connections close now, busy ones after their answer. */
  close(): void {
    this.server.close();
    this.server.closeIdleConnections();
    for (const s of this.sockets) {
      const res = (s as { _httpMessage?: http.ServerResponse | null })._httpMessage;
      if (res != null && !res.headersSent) res.shouldKeepAlive = false;
    }
  }

  destroy(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}
