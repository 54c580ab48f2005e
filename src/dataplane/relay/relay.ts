/**
 * The frame-level relay data path: the same public API and call semantics as the node:http2 data path
 * (`Dataplane`), without creating node:http2 stream objects per call.
 *
 * Every downstream stream becomes a `RelayCall`, which the router sends to a backend; the call opens a stream
 * on a pooled upstream connection (stream ids are remapped by construction: each connection numbers its own)
 * and from then on header blocks and DATA payloads are passed between the two `H2Connection`s as they
 * arrive. Windows are returned to a sender only when the other side's connection actually wrote the bytes,
 * so memory per call is bounded by the stream window and a slow reader slows the writer.
 *
 * Handlers are two module-level objects (downstream and upstream), and per-call state lives on the
 * `RelayCall`: no closures or promises per call or per frame.
 */

import * as net from "node:net";
import { performance } from "node:perf_hooks";
import * as tls from "node:tls";
import type {
  IrBackend,
  IrCluster,
  IrDirect,
  IrForward,
  IrListener,
  IrMirror,
  IrRoute,
  RoutingTable,
} from "../../ir/routing-table.js";
import { validateRoutingTable } from "../../ir/validate.js";
import { GatewayError, GW_ERR_BIND, GW_ERR_CONFIG, GW_ERR_TLS } from "../../util/errors.js";
import { GeneratedCertificates } from "../../util/self-signed.js";
import {
  encodeGrpcMessage,
  GrpcCode,
  grpcCodeFromHttpStatus,
  grpcCodeFromRstCode,
  parseGrpcTimeout,
} from "../grpc-status.js";
import { compileRouter, hostnameMatches, type Router } from "../router.js";
import type { CallInfo, DataplaneApi, DataplaneOptions, DataplaneStats } from "../types.js";
import {
  CONNECTION_LOST,
  type ConnectionHandler,
  type ConnectionOptions,
  H2Connection,
  type H2Stream,
} from "./connection.js";
import { ErrorCode } from "./frames.js";
import { applyModifier, fieldValue, forwardable, headerRecord } from "./headers.js";
import {
  DEFAULT_UPSTREAM,
  type PoolSettings,
  type PoolWaiter,
  poolKey,
  type UpstreamOptions,
  UpstreamPool,
} from "./upstream.js";

/** The data plane options, plus the HTTP/2 limits the relay advertises (tests and tuning). */
export interface RelayOptions extends DataplaneOptions {
  /** Limits we advertise to clients and backends. Defaults in `ConnectionOptions`. */
  connection?: ConnectionOptions;
}

/** Default time calls in flight get to finish on `close()` (ms), as for the node:http2 data path. */
export const DEFAULT_GRACE_MS = 10_000;

/** Request bytes kept per call until the backend answers, so a stream refused by GOAWAY can be replayed. */
const REPLAY_LIMIT = 64 * 1024;
/** A mirror copy that falls this far behind is dropped rather than buffered or allowed to slow the call. */
const MIRROR_BACKLOG_LIMIT = 1 << 20;
const SWEEP_INTERVAL_MS = 10_000;

/** What a listener port serves: swapped as one reference on `apply()`. */
interface PortState {
  readonly router: Router;
  readonly table: RoutingTable;
  /** Whether any route of the port matches on headers (else calls skip building the header record). */
  readonly matchesHeaders: boolean;
}

