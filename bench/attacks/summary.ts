/**
 * What an attack's connections received, added up: the attacker process (bench/attacks/run.ts) turns each
 * connection into a {@link ConnectionRecord} and the records into an {@link AttackOutcome}.
 */
import { type Attacker, errorCodeName, FrameType } from "../../test/helpers/attacker.js";
import type { AttackOutcome, AttackSpec, Tally, Times } from "./plan.js";

/** What one connection received, and when (ms from its opening). */
export interface ConnectionRecord {
  goaway?: { code: number; debug: string; afterMs: number };
  /** When the server closed it; absent when the attacker did (or it was still open). */
  closedAfterMs?: number;
  /** RST_STREAM frames by code, response header blocks by `:status`/`grpc-status`, frames by type. */
  resets: ReadonlyMap<number, number>;
  answers: ReadonlyMap<string, number>;
  frames: ReadonlyMap<number, number>;
}

/** The record of one attacker connection; `closedByUs` when the attacker ended it. */
export function connectionRecord(a: Attacker, closedByUs: boolean): ConnectionRecord {
  const t = a.tally;
  const r: ConnectionRecord = { resets: t.resets, answers: t.answers, frames: t.counts };
  if (t.goaway !== undefined && t.goawayAt !== undefined) {
    r.goaway = { code: t.goaway.code, debug: t.goaway.debug, afterMs: t.goawayAt - a.openedAt };
  }
  if (!closedByUs && a.closedAt !== undefined) r.closedAfterMs = a.closedAt - a.openedAt;
  return r;
}

const FRAME_NAMES = new Map<number, string>(Object.entries(FrameType).map(([name, type]) => [type, name]));

/** A frame type's name (`PING`), or its number for types RFC 9113 does not define. */
export function frameTypeName(type: number): string {
  return FRAME_NAMES.get(type) ?? `type 0x${type.toString(16)}`;
}

/** Count, median and largest of `values` (ms), or undefined when there are none. */
export function times(values: readonly number[]): Times | undefined {
  if (values.length === 0) return undefined;
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  const medianMs =
    v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
  return { count: v.length, medianMs, maxMs: v[v.length - 1] as number };
}

function add<K>(into: Tally, from: ReadonlyMap<K, number>, name: (k: K) => string): void {
  for (const [k, n] of from) into[name(k)] = (into[name(k)] ?? 0) + n;
}

/** The outcome of an attack from its connections' records and what the attacker counted while sending. */
export function summarize(
  spec: AttackSpec,
  records: readonly ConnectionRecord[],
  sent: Pick<
    AttackOutcome,
    | "unitsSent"
    | "bytesSent"
    | "seconds"
    | "ended"
    | "connectErrors"
    | "firstConnectError"
    | "perRequest"
    | "fences"
  >,
): AttackOutcome {
  const goaways: Tally = {};
  const reasons = new Set<string>();
  const resets: Tally = {};
  const answers: Tally = {};
  const frames: Tally = {};
  const goawayAfter: number[] = [];
  const closeAfter: number[] = [];
  for (const r of records) {
    if (r.goaway !== undefined) {
      const name = errorCodeName(r.goaway.code);
      goaways[name] = (goaways[name] ?? 0) + 1;
      if (r.goaway.debug !== "" && reasons.size < 5) reasons.add(r.goaway.debug);
      goawayAfter.push(r.goaway.afterMs);
    }
    if (r.closedAfterMs !== undefined) closeAfter.push(r.closedAfterMs);
    add(resets, r.resets, errorCodeName);
    add(answers, r.answers, (k) => k);
    add(frames, r.frames, frameTypeName);
  }
  const out: AttackOutcome = {
    spec,
    connections: records.length,
    connectErrors: sent.connectErrors,
    unitsSent: sent.unitsSent,
    bytesSent: sent.bytesSent,
    seconds: sent.seconds,
    ended: sent.ended,
    goaways,
    goawayReasons: [...reasons],
    closedByServer: closeAfter.length,
    stillOpen: records.length - closeAfter.length,
    resets,
    answers,
    frames,
    fences: sent.fences,
  };
  const g = times(goawayAfter);
  if (g !== undefined) out.goawayTimes = g;
  const c = times(closeAfter);
  if (c !== undefined) out.closeTimes = c;
  if (sent.firstConnectError !== undefined) out.firstConnectError = sent.firstConnectError;
  if (sent.perRequest !== undefined) out.perRequest = sent.perRequest;
  return out;
}
