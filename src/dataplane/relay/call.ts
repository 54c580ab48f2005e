/**
 * One relayed call: a downstream stream and, once bound, its upstream stream; how the call ends (upstream
 * trailers, or a gateway-made answer) and what is reported when it does.
 */
import { performance } from "node:perf_hooks";
import type {
  IrBackend,
  IrCluster,
  IrDirect,
  IrForward,
  IrListener,
  IrRetryPolicy,
  IrRoute,
  RoutingTable,
} from "../../ir/routing-table.js";
import { encodeGrpcMessage, formatGrpcTimeout, GrpcCode, grpcCodeFromHttpStatus } from "../grpc-status.js";
import type { LocalCall } from "../local/local-call.js";
import type { H2Connection, H2Stream } from "./connection.js";
import type { CallLimits } from "./deadlines.js";
import { failOver, unsentMessage } from "./failover.js";
import { ErrorCode } from "./frames.js";
import type { MirrorStream } from "./mirror.js";
import {
  endRetries,
  onPerTryTimeout,
  REPLAY_LIMIT,
  type RetryBudget,
  type RetryState,
  retryReset,
  retryState,
} from "./retry.js";
import type { PoolWaiter, UpstreamPool } from "./upstream.js";

/** What a call needs of the data plane it runs on. */
export interface CallHost {
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise, for messages. */
  readonly maxHeaderListSize: number;
  /** An endpoint pool of `cluster` (round-robin or least-request), skipping set-aside endpoints and `exclude`. */
  pickPool(cluster: IrCluster, exclude: UpstreamPool | undefined): UpstreamPool | undefined;
  /** Whether some endpoint of `cluster` is not set aside (a call may be sent there now). */
  available(cluster: IrCluster): boolean;
  /** A call started (counted until `callEnded`). */
  callStarted(): void;
  /** The call is over: count it and report it. */
  callEnded(call: RelayCall): void;
  /** The budget of a retry policy of the table (one per policy object), which counts its calls. */
  retryBudget(policy: IrRetryPolicy): RetryBudget;
}

/**
 * The client side of a call, as the call writes to it: the client's HTTP/2 connection, or a gRPC-Web
 * translator in front of an HTTP/2 stream or an HTTP/1.1 exchange (`grpc-web.ts`).
 */
export interface ClientSide {
  writeHeaders(st: H2Stream, fields: string[], endStream: boolean): void;
  writeData(st: H2Stream, data: Buffer | null, endStream: boolean): void;
  /** `n` request bytes received on `st` were forwarded (or dropped): the client may send as many more. */
  consume(st: H2Stream | null, n: number): void;
  /** Response bytes queued on `st` and not yet written (HTTP/2 clients; calls the gateway answers itself). */
  queuedBytes?(st: H2Stream): number;
}

/** Sets (or adds) `grpc-timeout` in a request's fields to `ms` (at least 1 ms: the time is not up yet). */
function setGrpcTimeout(fields: string[], ms: number): void {
  const v = formatGrpcTimeout(Math.max(1, ms));
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === "grpc-timeout") {
      fields[i + 1] = v;
      return;
    }
  }
  fields.push("grpc-timeout", v);
}

/** The client fields of calls that keep none (never read). */
const EMPTY_FIELDS: string[] = [];

/** The request queue of calls that have none (never pushed to). */
export const EMPTY_QUEUE: Buffer[] = [];

/** One relayed call: a downstream stream and (once bound) its upstream stream. */
export class RelayCall implements PoolWaiter {
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
  /** The table and listener the call was routed with (what a failover chooses from, and whether it may). */
  table: RoutingTable | undefined = undefined;
  listener: IrListener | undefined = undefined;
  /** The client's decoded request headers, kept when the rule has other backendRefs to fail over to. */
  clientFields: string[] = EMPTY_FIELDS;
  /** backendRefs this call could not be sent to (null until the first failover), and why, for the report. */
  tried: IrBackend[] | null = null;
  failover: string | undefined = undefined;
  /** Endpoints of the current backendRef that refused a connection. */
  connectTries = 0;
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
  /** The deadline and idle limit of a call that has either (`deadlines.ts`); null for every other call. */
  limits: CallLimits | null = null;
  /** The retry policy's budget of a call under one (its policy, counts and buffer); null for every other call. */
  retryBudget: RetryBudget | null = null;
  /** Retry state, made at a call's first retry or per-try timeout; null until then. */
  retry: RetryState | null = null;
  /** Replays of streams the backend refused (REFUSED_STREAM, GOAWAY). */
  attempts = 0;
  requestBytes = 0;
  /** The request's content-length, which its DATA must match; -1 when it has none. */
  expectBytes = -1;
  responseBytes = 0;
  mirrors: MirrorStream[] | null = null;
  /** Set on calls that came in as gRPC-Web (reported as `protocol: grpc-web`). */
  web = false;
  /** A call the gateway answers itself (reflection, transcoding): where its request goes; null otherwise. */
  local: LocalCall | null = null;
  readonly start = performance.now();

  constructor(
    readonly host: CallHost,
    readonly dconn: ClientSide,
    readonly dst: H2Stream,
    readonly authority: string,
    readonly path: string,
  ) {}