/** One bound port. */
class RelayListener {
  state: PortState;
  /** The listener name of calls no listener of the port matched. */
  readonly portName: string;
  readonly conns = new Set<H2Connection>();
  localPort = 0;
  /** HTTPS: the port's listeners with their TLS contexts, for SNI. */
  contexts: { listener: IrListener; ctx: tls.SecureContext; certPem: string; keyPem: string }[] = [];
  constructor(
    readonly dp: RelayDataplane,
    readonly port: number,
    readonly secure: boolean,
    readonly server: net.Server,
    state: PortState,
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
}

/** The request queue of calls that have none (never pushed to). */
const EMPTY_QUEUE: Buffer[] = [];
/** Request headers of calls on ports where no route matches on headers: the router never reads them. */
const NO_HEADERS = Object.freeze({});

/** `namespace/name` of a listener's Gateway, made once per (immutable) listener object of a table. */
const gatewayNames = new WeakMap<IrListener, string>();

function gatewayName(l: IrListener): string {
  let name = gatewayNames.get(l);
  if (name === undefined) {
    name = `${l.gateway.namespace}/${l.gateway.name}`;
    gatewayNames.set(l, name);
  }
  return name;
}

/** Weighted choice data of a forward action, computed once per action object. */
const weightCache = new WeakMap<IrForward, { total: number; cum: number[] }>();

function pickBackend(f: IrForward): IrBackend | undefined {
  let w = weightCache.get(f);
  if (w === undefined) {
    const cum: number[] = [];
    let total = 0;
    for (const b of f.backends) {
      total += Math.max(b.weight, 0);
      cum.push(total);
    }
    w = { total, cum };
    weightCache.set(f, w);
  }
  if (w.total <= 0) return undefined;
  const r = Math.random() * w.total;
  for (let i = 0; i < w.cum.length; i++) if (r < w.cum[i]!) return f.backends[i];
  return f.backends[f.backends.length - 1];
}

/** One relayed call: a downstream stream and (once bound) its upstream stream. */
class RelayCall implements PoolWaiter {
  uconn: H2Connection | null = null;
  ust: H2Stream | null = null;
  pool: UpstreamPool | undefined = undefined;
  listenerName = "";
  gateway: string | undefined = undefined;
  route: IrRoute | undefined = undefined;
  backendRef: IrBackend | undefined = undefined;
  forward: IrForward | undefined = undefined;
  cluster: IrCluster | undefined = undefined;
  endpoint: string | undefined = undefined;
  reqFields: string[] = [];
  /** Request DATA received before an upstream stream exists (a shared empty array until the first). */
  reqQueue: Buffer[] = EMPTY_QUEUE;
  reqEnded = false;
  reqTrailers: string[] | null = null;
  /**
   * Request DATA already sent upstream, kept for a replay until the backend answers: the one piece of most
   * calls as it is, a list once there are more. `replayable` turns false once that is no longer possible
   * (answered, or too much sent).
   */
  replay: Buffer | Buffer[] | null = null;
  replayable = true;
  replayBytes = 0;
  /** Replayed bytes whose downstream window was already returned. */
  skipConsume = 0;
  upstreamResponded = false;
  respStarted = false;
  done = false;
  grpcStatus = -1;
  httpStatus = 200;
  gatewayError: string | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  timeoutMs = 0;
  attempts = 0;
  requestBytes = 0;
  responseBytes = 0;
  mirrors: MirrorStream[] | null = null;
  readonly start = performance.now();

  constructor(
    readonly dp: RelayDataplane,
    readonly dconn: H2Connection,
    readonly dst: H2Stream,
    readonly authority: string,
    readonly path: string,
  ) {}

  /** PoolWaiter: a connection has a free slot. */
  bind(conn: H2Connection): void {
    if (this.done) return;
    this.uconn = conn;
    this.endpoint = this.pool?.address;
    const q = this.reqQueue;
    const endNow = this.reqEnded && q.length === 0 && this.reqTrailers === null;
    const st = conn.openStream(this.reqFields, endNow, this);
    this.ust = st;
    if (endNow) return;
    this.reqQueue = EMPTY_QUEUE;
    for (let i = 0; i < q.length; i++) this.sendUp(q[i]!, false);
    if (this.reqEnded) {
      if (this.reqTrailers !== null) conn.writeHeaders(st, this.reqTrailers, true);
      else conn.writeData(st, null, true);
    }
  }

  /** PoolWaiter: no connection could be made. Nothing was sent yet, so one other endpoint may be tried. */
  connectFailed(reason: string): void {
    if (this.done) return;
    this.attempts++;
    if (this.attempts < 2 && this.cluster !== undefined) {
      const next = this.dp.pickPool(this.cluster, this.pool);
      if (next !== undefined && next !== this.pool) {
        this.pool = next;
        next.acquire(this);
        return;
      }
    }
    this.fail(GrpcCode.UNAVAILABLE, reason);
  }

