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
import type { CallHost, RelayCall } from "./call.js";

/** The deadline and idle limit of a call that has either. */
export class CallLimits {
  /** When the deadline passes (`performance.now()` ms); 0: none. */
  deadlineAt = 0;
  /** What set it, for the DEADLINE_EXCEEDED message. */
  why = "";
  /** A TrafficPolicy's `streamIdle` (ms; 0: none), and when DATA last moved either way. */
  idleMs = 0;
  lastActive = 0;
  idleTimer: NodeJS.Timeout | undefined = undefined;
}

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
  if (t !== undefined && t.requestMs > 0 && (ms === undefined || t.requestMs < ms)) {
    ms = t.requestMs;
    why = `timeouts.request ${t.requestMs} ms of ${t.source}`;
  }
  const idleMs = t?.streamIdleMs ?? 0;
  if (ms !== undefined || idleMs > 0) {
    const l = new CallLimits();
    call.limits = l;
    if (idleMs > 0) {
      l.idleMs = idleMs;
      l.lastActive = call.start;
      l.idleTimer = setTimeout(onIdle, idleMs, call);
    }
    if (ms !== undefined) {
      call.timeoutMs = ms;
      l.deadlineAt = call.start + ms;
      l.why = why;
      call.timer = setTimeout(onDeadline, Math.max(0, Math.ceil(ms)), call);
    }
  }
  const r = policy?.retry;
  if (r !== undefined && r.attempts > 1) {
    const b = host.retryBudget(r);
    b.active++;
    call.retryBudget = b;
  }
}

function onDeadline(call: RelayCall): void {
  call.timer = undefined;
  call.fail(GrpcCode.DEADLINE_EXCEEDED, `deadline exceeded (${call.limits?.why ?? ""})`);
}

function onIdle(call: RelayCall): void {
  const l = call.limits;
  if (l === null) return;
  l.idleTimer = undefined;
  if (call.done) return;
  const quiet = performance.now() - l.lastActive;
  if (quiet + 1 < l.idleMs) {
    l.idleTimer = setTimeout(onIdle, Math.ceil(l.idleMs - quiet), call);
    return;
  }
  const source = call.route?.policy?.timeouts?.source ?? "a TrafficPolicy";
  call.fail(
    GrpcCode.DEADLINE_EXCEEDED,
    `stream idle: no message either way for ${l.idleMs} ms (timeouts.streamIdle of ${source})`,
  );
}
