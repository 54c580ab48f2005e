/**
 * A call's deadline, idle limit and retry state, set up once when the call is routed.
 *
 * - Deadline: the earlier of the client's `grpc-timeout` and a TrafficPolicy's `timeouts.request`, counted
 *   from the request's headers. When it passes the call gets DEADLINE_EXCEEDED and its upstream stream is
 *   reset; until then each attempt tells the backend the time left (`RelayCall.bind`).
 * - Idle: a TrafficPolicy's `timeouts.streamIdle` ends a call through which no DATA moved either way for that
 *   long. One timer per call, re-armed when it fires early rather than on every message.
 * - Retries: a call under a retry policy of more than one attempt is counted in its policy's budget
 *   (`retry.ts`).
 *
 * A call with neither a client deadline nor a policy does no work here.
 */
import type { IrCallPolicy } from "../../ir/routing-table.js";
import { GrpcCode } from "../grpc-status.js";
import { type CallHost, REPLAY_LIMIT, type RelayCall } from "./call.js";

/** Sets up the deadline, idle limit and retries of a routed call. */
export function startCallLimits(
  host: CallHost,
  call: RelayCall,
  clientTimeoutMs: number | undefined,
  policy: IrCallPolicy | undefined,
): void {
  let ms = clientTimeoutMs;
  let why = ms === undefined ? "" : `grpc-timeout ${ms} ms`;
  const t = policy?.timeouts;
  if (t !== undefined) {
    if (t.requestMs > 0 && (ms === undefined || t.requestMs < ms)) {
      ms = t.requestMs;
      why = `timeouts.request ${t.requestMs} ms of ${t.source}`;
    }
    if (t.streamIdleMs > 0) {
      call.idleMs = t.streamIdleMs;
      call.lastActive = call.start;
      call.idleTimer = setTimeout(onIdle, t.streamIdleMs, call);
    }
  }
  if (ms !== undefined) {
    call.timeoutMs = ms;
    call.deadlineAt = call.start + ms;
    call.deadlineWhy = why;
    call.timer = setTimeout(onDeadline, Math.max(0, Math.ceil(ms)), call);
  }
  const r = policy?.retry;
  if (r !== undefined && r.attempts > 1) {
    const b = host.retryBudget(r);
    b.active++;
    call.retryBudget = b;
    if (r.maxBufferedBytes > REPLAY_LIMIT) call.replayLimit = r.maxBufferedBytes;
  }
}

function onDeadline(call: RelayCall): void {
  call.timer = undefined;
  call.fail(GrpcCode.DEADLINE_EXCEEDED, `deadline exceeded (${call.deadlineWhy})`);
}

function onIdle(call: RelayCall): void {
  call.idleTimer = undefined;
  if (call.done) return;
  const quiet = performance.now() - call.lastActive;
  if (quiet + 1 < call.idleMs) {
    call.idleTimer = setTimeout(onIdle, Math.ceil(call.idleMs - quiet), call);
    return;
  }
  const source = call.route?.policy?.timeouts?.source ?? "a TrafficPolicy";
  call.fail(
    GrpcCode.DEADLINE_EXCEEDED,
    `stream idle: no message either way for ${call.idleMs} ms (timeouts.streamIdle of ${source})`,
  );
}