  sendUp(data: Buffer, end: boolean): void {
    if (this.replayable && data.length > 0) {
      this.replayBytes += data.length;
      if (this.replayBytes > REPLAY_LIMIT) {
        this.replayable = false;
        this.replay = null;
      } else {
        const r = this.replay;
        if (r === null) this.replay = data;
        else if (Array.isArray(r)) r.push(data);
        else this.replay = [r, data];
      }
    }
    this.uconn!.writeData(this.ust!, data, end);
  }

  /** Ends the call with a gateway-made status: trailers-only, or trailers when the response already began. */
  fail(code: number, message: string): void {
    if (this.done) return;
    if (!this.respStarted) {
      this.answerGrpc(code, message);
      return;
    }
    const trailers = ["grpc-status", String(code), "grpc-message", encodeGrpcMessage(message)];
    this.dconn.writeHeaders(this.dst, trailers, true);
    this.gatewayError = message;
    this.finish(code);
  }

  answerGrpc(code: number, message: string): void {
    this.dconn.writeHeaders(
      this.dst,
      [
        ":status",
        "200",
        "content-type",
        "application/grpc",
        "grpc-status",
        String(code),
        "grpc-message",
        encodeGrpcMessage(message),
      ],
      true,
    );
    this.respStarted = true;
    this.gatewayError = message;
    this.finish(code);
  }

  answerDirect(d: IrDirect): void {
    if (d.httpStatus !== undefined) {
      this.dconn.writeHeaders(
        this.dst,
        [":status", String(d.httpStatus), "content-type", "text/plain; charset=utf-8"],
        false,
      );
      this.dconn.writeData(this.dst, d.message === "" ? null : Buffer.from(`${d.message}\n`), true);
      this.respStarted = true;
      this.httpStatus = d.httpStatus;
      this.gatewayError = d.message;
      this.finish(grpcCodeFromHttpStatus(d.httpStatus));
      return;
    }
    this.answerGrpc(d.grpcStatus ?? GrpcCode.UNKNOWN, d.message);
  }

  /** The call is over for the client: release the upstream side and report it. */
  finish(grpcStatus: number): void {
    if (this.done) return;
    this.done = true;
    this.grpcStatus = grpcStatus;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const ust = this.ust;
    const uconn = this.uconn;
    if (uconn !== null && ust !== null) {
      if (!ust.closed) uconn.resetStream(ust, ErrorCode.CANCEL);
      this.pool?.release(uconn);
    } else if (this.pool !== undefined) {
      this.pool.cancel(this);
    }
    this.reqQueue = EMPTY_QUEUE;
    this.replayable = false;
    this.replay = null;
    if (this.mirrors !== null) for (const m of this.mirrors) if (!m.reqEnded) m.abandon();
    this.dp.callEnded(this);
  }
}

/** A mirrored copy of a call's request; its answer is read and dropped. Never delays or fails the call. */
class MirrorStream implements PoolWaiter {
  uconn: H2Connection | null = null;
  ust: H2Stream | null = null;
  queue: Buffer[] = [];
  queued = 0;
  reqEnded = false;
  dead = false;
  constructor(
    readonly pool: UpstreamPool,
    readonly fields: string[],
  ) {}

  bind(conn: H2Connection): void {
    if (this.dead) return;
    this.uconn = conn;
    const endNow = this.reqEnded && this.queue.length === 0;
    this.ust = conn.openStream(this.fields, endNow, this);
    if (endNow) return;
    for (const b of this.queue) conn.writeData(this.ust, b, false);
    this.queue = [];
    if (this.reqEnded) conn.writeData(this.ust, null, true);
  }

  connectFailed(): void {
    this.dead = true;
  }

