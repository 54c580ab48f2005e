/**
 * The attacks phase's figures: the well-behaved client's calls split by the attack's window, the tables of
 * RESULTS.md (one per class), the short table of docs/security.md, and the goal the hardening issue sets:
 * zero failed calls for the other clients and memory under 300 MB, as HAProxy does.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { ATTACK_CLASSES, type AttackOutcome, type Tally, unitName } from "../attacks/plan.js";
import { fmt, percentile } from "./stats.js";

/** The goal's memory bound: 300 MB (10^6 bytes) of resident memory over the target's process tree. */
export const RSS_GOAL_BYTES = 300e6;

/** The good client's calls due in one window of the run. */
export interface WindowFigures {
  calls: number;
  failed: number;
  /** p99 latency from each call's due time to its status (failed calls count at their latency), ms. */
  p99Ms: number;
}

/** The good client's figures over one attack run. */
export interface GoodFigures {
  calls: number;
  failed: number;
  firstError: string;
  before: WindowFigures;
  during: WindowFigures;
  after: WindowFigures;
}

/** One attack on one target. */
export interface AttackRow {
  class: string;
  variant: string;
  target: string;
  good: GoodFigures;
  rssBeforeBytes: number;
  rssPeakBytes: number;
  /** What the attacker process reported; absent when it failed (then `error` says why). */
  outcome?: AttackOutcome;
  error?: string;
}

/** One call of the good client: due time (ms since the epoch), latency (ms), gRPC status code. */
export type GoodCall = readonly [number, number, number];

/** Where a run's windows begin and end (ms since the epoch): before = [from, start), during, after = [end, to). */
export interface Marks {
  from: number;
  attackStart: number;
  attackEnd: number;
  to: number;
}

function windowOf(calls: readonly GoodCall[]): WindowFigures {
  const ms = calls.map((c) => c[1]).sort((a, b) => a - b);
  return { calls: calls.length, failed: calls.filter((c) => c[2] !== 0).length, p99Ms: percentile(ms, 0.99) };
}

/** Splits the good client's calls by their due time into the three windows; calls outside them are left out. */
export function goodFigures(calls: readonly GoodCall[], m: Marks, firstError = ""): GoodFigures {
  const before = calls.filter((c) => c[0] >= m.from && c[0] < m.attackStart);
  const during = calls.filter((c) => c[0] >= m.attackStart && c[0] < m.attackEnd);
  const after = calls.filter((c) => c[0] >= m.attackEnd && c[0] < m.to);
  const w = [windowOf(before), windowOf(during), windowOf(after)] as const;
  return {
    calls: w[0].calls + w[1].calls + w[2].calls,
    failed: w[0].failed + w[1].failed + w[2].failed,
    firstError,
    before: w[0],
    during: w[1],
    after: w[2],
  };
}

/** Whether a row meets the goal; undefined when it has no figures to judge. */
export function meetsGoal(r: AttackRow): boolean | undefined {
  if (r.outcome === undefined || r.good.calls === 0) return undefined;
  return r.good.failed === 0 && r.rssPeakBytes < RSS_GOAL_BYTES;
}

const mb = (bytes: number) => fmt(bytes / 1e6, 0);

/** `n` with thousands separators, and `name` in the plural when `n` is not 1. */
function count(n: number, name: string): string {
  return `${fmt(n)} ${name}${n === 1 || name.endsWith("s") ? "" : "s"}`;
}

function ms(t: number): string {
  // Below 9,999.5 ms, so that no time is written "10,000 ms".
  return t < 9.95 ? `${fmt(t, 1)} ms` : t < 9_999.5 ? `${fmt(t, 0)} ms` : `${fmt(t / 1000, 1)} s`;
}