  /** PoolWaiter: a connection has a free slot. */
  bind(conn: H2Connection): void {
    if (this.done) return;
    this.uconn = conn;
    this.endpoint = this.pool?.address;
    // The backend gets the time left, not the client's whole timeout (waits for a connection, retries).
    const l = this.limits;
    if (l !== null && l.deadlineAt !== 0) setGrpcTimeout(this.reqFields, l.deadlineAt - performance.now());
    const rb = this.retryBudget;
    if (rb !== null && rb.policy.perTryTimeoutMs > 0) {
      const r = retryState(this);
      r.clearTimer();
      r.timer = setTimeout(onPerTryTimeout, rb.policy.perTryTimeoutMs, this);
    }
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

  /**
   * PoolWaiter: no connection could be made. Nothing was sent yet, so one other endpoint of the backendRef may
   * be tried, then another backendRef of the rule (`failover.ts`); an endpoint set aside is tried only when
   * no other backendRef can take the call.
   */
  connectFailed(reason: string): void {
    if (this.done) return;
    this.connectTries++;
    const cluster = this.cluster;
    let next: UpstreamPool | undefined;
    if (this.connectTries < 2 && cluster !== undefined) {
      next = this.host.pickPool(cluster, this.pool);
      if (next === this.pool) next = undefined;
      if (next !== undefined && !next.ejected(Date.now())) {
        this.pool = next;
        next.acquire(this);
        return;
      }
    }
    if (failOver(this, reason)) return;
    if (next !== undefined) {
      this.pool = next;
      next.acquire(this);
      return;
    }
    if (this.retryBudget !== null && retryReset(this, GrpcCode.UNAVAILABLE, reason)) return;
    this.fail(GrpcCode.UNAVAILABLE, unsentMessage(this, cluster, reason));
  }

  /** Sends request DATA on the upstream stream, keeping it for a replay while that is possible. */
  sendUp(data: Buffer, end: boolean): void {
    if (this.replayable && data.length > 0) {
      const total = this.replayBytes + data.length;
      const b = this.retryBudget;
      if (b === null ? total > REPLAY_LIMIT : !b.keep(data.length, total)) {
        this.dropReplay();
      } else {
        this.replayBytes = total;
        const r = this.replay;
        if (r === null) this.replay = data;
        else if (Array.isArray(r)) r.push(data);
        else this.replay = [r, data];
      }
    }
    this.uconn!.writeData(this.ust!, data, end);
  }

  /**
   * Puts the request bytes already sent upstream back in front of the queue, for another attempt (their
   * downstream window was returned when they were first sent).
   */
  requeueReplay(): void {
    const r = this.replay;
    if (r !== null) this.reqQueue = (Array.isArray(r) ? r : [r]).concat(this.reqQueue);
    this.skipConsume += this.replayBytes;
    // The bytes are counted again when they are sent again.
    if (this.retryBudget !== null) this.retryBudget.buffer.held -= this.replayBytes;
    this.replay = null;
    this.replayBytes = 0;
  }

  /** Request bytes are no longer kept: the call cannot be replayed or retried from now on. */
  dropReplay(): void {
    if (!this.replayable) return;
    if (this.retryBudget !== null) this.retryBudget.buffer.held -= this.replayBytes;
    this.replayable = false;
    this.replay = null;
    this.replayBytes = 0;
  }

  /** The attempt on `pool` ended with gRPC `code`: outlier detection counts it. */
  attemptEnded(code: number): void {
    const p = this.pool;
    if (p !== undefined && p.group !== null) p.group.outcome(p, code, Date.now());
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

  /** A gateway-made trailers-only gRPC answer. */
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

  /** A route's direct answer: an HTTP status with a text body (Lattice profile), or a gRPC status. */
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

  /**
   * Drops request bytes that never reached an upstream stream, returning their window to the client (less
   * replayed bytes, whose window was returned when they were first sent).
   */
  private dropRequestQueue(): void {
    const q = this.reqQueue;
    if (q.length === 0) return;
    let n = 0;
    for (let i = 0; i < q.length; i++) n += q[i]!.length;
    this.reqQueue = EMPTY_QUEUE;
    const skip = Math.min(this.skipConsume, n);
    this.skipConsume -= skip;
    this.dconn.consume(this.dst, n - skip);
  }

  /** The call is over for the client: release the upstream side and report it. */
  finish(grpcStatus: number): void {
    if (this.done) return;
    this.done = true;
    this.grpcStatus = grpcStatus;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.limits !== null && this.limits.idleTimer !== undefined) clearTimeout(this.limits.idleTimer);
    if (this.retryBudget !== null) endRetries(this, this.retryBudget);
    const ust = this.ust;
    const uconn = this.uconn;
    if (uconn !== null && ust !== null) {
      if (!ust.closed) uconn.resetStream(ust, ErrorCode.CANCEL);
      this.attemptEnded(grpcStatus);
      this.pool?.release(uconn);
    } else if (this.pool !== undefined) {
      this.pool.cancel(this);
    }
    this.dropRequestQueue();
    this.dropReplay();
    if (this.mirrors !== null) for (const m of this.mirrors) if (!m.reqEnded) m.abandon();
    if (this.local !== null) this.local.abort();
    this.host.callEnded(this);
  }
}