  write(data: Buffer, end: boolean): void {
    if (this.dead) return;
    if (end) this.reqEnded = true;
    if (this.ust !== null && this.uconn !== null) {
      if (this.uconn.queuedBytes(this.ust) > MIRROR_BACKLOG_LIMIT) {
        this.abandon();
        return;
      }
      this.uconn.writeData(this.ust, data, end);
      return;
    }
    this.queued += data.length;
    if (this.queued > MIRROR_BACKLOG_LIMIT) {
      this.abandon();
      return;
    }
    if (data.length > 0) this.queue.push(data);
  }

  abandon(): void {
    if (this.dead) return;
    this.dead = true;
    this.queue = [];
    if (this.uconn !== null && this.ust !== null) {
      this.uconn.resetStream(this.ust, ErrorCode.CANCEL);
      this.pool.release(this.uconn);
    } else {
      this.pool.cancel(this);
    }
  }

  ended(): void {
    this.dead = true;
    if (this.uconn !== null) this.pool.release(this.uconn);
  }
}

// ------------------------------------------------------------------------------------------- downstream side

function startCall(
  dp: RelayDataplane,
  conn: H2Connection,
  st: H2Stream,
  fields: string[],
  endStream: boolean,
  oversized: boolean,
): void {
  const l = conn.owner as RelayListener;
  const state = l.state;
  let method = "";
  let path = "";
  let authority = "";
  let scheme = "";
  // The upstream request's fields: its pseudo-headers (values set below), then the forwardable regular
  // headers, which the router also reads from here (it skips pseudo-headers).
  const up = [":method", "", ":scheme", "", ":path", "", ":authority", ""];
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (name === ":path") path = value;
      else if (name === ":authority") authority = value;
      else if (name === ":method") method = value;
      else if (name === ":scheme") scheme = value;
    } else if (forwardable(name, value)) {
      up.push(name, value);
    }
  }
  if (authority === "") authority = fieldValue(up, "host") ?? "";
  const call = new RelayCall(dp, conn, st, authority, path);
  st.ctx = call;
  call.reqEnded = endStream;
  dp.activeCalls++;
  call.listenerName = l.portName;
  if (oversized) {
    call.answerGrpc(GrpcCode.RESOURCE_EXHAUSTED, `request headers exceed ${dp.maxHeaderListSize} bytes`);
    return;
  }
  if (path === "" || method === "" || scheme === "") {
    call.answerGrpc(GrpcCode.INTERNAL, "malformed request: :method, :scheme and :path are required");
    return;
  }
  const m = state.router.match(authority, path, state.matchesHeaders ? headerRecord(up) : NO_HEADERS);
  if (m.listener !== undefined) {
    call.listenerName = m.listener.name;
    call.gateway = gatewayName(m.listener);
  }
  call.route = m.route;
  const action = m.action;
  if (action.kind === "direct") {
    call.answerDirect(action);
    return;
  }
  call.forward = action;
  const backend = pickBackend(action);
  if (backend === undefined) {
    call.answerGrpc(GrpcCode.UNAVAILABLE, "every backend of the rule has weight 0");
    return;
  }
  call.backendRef = backend;
  if (backend.invalid !== undefined || backend.cluster === undefined) {
    call.answerDirect(
      backend.invalid ?? { kind: "direct", grpcStatus: GrpcCode.UNAVAILABLE, message: "invalid backend" },
    );
    return;
  }
  const cluster = state.table.clusters[backend.cluster];
  if (cluster === undefined || cluster.endpoints.length === 0) {
    call.answerGrpc(GrpcCode.UNAVAILABLE, `no ready endpoint for ${backend.cluster}`);
    return;
  }
  call.cluster = cluster;
  up[1] = method;
  up[3] = cluster.tls ? "https" : "http";
  up[5] = path;
  up[7] = authority;
  // The deadline is the client's, read before a route's header modifiers apply.
  const timeout = parseGrpcTimeout(fieldValue(up, "grpc-timeout"));
  if (action.requestHeaders !== undefined) applyModifier(up, action.requestHeaders);
  if (backend.requestHeaders !== undefined) applyModifier(up, backend.requestHeaders);
  call.reqFields = up;
  if (timeout !== undefined) {
    call.timeoutMs = timeout;
    call.timer = setTimeout(onDeadline, Math.max(0, Math.ceil(timeout)), call);
  }
  if (action.mirrors.length > 0) startMirrors(dp, call, action.mirrors, state.table, up);
  const pool = dp.pickPool(cluster, undefined);
  if (pool === undefined) {
    call.answerGrpc(GrpcCode.UNAVAILABLE, `no ready endpoint for ${backend.cluster}`);
    return;
  }
  call.pool = pool;
  pool.acquire(call);
}

