/**
 * The client side of the relay: a request's header block becomes a `RelayCall` (routed, given a backend and
 * an endpoint pool), and the client's DATA, trailers and resets follow it to the upstream stream.
 *
 * The handler is a module-level object and per-call state lives on the call: no closures or promises per call
 * or per frame.
 */
import type { IrBackend, IrForward, IrListener } from "../../ir/routing-table.js";
import { GrpcCode, parseGrpcTimeout } from "../grpc-status.js";
import { EMPTY_QUEUE, RelayCall } from "./call.js";
import { CONNECTION_LOST, type ConnectionHandler, type H2Connection, type H2Stream } from "./connection.js";
import { startCallLimits } from "./deadlines.js";
import { ALL_SET_ASIDE, ALL_UNHEALTHY, failOver, NO_ENDPOINT, unsentMessage } from "./failover.js";
import { ErrorCode } from "./frames.js";
import { applyModifier, fieldValue, headerRecord } from "./headers.js";
import type { RelayListener } from "./listener.js";
import { startMirrors } from "./mirror.js";
import { readRequest, requestHead, trailersProblem } from "./validate.js";

/** Request headers of calls on ports where no route matches on headers: the router never reads them. */
const NO_HEADERS = Object.freeze({});
const EMPTY = Buffer.alloc(0);

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

/** A backendRef of the action, by weight; undefined when every weight is 0. */
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

/**
 * A malformed request or trailers (RFC 9113 section 8.1.1): RST_STREAM(PROTOCOL_ERROR), never forwarded, and
 * one more useless frame on the connection's budget.
 */
function rejectMalformed(conn: H2Connection, st: H2Stream, call: RelayCall | undefined, why: string): void {
  conn.resetStream(st, ErrorCode.PROTOCOL_ERROR);
  if (call !== undefined && !call.done) {
    call.gatewayError = `malformed request: ${why}`;
    call.finish(GrpcCode.INTERNAL);
  }
  conn.glitch("malformed request");
}

/** A new request on a client connection: route it and start its call. */
function startCall(
  conn: H2Connection,
  st: H2Stream,
  fields: string[],
  endStream: boolean,
  oversized: boolean,
  malformed: string,
): void {
  const l = conn.owner as RelayListener;
  const host = l.host;
  const state = l.state;
  // The upstream request's fields: its pseudo-headers (values set below), then the regular headers, which
  // the router also reads from here (it skips pseudo-headers).
  const up = [":method", "", ":scheme", "", ":path", "", ":authority", ""];
  // An oversized list was not kept (fields is empty): it is answered below, with no request to read.
  readRequest(fields, up);
  if (!oversized) {
    const why = malformed !== "" ? malformed : requestHead.problem;
    if (why !== "") {
      rejectMalformed(conn, st, undefined, why);
      return;
    }
  }
  const method = requestHead.method;
  const path = requestHead.path;
  let authority = requestHead.authority;
  if (authority === "") authority = fieldValue(up, "host") ?? "";
  const call = new RelayCall(host, conn, st, authority, path);
  st.ctx = call;
  call.reqEnded = endStream;
  host.callStarted();
  call.listenerName = l.portName;
  if (oversized) {
    call.answerGrpc(GrpcCode.RESOURCE_EXHAUSTED, `request headers exceed ${host.maxHeaderListSize} bytes`);
    return;
  }
  call.expectBytes = requestHead.contentLength;
  const m = state.router.match(authority, path, state.matchesHeaders ? headerRecord(up) : NO_HEADERS);
  if (m.listener !== undefined) {
    call.listenerName = m.listener.name;
    call.gateway = gatewayName(m.listener);
  }
  call.route = m.route;
  if (state.local?.claim(call, m, method, up, endStream) === true) return;
  const action = m.action;
  if (action.kind === "direct") {
    call.answerDirect(action);
    return;
  }
  call.forward = action;
  call.table = state.table;
  call.listener = m.listener;
  // Kept (not copied) for a failover to a backendRef with other request header modifiers.
  if (action.backends.length > 1) call.clientFields = fields;
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
  up[1] = method;
  up[3] = cluster?.tls ? "https" : "http";
  up[5] = path;
  up[7] = authority;
  // The deadline is the client's, read before a route's header modifiers apply.
  const timeout = parseGrpcTimeout(fieldValue(up, "grpc-timeout"));
  if (action.requestHeaders !== undefined) applyModifier(up, action.requestHeaders);
  if (backend.requestHeaders !== undefined) applyModifier(up, backend.requestHeaders);
  call.reqFields = up;
  if (cluster !== undefined) call.cluster = cluster;
  const policy = m.route?.policy;
  if (timeout !== undefined || policy !== undefined) startCallLimits(host, call, timeout, policy);
  const pool = cluster === undefined ? undefined : host.pickPool(cluster, undefined);
  if (action.mirrors.length > 0 && (pool !== undefined || action.backends.length > 1))
    startMirrors(host, call, action.mirrors, state.table, up);
  if (pool === undefined) {
    // No endpoint, or (least-request) every endpoint set aside.
    const why = cluster === undefined || cluster.endpoints.length === 0 ? NO_ENDPOINT : ALL_SET_ASIDE;
    if (failOver(call, why)) return;
    call.answerGrpc(GrpcCode.UNAVAILABLE, unsentMessage(call, backend.cluster, why));
    return;
  }
  // Every endpoint is set aside or unhealthy (round-robin then offers one anyway): another backendRef goes
  // first; when none can take the call it goes there all the same (for health checks: panic routing).
  if (pool.suspect && !pool.usable(Date.now())) {
    if (failOver(call, pool.healthy && pool.outlierUntil === 0 ? ALL_SET_ASIDE : ALL_UNHEALTHY)) return;
  }
  call.pool = pool;
  pool.acquire(call);
}

