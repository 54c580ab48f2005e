/**
 * gRPC calls the gateway makes itself to a backend (reflection, transcoded JSON calls), over node:http2
 * client sessions kept per endpoint.
 *
 * Why not the relay's upstream pools: those are built around relayed calls (a `RelayCall` is the pool's
 * waiter, and the upstream handler hands response frames straight to a client stream), count every attempt
 * for outlier detection, and are on the hot path of every relayed call. Calls the gateway makes are few and
 * need whole messages, which node:http2 gives; keeping them apart leaves the relay's per-call work unchanged.
 * TLS to a backend is checked exactly as the relay checks it (BackendTLSPolicy CA and names, or the cluster's
 * server name).
 */
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import type { IrCluster, IrEndpoint } from "../../ir/routing-table.js";
import { decodeGrpcMessage, GrpcCode } from "../grpc-status.js";
import { checkBackendIdentity } from "../relay/upstream.js";
import { frameMessage, MessageReader } from "./messages.js";

/** Where a gateway-made call goes. */
export interface BackendTarget {
  cluster: IrCluster;
  endpoint: IrEndpoint;
}

/** The end of a gateway-made call. */
export interface CallResult {
  code: number;
  message: string;
  /** `grpc-status-details-bin`, decoded from base64, when the backend sent it. */
  details: Buffer | undefined;
}

/** A unary call's answer: its status and the messages received (usually one). */
export interface UnaryResult extends CallResult {
  messages: Buffer[];
}

/** Largest message a gateway-made call accepts from a backend (grpc-js's default receive limit). */
export const BACKEND_MESSAGE_LIMIT = 4 * 1024 * 1024;

/** Sessions idle this long are closed. */
const IDLE_MS = 30_000;

function sessionKey(t: BackendTarget): string {
  const c = t.cluster;
  const bt = c.backendTls;
  return `${c.tls ? "tls" : "h2c"}|${t.endpoint.host}|${t.endpoint.port}|${c.serverName ?? ""}|${bt?.source ?? ""}|${bt?.hostname ?? ""}`;
}

export class BackendClient {
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();

  /**
   * Opens a call: request headers for `path`, the request messages (framed here), and the end of the
   * request. Returns the stream, or a CallResult when no connection can be made.
   */
  open(
    t: BackendTarget,
    path: string,
    authority: string,
    messages: readonly Uint8Array[],
    timeoutMs: number,
    extra: Record<string, string> = {},
  ): { ok: true; stream: http2.ClientHttp2Stream } | { ok: false; result: CallResult } {
    const bt = t.cluster.backendTls;
    if (bt?.invalid !== undefined) {
      return { ok: false, result: { code: GrpcCode.UNAVAILABLE, message: bt.invalid, details: undefined } };
    }
    let session: http2.ClientHttp2Session;
    try {
      session = this.session(t);
    } catch (e: unknown) {
      return { ok: false, result: { code: GrpcCode.UNAVAILABLE, message: String(e), details: undefined } };
    }
    const headers: http2.OutgoingHttpHeaders = {
      ...extra,
      ":method": "POST",
      ":path": path,
      ":authority": authority,
      "content-type": "application/grpc",
      te: "trailers",
    };
    // 0: no deadline (a transcoded call without one).
    if (timeoutMs > 0) headers["grpc-timeout"] = `${Math.max(1, Math.ceil(timeoutMs))}m`;
    const req = session.request(headers);
    if (timeoutMs > 0) req.setTimeout(timeoutMs, () => req.close(http2.constants.NGHTTP2_CANCEL));
    for (const m of messages) req.write(frameMessage(m));
    req.end();
    return { ok: true, stream: req };
  }

