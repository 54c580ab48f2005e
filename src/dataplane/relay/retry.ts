/**
 * Retries of a TrafficPolicy, as gRFC A6 defines them for gRPC clients, made by the relay:
 * - only before the backend's response headers: a trailers-only answer with a status in `retry.on`, a reset
 *   or a lost connection before any header (its gRPC code in `retry.on`), a connection that could not be
 *   made (UNAVAILABLE), or an attempt that waited `perTryTimeout` for headers;
 * - only while the request's bytes so far fit `maxBufferedBytes` (and the relay-wide retry buffer): they are
 *   the bytes the call already keeps for a REFUSED_STREAM replay (`RelayCall.replay`), sent again;
 * - `grpc-previous-rpc-attempts` on each retry; never the endpoint of the attempt before when another of the
 *   backend is ready; the backend's `grpc-retry-pushback-ms` instead of the backoff (a malformed or negative
 *   one stops retrying, as gRFC A6 says); backoff random in [0, min(base x 2^(n-1), max));
 * - a budget: retries in flight at most `budgetPercent` of the calls in flight under the same policy, and
 *   never fewer than 3 (Envoy's retry budget and `min_retry_concurrency`);
 * - never past the call's deadline.
 *
 * A call without a retry policy does nothing here; one under a retry policy that succeeds at once allocates
 * nothing either (`RelayCall.retryBudget` is its policy's, `RelayCall.retry` stays null).
 */
import type { IrRetryPolicy } from "../../ir/routing-table.js";
import { GrpcCode, grpcCodeFromHttpStatus, grpcCodeName } from "../grpc-status.js";
import type { RelayCall } from "./call.js";
import { ErrorCode } from "./frames.js";

/**
 * Request bytes all calls of a data plane may keep for retries at once (`serve --retry-buffer-limit`): past
 * it, a call's request is no longer kept and the call is not retried. gRFC A6 bounds a client channel's retry
 * buffer the same way; a TrafficPolicy's `maxBufferedBytes` bounds each call.
 */
export const DEFAULT_RETRY_BUFFER_BYTES = 32 * 1024 * 1024;

/** Request bytes kept per call until the backend answers, so a stream refused by GOAWAY can be replayed. */
export const REPLAY_LIMIT = 64 * 1024;

/** Retries in flight a budget always allows (Envoy's `min_retry_concurrency`). */
export const MIN_RETRY_CONCURRENCY = 3;

/** Request bytes kept for retries across every call of a data plane, and the most there may be. */
export class RetryBuffer {
  held = 0;
  constructor(readonly limit: number) {}
}

/**
 * One retry policy of the table, as the data plane runs it: the calls in flight under it, how many of them
 * are being retried, and the shared buffer their request bytes are counted in.
 */
export class RetryBudget {
  active = 0;
  retrying = 0;
  constructor(
    readonly policy: IrRetryPolicy,
    readonly buffer: RetryBuffer,
  ) {}

  /** Whether one more call may be retried now. */
  allows(): boolean {
    const share = Math.floor((this.active * this.policy.budgetPercent) / 100);
    return this.retrying < Math.max(MIN_RETRY_CONCURRENCY, share);
  }

  /**
   * Counts `n` more request bytes of a call (`total` with them) kept for a retry; false when they fit neither
   * the policy's `maxBufferedBytes` nor the shared buffer (the call is then not retried any more).
   */
  keep(n: number, total: number): boolean {
    // (A call under a retry policy keeps its bytes for a REFUSED_STREAM replay on the same terms.)
    if (total > this.policy.maxBufferedBytes || this.buffer.held + n > this.buffer.limit) return false;
    this.buffer.held += n;
    return true;
  }
}

/**
 * The retry state of one call, made when it is first needed (a retry, or a per-try timeout): a call under a
 * retry policy that succeeds at once never has one. Its kept request bytes are `RelayCall.replay`.
 */
export class RetryState {
  /** Attempts started so far, the current one included. */
  tries = 1;
  /** Counted in the budget's `retrying` since the first retry. */
  retried = false;
  /** The per-try timeout of the attempt in flight, or the backoff before the next one. */
  timer: NodeJS.Timeout | undefined = undefined;
  /** Why the last attempt failed, for the final message when none is left. */
  lastFailure = "";

  clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** The retry state of `call` (under a retry policy), made now if it has none. */
export function retryState(call: RelayCall): RetryState {
  let r = call.retry;
  if (r === null) {
    r = new RetryState();
    call.retry = r;
  }
  return r;
}

/** A call under a retry policy is over: it leaves the budget's counts. (Its kept bytes go with its replay.) */
export function endRetries(call: RelayCall, budget: RetryBudget): void {
  budget.active--;
  const r = call.retry;
  if (r === null) return;
  r.clearTimer();
  if (r.retried) budget.retrying--;
  r.retried = false;
}

/** Backoff before retry `n` (1-based): random in [0, min(base x 2^(n-1), max)), as gRFC A6 says. */
export function backoffMs(p: IrRetryPolicy, n: number, random: number): number {
  return Math.floor(random * Math.min(p.backoffBaseMs * 2 ** (n - 1), p.backoffMaxMs));
}

/**
 * `grpc-retry-pushback-ms` of a response's fields: the delay it asks for, -1 when it asks not to retry (a
 * negative or malformed value, gRFC A6), undefined when absent.
 */
export function pushbackMs(fields: readonly string[]): number | undefined {
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] !== "grpc-retry-pushback-ms") continue;
    const v = fields[i + 1] ?? "";
    return /^\d{1,9}$/.test(v) ? Number(v) : -1;
  }
  return undefined;
}