function startMirrors(
  dp: RelayDataplane,
  call: RelayCall,
  mirrors: readonly IrMirror[],
  table: RoutingTable,
  fields: string[],
): void {
  for (const m of mirrors) {
    if (m.numerator <= 0 || Math.random() * m.denominator >= m.numerator) continue;
    const cluster = table.clusters[m.cluster];
    if (cluster === undefined || cluster.endpoints.length === 0) continue;
    const pool = dp.pickPool(cluster, undefined);
    if (pool === undefined) continue;
    const mf = fields.slice();
    mf[3] = cluster.tls ? "https" : "http";
    const ms = new MirrorStream(pool, mf);
    ms.reqEnded = call.reqEnded;
    call.mirrors ??= [];
    call.mirrors.push(ms);
    pool.acquire(ms);
  }
}

function onDeadline(call: RelayCall): void {
  call.timer = undefined;
  call.fail(GrpcCode.DEADLINE_EXCEEDED, `deadline exceeded (grpc-timeout ${call.timeoutMs} ms)`);
}

const downstreamHandler: ConnectionHandler = {
  onHeaders(conn, st, fields, endStream, oversized) {
    const call = st.ctx as RelayCall | undefined;
    if (call === undefined) {
      startCall((conn.owner as RelayListener).dp, conn, st, fields, endStream, oversized);
      return;
    }
    // Request trailers (rare in gRPC): forwarded as trailers.
    if (call.done) return;
    const trailers: string[] = [];
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i]!.charCodeAt(0) !== 0x3a && forwardable(fields[i]!, fields[i + 1]!))
        trailers.push(fields[i]!, fields[i + 1]!);
    }
    call.reqEnded = true;
    if (call.mirrors !== null) for (const m of call.mirrors) m.write(EMPTY, true);
    if (call.ust !== null) call.uconn!.writeHeaders(call.ust, trailers, true);
    else call.reqTrailers = trailers;
  },
  onData(conn, st, data, endStream) {
    const call = st.ctx as RelayCall | undefined;
    if (call === undefined || call.done) {
      conn.consume(st, data.length);
      return;
    }
    call.requestBytes += data.length;
    if (endStream) call.reqEnded = true;
    if (call.mirrors !== null) for (const m of call.mirrors) m.write(data, endStream);
    if (call.ust !== null) call.sendUp(data, endStream);
    else if (data.length > 0) {
      if (call.reqQueue === EMPTY_QUEUE) call.reqQueue = [];
      call.reqQueue.push(data);
    }
  },
  onReset(_conn, st, code) {
    const call = st.ctx as RelayCall | undefined;
    if (call === undefined || call.done) return;
    call.gatewayError = code === CONNECTION_LOST ? "client connection lost" : "cancelled by the client";
    call.finish(GrpcCode.CANCELLED);
  },
  onDataSent(_conn, st, n) {
    const call = st.ctx as RelayCall | undefined;
    if (call !== undefined && call.ust !== null) call.uconn!.consume(call.ust, n);
  },
  onReady() {},
  onGoaway() {},
  onClose(conn) {
    (conn.owner as RelayListener).conns.delete(conn);
  },
};

const EMPTY = Buffer.alloc(0);

// --------------------------------------------------------------------------------------------- upstream side

/**
 * The fields of a response header block that go downstream, filtered in place: the decoded list belongs to
 * this call alone, so it is reused rather than copied.
 */
function responseFields(fields: string[], withStatus: boolean): string[] {
  let o = 0;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    const keep = name.charCodeAt(0) === 0x3a ? withStatus && name === ":status" : forwardable(name, value);
    if (!keep) continue;
    fields[o++] = name;
    fields[o++] = value;
  }
  fields.length = o;
  return fields;
}