function tallyText(t: Tally, prefix: string): string[] {
  return Object.entries(t)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${prefix}${k} x${fmt(n)}`);
}

/** What the attack sent: units, time, connections, and why it stopped when not every unit was sent. */
export function sentText(o: AttackOutcome): string {
  const why =
    o.ended === "time" && o.unitsSent < o.spec.units
      ? `, stopped at the ${o.spec.seconds} s cap`
      : o.ended === "connections"
        ? `, stopped at ${fmt(o.connections)} connections${o.connectErrors > 0 ? ` (${o.connectErrors} failed to connect)` : ""}`
        : o.ended === "server" && o.unitsSent < o.spec.units
          ? ", the server ended it"
          : "";
  if (o.spec.kind === "preface-only" || o.spec.kind === "silent-stream")
    return `${fmt(o.unitsSent)} connections, held ${o.spec.holdSeconds} s${why}`;
  return (
    `${fmt(o.unitsSent)} ${unitName(o.spec.kind)} in ${ms(o.seconds * 1000)} over ` +
    `${count(o.connections, "connection")}${why}`
  );
}

/**
 * What the attacker's connections received, and how long after their opening: GOAWAY codes, the server's
 * close, RST_STREAM codes, answers, the ACKs of a control flood; "nothing" when the server said nothing.
 */
export function receivedText(o: AttackOutcome): string {
  const parts: string[] = [];
  const of = (n: number) => (o.connections === 1 ? "" : ` on ${fmt(n)}/${fmt(o.connections)}`);
  for (const [code, n] of Object.entries(o.goaways)) {
    const t = o.goawayTimes;
    // The server's reason, when it gave one (and only one).
    const why = o.goawayReasons.length === 1 ? ` "${o.goawayReasons[0]?.slice(0, 70)}"` : "";
    parts.push(
      `GOAWAY ${code}${why}${of(n)}` +
        (t === undefined ? "" : ` after ${ms(t.medianMs)}${t.count > 1 ? ` (max ${ms(t.maxMs)})` : ""}`),
    );
  }
  if (o.closedByServer > 0) {
    const t = o.closeTimes;
    parts.push(
      `closed${of(o.closedByServer)}` +
        (t === undefined ? "" : ` after ${ms(t.medianMs)}${t.count > 1 ? ` (max ${ms(t.maxMs)})` : ""}`),
    );
  }
  parts.push(...tallyText(o.resets, "RST_STREAM "));
  parts.push(...tallyText(o.answers, ""));
  if (o.spec.kind === "ping" || o.spec.kind === "settings") {
    const acks = o.frames[o.spec.kind === "ping" ? "PING" : "SETTINGS"] ?? 0;
    // Not ACKs of the flood: the server's own SETTINGS, and its ACK of the handshake's.
    parts.push(`${fmt(o.spec.kind === "ping" ? acks : Math.max(0, acks - 2 * o.connections))} ACKs`);
  }
  if (parts.length === 0 || (parts.length === 1 && parts[0]?.endsWith(" ACKs"))) {
    const open =
      o.connections === 1
        ? "connection open"
        : o.stillOpen === o.connections
          ? `all ${fmt(o.connections)} connections open`
          : `${fmt(o.stillOpen)} connections open`;
    parts.unshift(parts.length === 0 ? `nothing, ${open}` : open);
  }
  if ((o.fences.read ?? 0) > 0) parts.push("it read every frame");
  if ((o.fences.timeout ?? 0) > 0) parts.push("still reading 15 s after the last frame");
  return parts.join("; ");
}

/**
 * The gist of {@link receivedText} for the short table: the first GOAWAY, the close or a reset, or nothing;
 * with the median time after the connection's opening.
 */
export function shortReceived(o: AttackOutcome | undefined): { what: string; ms?: number } {
  if (o === undefined) return { what: "-" };
  const [code] = Object.keys(o.goaways);
  if (code !== undefined) return withTime(`GOAWAY ${code}`, o.goawayTimes?.medianMs);
  if (o.closedByServer > 0) return withTime("closed", o.closeTimes?.medianMs);
  const [rst] = Object.keys(o.resets);
  if (rst !== undefined) return { what: `RST_STREAM ${rst}` };
  return { what: "nothing" };
}

function withTime(what: string, t: number | undefined): { what: string; ms?: number } {
  return t === undefined ? { what } : { what, ms: t };
}

/** The gists of several attacks, alike ones once with their times: `GOAWAY X (3.0 ms, 41 ms), nothing`. */
export function shortReceivedAll(outcomes: readonly (AttackOutcome | undefined)[]): string {
  const groups = new Map<string, number[]>();
  for (const o of outcomes) {
    const g = shortReceived(o);
    const times = groups.get(g.what) ?? [];
    if (g.ms !== undefined) times.push(g.ms);
    groups.set(g.what, times);
  }
  return [...groups]
    .map(([what, t]) => (t.length === 0 ? what : `${what} (${t.map(ms).join(", ")})`))
    .join(", ");
}

/** A Markdown table; the columns listed in `left` are left-aligned, the others (figures) right-aligned. */
function table(head: string[], rows: string[][], left: readonly number[]): string {
  const isLeft = (i: number) => left.includes(i);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (isLeft(i) ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  const sep = `|${widths.map((w, i) => (isLeft(i) ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(head), sep, ...rows.map(line)].join("\n");
}

const CLASS_TITLES: Record<string, string> = {
  continuation: "CONTINUATION flood without bytes (zero-length CONTINUATION frames after one HEADERS)",
  "rapid-reset": "Rapid reset (HEADERS + RST_STREAM pairs, CVE-2023-44487)",
  control: "Control-frame floods (the attacker never reads the ACKs)",
  malformed: "Malformed requests (RFC 9113 sections 8.2 and 8.3)",
  slow: "Connections that never start, or go silent",
  useless: "Useless frames",
};

/** The tables of RESULTS.md: one per class, rows per variant and target; the malformed requests one by one. */
export function attackTables(rows: readonly AttackRow[]): string {
  const parts: string[] = [];
  for (const c of ATTACK_CLASSES) {
    const these = rows.filter((r) => r.class === c);
    if (these.length === 0) continue;
    const body = these.map((r) => [
      r.variant,
      r.target,
      r.outcome ? sentText(r.outcome) : `failed: ${r.error ?? "?"}`,
      fmt(r.good.calls),
      fmt(r.good.failed),
      fmt(r.good.before.p99Ms, 1),
      fmt(r.good.during.p99Ms, 1),
      fmt(r.good.after.p99Ms, 1),
      mb(r.rssBeforeBytes),
      mb(r.rssPeakBytes),
      r.outcome ? receivedText(r.outcome) : "-",
    ]);
    parts.push(
      `${CLASS_TITLES[c] ?? c}\n\n` +
        table(
          [
            "variant",
            "target",
            "attack sent",
            "good calls",
            "failed",
            "p99 before ms",
            "p99 during ms",
            "p99 after ms",
            "RSS before MB",
            "peak RSS MB",
            "the attacker received",
          ],
          body,
          [0, 1, 2, 10],
        ),
    );
    const probed = these.filter((r) => r.outcome?.perRequest !== undefined);
    if (probed.length > 0) {
      const names = Object.keys(probed[0]?.outcome?.perRequest ?? {});
      const perRows = names.map((n) => [n, ...probed.map((r) => r.outcome?.perRequest?.[n] ?? "-")]);
      parts.push(
        `Each malformed request alone, on a connection of its own: what it got\n\n` +
          table(["request", ...probed.map((r) => r.target)], perRows, perRows[0]?.map((_c, i) => i) ?? [0]),
      );
    }
  }
  return parts.join("\n\n");
}

/**
 * The short table of docs/security.md: one row per class, grpcroute's figure then HAProxy's in each cell
 * (failed good calls, p99 before and during the attack, peak RSS, what the attacker got); over a class's
 * variants: failed calls added up, the variant with the highest p99 during the attack, the largest RSS.
 */
export function securityTable(rows: readonly AttackRow[], targets: readonly [string, string]): string {
  const out: string[][] = [];
  for (const c of ATTACK_CLASSES) {
    const cells = targets.map((t) => rows.filter((r) => r.class === c && r.target === t));
    if (cells.every((x) => x.length === 0)) continue;
    const pair = (f: (rs: AttackRow[]) => string) => cells.map(f).join(" / ");
    out.push([
      c,
      pair((rs) => (rs.length === 0 ? "-" : fmt(rs.reduce((n, r) => n + r.good.failed, 0)))),
      pair((rs) => {
        const worst = rs.reduce<AttackRow | undefined>(
          (w, r) => (w === undefined || r.good.during.p99Ms > w.good.during.p99Ms ? r : w),
          undefined,
        );
        return worst === undefined
          ? "-"
          : `${fmt(worst.good.before.p99Ms, 1)} → ${fmt(worst.good.during.p99Ms, 1)}`;
      }),
      pair((rs) => (rs.length === 0 ? "-" : mb(Math.max(...rs.map((r) => r.rssPeakBytes))))),
      pair((rs) => (rs.length === 0 ? "-" : shortReceivedAll(rs.map((r) => r.outcome)))),
    ]);
  }
  const head = targets.join(" / ");
  return table(
    [
      "class",
      `failed good calls (${head})`,
      `good p99 before → during, ms (${head})`,
      `peak RSS MB (${head})`,
      `the attacker got (${head})`,
    ],
    out,
    [0, 4],
  );
}

/** The Targets lines: the goal per target over every attack, and each attack that missed it. */
export function attackGoals(rows: readonly AttackRow[]): string[] {
  const out: string[] = [];
  for (const t of [...new Set(rows.map((r) => r.target))]) {
    const these = rows.filter((r) => r.target === t);
    const judged = these.filter((r) => meetsGoal(r) !== undefined);
    const missed = judged.filter((r) => meetsGoal(r) === false);
    const failed = these.reduce((n, r) => n + r.good.failed, 0);
    const peak = Math.max(0, ...these.map((r) => r.rssPeakBytes));
    const mark = judged.length === 0 ? "n/a " : missed.length === 0 ? "MET " : "MISS";
    out.push(
      `${mark} ${t}: attacks: 0 failed calls for the good client and peak RSS < 300 MB ` +
        `(${fmt(failed)} failed over ${judged.length} attacks; peak ${mb(peak)} MB)`,
    );
    for (const r of missed) {
      out.push(
        `MISS ${t}: ${r.class} (${r.variant}): ${fmt(r.good.failed)} failed good calls` +
          `${r.good.firstError ? ` (first: ${r.good.firstError})` : ""}, peak RSS ${mb(r.rssPeakBytes)} MB`,
      );
    }
  }
  return out;
}

/** Where, when and how the figures of a run were taken, as docs/security.md quotes them. */
export interface RunAbout {
  command: string;
  date: string;
  machine: string;
}

const BEGIN = "<!-- bench:attacks:begin -->";
const END = "<!-- bench:attacks:end -->";

/**
 * Replaces the text between the `bench:attacks` markers of `file` (docs/security.md) with the short table of
 * this run, its command, date and machine. Needs rows for both targets; returns why nothing was written.
 */
export function writeSecurityDoc(
  file: string,
  rows: readonly AttackRow[],
  targets: readonly [string, string],
  about: RunAbout,
): string | undefined {
  for (const t of targets)
    if (!rows.some((r) => r.target === t)) return `no attack on ${t} in this run, so no comparison`;
  if (!existsSync(file)) return `${file} does not exist`;
  const text = readFileSync(file, "utf8");
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) return `${file} has no ${BEGIN} ... ${END} section`;
  const body =
    `${BEGIN}\n` +
    `Measured by \`${about.command}\` on ${about.date} (${about.machine}); every figure and the attacks ` +
    `themselves are in [bench/RESULTS.md](../bench/RESULTS.md).\n\n` +
    `${securityTable(rows, targets)}\n${END}`;
  writeFileSync(file, text.slice(0, a) + body + text.slice(b + END.length));
  return undefined;
}
