/**
 * The relay's flow-control invariant, checked from outside the hot path (tests, fuzzing): every byte a
 * connection received is held by the relay until it is forwarded or dropped, and then returned to the peer
 * exactly once. So at any quiet moment (no frame being handled), each connection's and stream's receive-window
 * deficit equals the bytes the relay still holds for it:
 *
 * - an upstream connection or stream: the response bytes its calls still have queued for their clients;
 * - a downstream connection or stream: the request bytes its calls still hold (queued before the upstream
 *   stream existed, or queued on it), less the replayed bytes whose window was already returned.
 *
 * A deficit above what is held is a leak: after enough of them a connection can carry headers but no DATA.
 */
import { RelayCall } from "./call.js";
import type { H2Connection, H2Stream } from "./connection.js";
import { WebH2Front } from "./web-h2.js";

/** One connection's books, and what is wrong with them (empty when they balance). */
export interface WindowAudit {
  side: "downstream" | "upstream";
  /** Receive-window deficit of the connection (bytes received, not yet consumed). */
  deficit: number;
  /** Bytes the relay holds for it. */
  held: number;
  problems: string[];
}

function sum(list: readonly Buffer[] | null): number {
  let n = 0;
  if (list !== null) for (const b of list) n += b.length;
  return n;
}

/** Request bytes a call holds against its downstream stream's window. */
function requestHeld(call: RelayCall): number {
  const queued =
    call.reqQueue.reduce((n, b) => n + b.length, 0) + (call.ust !== null ? sum(call.ust.out) : 0);
  return Math.max(0, queued - call.skipConsume);
}

/** Checks the books of every connection given (all of one data plane's, to see both sides of each call). */
export function auditWindows(
  downstream: readonly H2Connection[],
  upstream: readonly H2Connection[],
): WindowAudit[] {
  const out: WindowAudit[] = [];
  // Response bytes held per upstream connection, gathered from the client streams they are queued on.
  const heldFor = new Map<H2Connection, number>();
  const streamHeldFor = new Map<H2Stream, number>();
  for (const d of downstream) {
    const audit: WindowAudit = {
      side: "downstream",
      deficit: d.flow.connectionHeld(),
      held: 0,
      problems: [],
    };
    for (const dst of d.streams.toArray()) {
      const call = dst.ctx;
      if (call instanceof WebH2Front) {
        // gRPC-Web: the front counts both sides' bytes where base64 and trailer frames change them.
        const text = call.requestHeld();
        audit.held += text >= 0 ? text : requestHeld(call.call);
        const resp = call.respMap.heldOther();
        const inner = call.call;
        if (resp > 0 && inner.uconn !== null) {
          heldFor.set(inner.uconn, (heldFor.get(inner.uconn) ?? 0) + resp);
          if (inner.ust !== null) streamHeldFor.set(inner.ust, resp);
        }
        continue;
      }
      if (!(call instanceof RelayCall)) continue;
      const req = requestHeld(call);
      audit.held += req;
      if (!dst.remoteEnded && !call.done) {
        const deficit = d.flow.streamHeld(dst);
        if (deficit !== req) audit.problems.push(`client stream ${dst.id}: deficit ${deficit}, holds ${req}`);
      }
      const resp = sum(dst.out);
      if (resp > 0 && call.uconn !== null) {
        heldFor.set(call.uconn, (heldFor.get(call.uconn) ?? 0) + resp);
        if (call.ust !== null) streamHeldFor.set(call.ust, resp);
      }
    }
    if (audit.deficit !== audit.held)
      audit.problems.push(`connection: deficit ${audit.deficit}, holds ${audit.held}`);
    out.push(audit);
  }
  for (const u of upstream) {
    const held = heldFor.get(u) ?? 0;
    const audit: WindowAudit = { side: "upstream", deficit: u.flow.connectionHeld(), held, problems: [] };
    for (const ust of u.streams.toArray()) {
      if (ust.remoteEnded || !(ust.ctx instanceof RelayCall) || ust.ctx.done) continue;
      const deficit = u.flow.streamHeld(ust);
      const h = streamHeldFor.get(ust) ?? 0;
      if (deficit !== h) audit.problems.push(`upstream stream ${ust.id}: deficit ${deficit}, holds ${h}`);
    }
    if (audit.deficit !== held) audit.problems.push(`connection: deficit ${audit.deficit}, holds ${held}`);
    out.push(audit);
  }
  return out;
}