const upstreamHandler: ConnectionHandler = {
  onHeaders(_conn, st, fields, endStream, oversized) {
    const ctx = st.ctx;
    if (ctx instanceof MirrorStream) {
      if (endStream) ctx.ended();
      return;
    }
    const call = ctx as RelayCall;
    if (call.done) return;
    if (oversized) {
      call.fail(
        GrpcCode.INTERNAL,
        `upstream ${call.endpoint ?? ""} sent a header list above ${call.dp.maxHeaderListSize} bytes`,
      );
      return;
    }
    if (!call.upstreamResponded) {
      const status = fieldValue(fields, ":status") ?? "";
      // Informational (1xx) headers are not the response.
      if (status.charCodeAt(0) === 0x31 && !endStream) return;
      call.upstreamResponded = true;
      call.replayable = false;
      call.replay = null;
      const gs = fieldValue(fields, "grpc-status");
      if (status !== "200" && gs === undefined) {
        const code = grpcCodeFromHttpStatus(Number(status));
        call.fail(code, `upstream ${call.endpoint ?? ""} answered HTTP ${status} without a gRPC status`);
        return;
      }
      const out = responseFields(fields, true);
      if (call.forward?.responseHeaders !== undefined) applyModifier(out, call.forward.responseHeaders);
      if (call.backendRef?.responseHeaders !== undefined) applyModifier(out, call.backendRef.responseHeaders);
      call.respStarted = true;
      call.dconn.writeHeaders(call.dst, out, endStream);
      if (endStream) call.finish(gs === undefined ? GrpcCode.UNKNOWN : Number(gs));
      return;
    }
    // Trailers.
    const gs = fieldValue(fields, "grpc-status");
    call.dconn.writeHeaders(call.dst, responseFields(fields, false), true);
    call.finish(gs === undefined ? GrpcCode.UNKNOWN : Number(gs));
  },
  onData(conn, st, data, endStream) {
    const ctx = st.ctx;
    if (ctx instanceof MirrorStream) {
      conn.consume(st, data.length);
      if (endStream) ctx.ended();
      return;
    }
    const call = ctx as RelayCall;
    if (call.done || !call.respStarted) {
      conn.consume(st, data.length);
      return;
    }
    call.responseBytes += data.length;
    call.dconn.writeData(call.dst, data, false);
    // A gRPC response always ends with trailers; one that ends without them is an INTERNAL error for the client
    // (as grpc-js reports it), and the client must learn it from a status rather than a bare end of stream.
    if (endStream)
      call.fail(GrpcCode.INTERNAL, `upstream ${call.endpoint ?? ""} ended the response without trailers`);
  },
  onReset(conn, st, code) {
    const ctx = st.ctx;
    if (ctx instanceof MirrorStream) {
      ctx.ended();
      return;
    }
    const call = ctx as RelayCall;
    if (call.done) return;
    if (
      code === ErrorCode.REFUSED_STREAM &&
      !call.upstreamResponded &&
      call.replayable &&
      call.attempts < 3
    ) {
      // The backend never processed the stream (REFUSED_STREAM, or above a GOAWAY's last stream id): replay it.
      call.attempts++;
      const r = call.replay;
      if (r !== null) call.reqQueue = (Array.isArray(r) ? r : [r]).concat(call.reqQueue);
      call.skipConsume += call.replayBytes;
      call.replay = null;
      call.replayBytes = 0;
      call.ust = null;
      call.uconn = null;
      const pool = call.pool!;
      pool.release(conn);
      pool.acquire(call);
      return;
    }
    if (code === CONNECTION_LOST) {
      call.fail(GrpcCode.UNAVAILABLE, `connection to upstream ${call.endpoint ?? ""} lost`);
    } else {
      call.fail(
        grpcCodeFromRstCode(code),
        `upstream ${call.endpoint ?? ""} reset the stream (HTTP/2 error ${code})`,
      );
    }
  },
  onDataSent(_conn, st, n) {
    const ctx = st.ctx;
    if (ctx instanceof MirrorStream) return;
    const call = ctx as RelayCall;
    if (call.skipConsume > 0) {
      const skip = Math.min(call.skipConsume, n);
      call.skipConsume -= skip;
      n -= skip;
    }
    if (n > 0) call.dconn.consume(call.dst, n);
  },
  onReady(conn) {
    (conn.owner as UpstreamPool).onReady(conn);
  },
  onGoaway(conn) {
    (conn.owner as UpstreamPool).onGoaway(conn);
  },
  onClose(conn) {
    (conn.owner as UpstreamPool).onClose(conn);
  },
};