/**
 * Whether the failed attempt of `call` (its gRPC `code`, or a per-try timeout) is retried, and after how long
 * (ms); -1 when it is not. `pushback`: what the backend asked (see {@link pushbackMs}).
 */
export function retryDelay(call: RelayCall, code: number, perTryTimeout: boolean, pushback?: number): number {
  const b = call.retryBudget;
  if (b === null || call.done || call.upstreamResponded) return -1;
  const p = b.policy;
  const tries = call.retry?.tries ?? 1;
  if (tries >= p.attempts) return -1;
  if (!perTryTimeout && !p.retryOn.includes(code)) return -1;
  // The request bytes so far are all kept (none dropped for being over maxBufferedBytes).
  if (!call.replayable) return -1;
  if (pushback !== undefined && pushback < 0) return -1;
  if (call.retry?.retried !== true && !b.allows()) return -1;
  const delay = pushback ?? backoffMs(p, tries, Math.random());
  const l = call.limits;
  if (l !== null && l.deadlineAt !== 0 && l.deadlineAt - performance.now() <= delay) return -1;
  return delay;
}

/**
 * Ends the attempt in flight and starts the next one after `delay` ms: the upstream stream is reset and its
 * connection released, the kept request bytes go back in front of the queue, and the next attempt goes to
 * another endpoint of the backend when one is ready.
 */
export function retryAfter(call: RelayCall, delay: number, why: string, code: number): void {
  const r = retryState(call);
  const uconn = call.uconn;
  const ust = call.ust;
  if (uconn !== null && ust !== null) {
    if (!ust.closed) uconn.resetStream(ust, ErrorCode.CANCEL);
    // (A connection that could not be made was counted by its pool.)
    call.attemptEnded(code);
    call.pool?.release(uconn);
  }
  call.ust = null;
  call.uconn = null;
  call.requeueReplay();
  r.lastFailure = why;
  r.tries++;
  if (!r.retried) {
    r.retried = true;
    call.retryBudget!.retrying++;
  }
  setPreviousAttempts(call.reqFields, r.tries - 1);
  r.clearTimer();
  r.timer = setTimeout(resend, delay, call);
}

function resend(call: RelayCall): void {
  const r = call.retry;
  if (r === null || call.done) return;
  r.timer = undefined;
  const cluster = call.cluster;
  const last = call.pool;
  let pool = cluster === undefined ? undefined : call.host.pickPool(cluster, last);
  // The endpoint before is used again only when no other is ready.
  const now = Date.now();
  if (
    last !== undefined &&
    !last.retired &&
    (pool === undefined || (!pool.usable(now) && last.usable(now)))
  ) {
    pool = last;
  }
  if (pool === undefined) {
    call.fail(GrpcCode.UNAVAILABLE, `retry ${r.tries - 1} found no endpoint (${r.lastFailure})`);
    return;
  }
  call.pool = pool;
  call.connectTries = 0;
  pool.acquire(call);
}

/**
 * The backend's response headers (`fields`, read by `readResponse`) answered the attempt in flight: a
 * trailers-only answer (`endStream`) with a status in `retry.on`, or a non-200 answer without grpc-status, is
 * retried when the policy allows. True when it was (nothing is forwarded then).
 */
export function retryResponse(
  call: RelayCall,
  status: string,
  grpcStatus: string,
  endStream: boolean,
  fields: readonly string[],
): boolean {
  call.retry?.clearTimer();
  const code =
    grpcStatus !== ""
      ? Number(grpcStatus)
      : status === "200"
        ? GrpcCode.OK
        : grpcCodeFromHttpStatus(Number(status));
  if (code === GrpcCode.OK || (!endStream && grpcStatus !== "")) return false;
  const delay = retryDelay(call, code, false, pushbackMs(fields));
  if (delay < 0) return false;
  retryAfter(call, delay, `upstream ${call.endpoint ?? ""} answered ${grpcCodeName(code)}`, code);
  return true;
}

/** A reset or a lost connection before the backend's response headers: retried when the policy allows. */
export function retryReset(call: RelayCall, code: number, why: string): boolean {
  const delay = retryDelay(call, code, false);
  if (delay < 0) return false;
  retryAfter(call, delay, why, code);
  return true;
}

/** Sets `grpc-previous-rpc-attempts` in a request's fields (replacing the client's, if it sent one). */
export function setPreviousAttempts(fields: string[], n: number): void {
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === "grpc-previous-rpc-attempts") {
      fields[i + 1] = String(n);
      return;
    }
  }
  fields.push("grpc-previous-rpc-attempts", String(n));
}

/** The per-try timeout of an attempt ran out before the backend's response headers. */
export function onPerTryTimeout(call: RelayCall): void {
  const r = call.retry;
  const b = call.retryBudget;
  if (r === null || b === null || call.done || call.upstreamResponded) return;
  r.timer = undefined;
  const p = b.policy;
  const why = `no response headers within ${p.perTryTimeoutMs} ms (perTryTimeout of ${p.source}) from upstream ${call.endpoint ?? ""}`;
  const delay = retryDelay(call, GrpcCode.DEADLINE_EXCEEDED, true);
  if (delay >= 0) {
    retryAfter(call, delay, why, GrpcCode.DEADLINE_EXCEEDED);
    return;
  }
  call.fail(GrpcCode.DEADLINE_EXCEEDED, `${why}, attempt ${r.tries} of ${p.attempts}`);
}