/** Events of client connections. */
export const downstreamHandler: ConnectionHandler = {
  onHeaders(conn, st, fields, endStream, oversized, malformed) {
    const call = st.ctx as RelayCall | undefined;
    if (call === undefined) {
      startCall(conn, st, fields, endStream, oversized, malformed);
      return;
    }
    // Request trailers (rare in gRPC): forwarded as trailers.
    if (call.done) return;
    const why = !endStream
      ? "a second header block without END_STREAM"
      : malformed !== ""
        ? malformed
        : trailersProblem(fields);
    if (why !== "") {
      rejectMalformed(conn, st, call, why);
      return;
    }
    const trailers: string[] = [];
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] !== "te") trailers.push(fields[i]!, fields[i + 1]!);
    }
    call.reqEnded = true;
    if (call.mirrors !== null) for (const m of call.mirrors) m.write(EMPTY, true);
    // Kept either way: a replay or a retry sends them again.
    call.reqTrailers = trailers;
    if (call.ust !== null) call.uconn!.writeHeaders(call.ust, trailers, true);
    else if (call.local !== null) call.local.data(EMPTY, true);
  },
  onData(conn, st, data, endStream) {
    const call = st.ctx as RelayCall | undefined;
    if (call === undefined || call.done) {
      conn.consume(st, data.length);
      return;
    }
    call.requestBytes += data.length;
    // content-length must match the DATA (RFC 9113 section 8.1.1).
    if (
      call.expectBytes >= 0 &&
      (call.requestBytes > call.expectBytes || (endStream && call.requestBytes !== call.expectBytes))
    ) {
      conn.consume(st, data.length);
      rejectMalformed(conn, st, call, `content-length ${call.expectBytes} but more or less DATA`);
      return;
    }
    if (endStream) call.reqEnded = true;
    const l = call.limits;
    if (l !== null && l.idleMs !== 0) l.lastActive = performance.now();
    if (call.mirrors !== null) for (const m of call.mirrors) m.write(data, endStream);
    if (call.ust !== null) call.sendUp(data, endStream);
    else if (call.local !== null) {
      conn.consume(st, data.length);
      call.local.data(data, endStream);
    } else if (data.length > 0) {
      if (call.reqQueue === EMPTY_QUEUE) call.reqQueue = [];
      call.reqQueue.push(data);
    }
  },
  onReset(conn, st, code) {
    const call = st.ctx as RelayCall | undefined;
    if (call === undefined || call.done) return;
    if (code === CONNECTION_LOST) {
      call.gatewayError = "client connection lost";
      call.finish(GrpcCode.CANCELLED);
      return;
    }
    // Reset before its response was complete (CVE-2023-44487): counted, and while the backend has not
    // answered, its upstream stream keeps counting against this connection until the backend has read the
    // reset (see H2Connection.holdForBackend).
    const uconn = call.uconn;
    const unanswered = uconn !== null && call.ust !== null && !call.ust.closed && !call.upstreamResponded;
    call.gatewayError = "cancelled by the client";
    call.finish(GrpcCode.CANCELLED);
    if (unanswered) uconn.holdForBackend(conn);
    conn.prematureReset();
  },
  onDataReleased(_conn, st, n) {
    const call = st.ctx as RelayCall | undefined;
    if (call !== undefined && call.ust !== null) call.uconn!.consume(call.ust, n);
  },
  onReady() {},
  onGoaway() {},
  onClose(conn) {
    (conn.owner as RelayListener).conns.delete(conn);
  },
};