// ---------------------------------------------------------------------------------------------- the dataplane

/**
 * The relay data plane. Same contract as the node:http2 `Dataplane`: `apply()` swaps the table atomically
 * (calls in flight keep the configuration they started with), `close()` drains.
 */
export class RelayDataplane implements DataplaneApi {
  activeCalls = 0;
  readonly maxHeaderListSize: number;
  private readonly listeners = new Map<number, RelayListener>();
  private readonly pools = new Map<string, UpstreamPool>();
  private readonly poolCache = new WeakMap<IrCluster, UpstreamPool[]>();
  private readonly rr = new Map<string, number>();
  private readonly generated: GeneratedCertificates;
  private readonly connOpts: ConnectionOptions;
  private readonly upOpts: PoolSettings;
  private readonly sweepTimer: NodeJS.Timeout;
  private closing = false;
  private drained: (() => void) | null = null;
  private queue: Promise<void> = Promise.resolve();
  private tableVersion: number | undefined = undefined;

  /**
   * @param opts listeners' address and port map, the per-call observer, HTTP/2 limits.
   * @param upstream upstream connection tuning (same names and defaults as the node:http2 data path).
   */
  constructor(
    private readonly opts: RelayOptions = {},
    upstream: UpstreamOptions = {},
  ) {
    this.generated = new GeneratedCertificates(opts.onCertificateGenerated);
    this.connOpts = opts.connection ?? {};
    this.maxHeaderListSize = this.connOpts.maxHeaderListSize ?? 65536;
    const given = Object.fromEntries(Object.entries(upstream).filter(([, v]) => v !== undefined));
    this.upOpts = { ...DEFAULT_UPSTREAM, ...given };
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
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
      contexts: RelayListener["contexts"];
      secure: boolean;
    }[] = [];
    for (const [port, ls] of byPort) {
      const secure = ls.some((l) => l.protocol === "HTTPS");
      const contexts = secure ? await this.contextsFor(ls) : [];
      const matchesHeaders = ls.some((l) => l.routes.some((r) => r.match.headers.length > 0));
      prepared.push({ port, state: { router: compileRouter(ls), table, matchesHeaders }, contexts, secure });
    }
    // Bind every new port first, so a bind failure leaves the running configuration untouched.
    const created: RelayListener[] = [];
    try {
      for (const p of prepared) {
        const existing = this.listeners.get(p.port);
        if (existing !== undefined && existing.secure === p.secure) continue;
        created.push(await this.listen(p.port, p.secure, p.state));
      }
    } catch (err: unknown) {
      for (const l of created) this.closeListener(l);
      throw err;
    }
    for (const l of created) {
      const old = this.listeners.get(l.port);
      if (old !== undefined) this.closeListener(old);
      this.listeners.set(l.port, l);
    }
    for (const p of prepared) {
      const l = this.listeners.get(p.port)!;
      l.state = p.state;
      l.contexts = p.contexts;
      // Clients that send no SNI (an IP address as target) get the first listener's certificate.
      const first = p.contexts[0];
      if (p.secure && first !== undefined) {
        (l.server as tls.Server).setSecureContext({ cert: first.certPem, key: first.keyPem });
      }
    }
    for (const [port, l] of this.listeners) {
      if (!byPort.has(port)) {
        this.closeListener(l);
        this.listeners.delete(port);
      }
    }
    this.tableVersion = table.version;
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
    return { activeCalls: this.activeCalls, upstreamSessions: sessions };
  }

  /** Stops accepting, sends GOAWAY, waits for calls in flight up to `graceMs`, then closes everything. */
  async close(graceMs: number = DEFAULT_GRACE_MS): Promise<void> {
    this.closing = true;
    clearInterval(this.sweepTimer);
    for (const l of this.listeners.values()) {
      l.server.close();
      for (const c of l.conns) c.shutdown();
    }
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
    for (const l of this.listeners.values()) for (const c of l.conns) c.destroy();
    this.listeners.clear();
    for (const p of this.pools.values()) p.destroy();
    this.pools.clear();
  }

  /** @internal Picks an endpoint pool of `cluster` round-robin, skipping set-aside endpoints and `exclude`. */
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
      if (pool.ejected(now)) {
        fallback ??= pool;
        continue;
      }
      this.rr.set(cluster.name, idx + 1);
      return pool;
    }
    // Every endpoint is set aside: try one anyway rather than fail without an attempt.
    if (fallback !== undefined) this.rr.set(cluster.name, start + 1);
    return fallback;
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
    for (let i = 0; i < n; i++) {
      const idx = (start + i) % n;
      const pool = this.pool(cluster, idx);
      if (pool === exclude || pool.ejected(now)) continue;
      const load = pool.activeStreams();
      if (load < bestLoad) {
        best = pool;
        bestLoad = load;
        bestIdx = idx;
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
      p = new UpstreamPool(
        key,
        ep,
        cluster.serverName,
        cluster.tls,
        upstreamHandler,
        this.connOpts,
        this.upOpts,
      );
      this.pools.set(key, p);
    }
    return p;
  }

  /** @internal A call finished: report it. */
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
      if (p.empty() && p.failures === 0) {
        p.retired = true;
        this.pools.delete(key);
      }
    }
  }

  private listen(port: number, secure: boolean, state: PortState): Promise<RelayListener> {
    let listener: RelayListener;
    const onSocket = (socket: net.Socket): void => {
      if (this.closing) {
        socket.destroy();
        return;
      }
      // HTTPS listeners speak HTTP/2 negotiated by ALPN (GRPCRoute reference 2.1): anything else is closed.
      if (secure && (socket as tls.TLSSocket).alpnProtocol !== "h2") {
        socket.destroy();
        return;
      }
      const conn = new H2Connection(socket, true, downstreamHandler, this.connOpts);
      conn.owner = listener;
      listener.conns.add(conn);
    };
    let server: net.Server;
    if (secure) {
      server = tls.createServer({
        ALPNProtocols: ["h2"],
        SNICallback: (servername, cb) => cb(null, listener.contextFor(servername)),
      });
      server.on("secureConnection", onSocket);
      server.on("tlsClientError", () => {
        // A client that fails the handshake only loses its own connection.
      });
    } else {
      server = net.createServer(onSocket);
    }
    listener = new RelayListener(this, port, secure, server, state);
    const local = this.opts.portMap?.get(port) ?? port;
    return new Promise<RelayListener>((resolve, reject) => {
      const onError = (err: Error): void => {
        server.close();
        reject(
          new GatewayError(
            GW_ERR_BIND,
            `cannot bind listener port ${port} (local port ${local}): ${err.message}`,
            {
              cause: err,
            },
          ),
        );
      };
      server.once("error", onError);
      const o: net.ListenOptions = { port: local };
      if (this.opts.address !== undefined) o.host = this.opts.address;
      server.listen(o, () => {
        server.off("error", onError);
        server.on("error", () => {});
        const addr = server.address();
        listener.localPort = typeof addr === "object" && addr !== null ? addr.port : local;
        resolve(listener);
      });
    });
  }

  private closeListener(l: RelayListener): void {
    l.server.close();
    for (const c of l.conns) c.shutdown();
  }

  private async contextsFor(ls: IrListener[]): Promise<RelayListener["contexts"]> {
    const out: RelayListener["contexts"] = [];
    for (const l of ls) {
      if (l.tls === undefined) continue;
      let cert = l.tls.certificates[0];
      if (cert === undefined && l.tls.generate !== undefined) {
        const g = await this.generated.get(l.name, l.tls.generate.dnsNames);
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
}
