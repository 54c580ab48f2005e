/**
 * The client side of the relay: a request's header block becomes a `RelayCall` (routed, given a backend and
 * an endpoint pool), and the client's DATA, trailers and resets follow it to the upstream stream.
 *
 * The handler is a module-level object and per-call state lives on the call: no closures or promises per call
 * or per frame.
 */
import { GrpcCode } from "../grpc-status.js";
import { EMPTY_QUEUE, RelayCall } from "./call.js";
import { CONNECTION_LOST, type ConnectionHandler, type H2Connection, type H2Stream } from "./connection.js";
import { ErrorCode } from "./frames.js";
import { fieldValue, headerRecord } from "./headers.js";
import type { RelayListener } from "./listener.js";
import { routeCall } from "./route-call.js";
import { readRequest, requestHead, trailersProblem } from "./validate.js";
import { isGrpcWebType, startWebStream, WebH2Front } from "./web-h2.js";

/** Request headers of calls on ports where no route matches on headers: the router never reads them. */
const NO_HEADERS = Object.freeze({});
const EMPTY = Buffer.alloc(0);

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
  // gRPC-Web requests and CORS preflights are translated in front of the call (`web-h2.ts`); plain gRPC
  // calls (POST, content-type application/grpc...) pay these two comparisons.
  if (
    (requestHead.method !== "POST" || isGrpcWebType(requestHead.contentType)) &&
    startWebStream(conn, st, up, endStream)
  )
    return;
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
  routeCall(call, state, m, method, up, fields, endStream);
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
    if (call.done) {
      if (call instanceof WebH2Front) call.requestTrailers(endStream);
      return;
    }
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
      // A gRPC-Web stream's front says it is done, so that plain calls test nothing more per frame.
      if (call instanceof WebH2Front) call.requestData(data, endStream);
      else conn.consume(st, data.length);
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
    if (call === undefined || call.done) {
      if (call instanceof WebH2Front) call.reset(code);
      return;
    }
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
    else if (call instanceof WebH2Front) call.released(n);
  },
  onReady() {},
  onGoaway() {},
  onClose(conn) {
    (conn.owner as RelayListener).conns.delete(conn);
  },
};
