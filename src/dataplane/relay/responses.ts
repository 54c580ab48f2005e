/**
 * The backend side of the relay: response headers, DATA and trailers from an upstream stream go to the
 * call's client stream; upstream resets and lost connections end the call with the gRPC status they mean,
 * and a stream the backend never processed (REFUSED_STREAM, or above a GOAWAY's last stream) is replayed.
 */
import { GrpcCode, grpcCodeFromHttpStatus, grpcCodeFromRstCode } from "../grpc-status.js";
import { RelayCall } from "./call.js";
import { CONNECTION_LOST, type ConnectionHandler } from "./connection.js";
import { ErrorCode } from "./frames.js";
import { applyModifier } from "./headers.js";
import type { SideStream } from "./mirror.js";
import { retryReset, retryResponse } from "./retry.js";
import type { UpstreamPool } from "./upstream.js";
import { readResponse, responseHead } from "./validate.js";

/** Events of upstream (backend) connections. */
export const upstreamHandler: ConnectionHandler = {
  onHeaders(conn, st, fields, endStream, oversized, malformed) {
    const ctx = st.ctx;
    if (!(ctx instanceof RelayCall)) {
      (ctx as SideStream).sideHeaders(conn, st, fields, endStream);
      return;
    }
    const call = ctx;
    if (call.done) return;
    if (oversized) {
      call.fail(
        GrpcCode.INTERNAL,
        `upstream ${call.endpoint ?? ""} sent a header list above ${call.host.maxHeaderListSize} bytes`,
      );
      return;
    }
    // A malformed response (RFC 9113 section 8.1.1) is a stream error: the backend's stream is reset, and the
    // client gets a gRPC error saying why instead of the malformed fields.
    const head = !call.upstreamResponded;
    let why = malformed;
    if (why === "") {
      if (head || endStream) {
        readResponse(fields, head);
        why = responseHead.problem;
      } else {
        why = "a second header block without END_STREAM";
      }
    }
    if (why !== "") {
      conn.resetStream(st, ErrorCode.PROTOCOL_ERROR);
      call.fail(GrpcCode.INTERNAL, `upstream ${call.endpoint ?? ""} sent a malformed response: ${why}`);
      return;
    }
    const gs = responseHead.grpcStatus;
    if (head) {
      const status = responseHead.status;
      // Informational (1xx) headers are not the response.
      if (status.charCodeAt(0) === 0x31 && !endStream) return;
      // A retry policy may send a failed attempt again rather than answer it (before anything is forwarded).
      if (call.retryBudget !== null && retryResponse(call, status, gs, endStream, fields)) return;
      call.upstreamResponded = true;
      call.dropReplay();
      if (status !== "200" && gs === "") {
        const code = grpcCodeFromHttpStatus(Number(status));
        call.fail(code, `upstream ${call.endpoint ?? ""} answered HTTP ${status} without a gRPC status`);
        return;
      }
      if (call.forward?.responseHeaders !== undefined) applyModifier(fields, call.forward.responseHeaders);
      if (call.backendRef?.responseHeaders !== undefined)
        applyModifier(fields, call.backendRef.responseHeaders);
      call.respStarted = true;
      call.dconn.writeHeaders(call.dst, fields, endStream);
      if (endStream) call.finish(gs === "" ? GrpcCode.UNKNOWN : Number(gs));
      return;
    }
    // Trailers.
    call.dconn.writeHeaders(call.dst, fields, true);
    call.finish(gs === "" ? GrpcCode.UNKNOWN : Number(gs));
  },
  onData(conn, st, data, endStream) {
    const ctx = st.ctx;
    if (!(ctx instanceof RelayCall)) {
      (ctx as SideStream).sideData(conn, st, data, endStream);
      return;
    }
    const call = ctx;
    if (call.done || !call.respStarted) {
      conn.consume(st, data.length);
      return;
    }
    call.responseBytes += data.length;
    const l = call.limits;
    if (l !== null && l.idleMs !== 0) l.lastActive = performance.now();
    call.dconn.writeData(call.dst, data, false);
    // A gRPC response always ends with trailers; one that ends without them is an INTERNAL error for the client
    // (as grpc-js reports it), and the client must learn it from a status rather than a bare end of stream.
    if (endStream)
      call.fail(GrpcCode.INTERNAL, `upstream ${call.endpoint ?? ""} ended the response without trailers`);
  },
  onReset(conn, st, code) {
    const ctx = st.ctx;
    if (!(ctx instanceof RelayCall)) {
      (ctx as SideStream).sideReset(conn, st, code);
      return;
    }
    const call = ctx;
    if (call.done) return;
    if (
      code === ErrorCode.REFUSED_STREAM &&
      !call.upstreamResponded &&
      call.replayable &&
      call.attempts < 3
    ) {
      // The backend never processed the stream (REFUSED_STREAM, or above a GOAWAY's last stream id): replay it.
      call.attempts++;
      call.requeueReplay();
      call.ust = null;
      call.uconn = null;
      const pool = call.pool!;
      pool.release(conn);
      pool.acquire(call);
      return;
    }
    if (call.retryBudget !== null && !call.upstreamResponded) {
      const lost = code === CONNECTION_LOST;
      const why = lost
        ? `connection to upstream ${call.endpoint ?? ""} lost`
        : `upstream ${call.endpoint ?? ""} reset the stream (HTTP/2 error ${code})`;
      if (retryReset(call, lost ? GrpcCode.UNAVAILABLE : grpcCodeFromRstCode(code), why)) return;
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
  onDataReleased(_conn, st, n) {
    const ctx = st.ctx;
    if (!(ctx instanceof RelayCall)) return;
    const call = ctx;
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