  /** A call with one request message, whose response messages are gathered whole. */
  unary(
    t: BackendTarget,
    path: string,
    authority: string,
    payload: Uint8Array,
    timeoutMs: number,
  ): Promise<UnaryResult> {
    const opened = this.open(t, path, authority, [payload], timeoutMs);
    if (!opened.ok) return Promise.resolve({ ...opened.result, messages: [] });
    const req = opened.stream;
    return new Promise((resolve) => {
      const reader = new MessageReader(BACKEND_MESSAGE_LIMIT);
      const messages: Buffer[] = [];
      let headers: http2.IncomingHttpHeaders = {};
      let done = false;
      const end = (r: CallResult): void => {
        if (done) return;
        done = true;
        resolve({ ...r, messages });
      };
      req.on("response", (h: http2.IncomingHttpHeaders) => {
        headers = h;
      });
      req.on("data", (chunk: Buffer) => {
        messages.push(...reader.push(chunk));
        if (reader.error !== "") {
          end({ code: GrpcCode.RESOURCE_EXHAUSTED, message: reader.error, details: undefined });
          req.close(http2.constants.NGHTTP2_CANCEL);
        }
      });
      req.on("trailers", (tr: http2.IncomingHttpHeaders) => end(callResult({ ...headers, ...tr })));
      req.on("error", (e: Error) =>
        end({ code: GrpcCode.UNAVAILABLE, message: e.message, details: undefined }),
      );
      req.on("close", () => {
        if (req.rstCode !== undefined && req.rstCode !== http2.constants.NGHTTP2_NO_ERROR && !done) {
          end({ code: GrpcCode.UNAVAILABLE, message: `stream reset (${req.rstCode})`, details: undefined });
        }
        end(callResult(headers));
      });
      req.resume();
    });
  }

  /** Closes every session (the data plane is closing). */
  close(): void {
    for (const s of this.sessions.values()) s.destroy();
    this.sessions.clear();
  }

  private session(t: BackendTarget): http2.ClientHttp2Session {
    const key = sessionKey(t);
    const known = this.sessions.get(key);
    if (known !== undefined && !known.closed && !known.destroyed) return known;
    const { host, port } = t.endpoint;
    const c = t.cluster;
    const authority = `${c.tls ? "https" : "http"}://${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
    const opts: http2.SecureClientSessionOptions = {};
    if (c.tls) {
      const bt = c.backendTls;
      const name = bt?.hostname ?? c.serverName ?? host;
      opts.createConnection = () => {
        const o: tls.ConnectionOptions = { host, port, ALPNProtocols: ["h2"] };
        if (!net.isIP(name)) o.servername = name;
        if (bt !== undefined) {
          if (bt.caPem !== undefined) o.ca = bt.caPem;
          o.checkServerIdentity = (_h, cert) => checkBackendIdentity(bt, cert);
        } else {
          o.checkServerIdentity = (_h, cert) => tls.checkServerIdentity(name, cert);
        }
        return tls.connect(o);
      };
    }
    const s = http2.connect(authority, opts);
    s.setTimeout(IDLE_MS, () => s.close());
    s.on("error", () => undefined);
    s.on("close", () => {
      if (this.sessions.get(key) === s) this.sessions.delete(key);
    });
    this.sessions.set(key, s);
    return s;
  }
}

/** The status of a call from its response headers and trailers (HTTP status when no grpc-status). */
export function callResult(h: http2.IncomingHttpHeaders): CallResult {
  const raw = h["grpc-status"];
  const details = h["grpc-status-details-bin"];
  const d = typeof details === "string" ? Buffer.from(details, "base64") : undefined;
  if (raw === undefined) {
    const status = Number(h[":status"] ?? 0);
    return {
      code: status === 0 ? GrpcCode.UNAVAILABLE : GrpcCode.UNKNOWN,
      message: status === 0 ? "the backend closed the stream without a status" : `HTTP status ${status}`,
      details: d,
    };
  }
  const code = Number(raw);
  const msg = h["grpc-message"];
  return {
    code: Number.isInteger(code) ? code : GrpcCode.UNKNOWN,
    message: typeof msg === "string" ? decodeGrpcMessage(msg) : "",
    details: d,
  };
}
