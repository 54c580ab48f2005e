/**
 * What a run leaves in the repository. `bench/RESULTS.md` holds the current figures only: each phase keeps
 * the figures of the last run that measured it (kept in `bench/results.json`), with that run's command,
 * machine and date, so a run of one phase replaces that phase's table and leaves the others. The chart
 * (`bench/chart.svg`) is drawn from the same file. Every run, alternatives (`--section NAME`) included, also
 * appends its full report to `bench/history/runs.md`; the investigation notes live beside it in
 * `bench/history/`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type AttackRow, securityTable } from "./attack-report.js";
import { renderChart } from "./chart.js";
import { type ConnRow, connsTable } from "./conns.js";
import {
  goals,
  type LatencyRow,
  type MicroRow,
  type Results,
  renderReport,
  type StreamingRow,
  table,
  type UnaryRow,
} from "./report.js";
import { fmt, fmtRatio, ratio } from "./stats.js";
import { type TlsRow, tlsTable } from "./tls.js";

/** The run a phase's figures come from. */
export interface RunAbout {
  command: string;
  date: string;
  machine: string;
  /** Load average before / after, and the CPU time stolen by the hypervisor. */
  load: string;
  /** How the phase loaded the targets (connections, repetitions, workers). */
  setup: string;
}

/** The figures of one phase and the run they come from. */
export interface PhaseFigures<Row> {
  run: RunAbout;
  rows: Row[];
  /** Streaming: bytes/s of every repetition, per pattern and target (`echo grpcroute-relay`). */
  spread?: Record<string, number[]>;
}

/** `bench/results.json`: the current figures, phase by phase. */
export interface Current {
  unary?: PhaseFigures<UnaryRow>;
  latency?: PhaseFigures<LatencyRow> & { latencyLoad: number };
  serial?: PhaseFigures<LatencyRow>;
  streaming?: PhaseFigures<StreamingRow>;
  tls?: PhaseFigures<TlsRow>;
  conns?: PhaseFigures<ConnRow>;
  attacks?: PhaseFigures<AttackRow>;
  micro?: PhaseFigures<MicroRow>;
}

/** The sections whose runs make the current page; any other `--section` is an alternative, history only. */
const PAGE_SECTIONS = new Set(["main", "attacks"]);

function about(r: Results): RunAbout {
  const m = r.machine;
  const o = r.options;
  return {
    command: m.command,
    date: m.date,
    machine: `${m.cores} cores, ${m.model}; Node ${m.node}`,
    load: `${m.loadBefore} / ${m.loadAfter}${m.steal !== undefined ? `; ${m.steal} stolen` : ""}`,
    setup:
      `h2load ${o.connections} connections x ${o.streams} streams, ${o.durationSec} s runs, ${o.reps} repetitions; ` +
      `proxies with ${o.proxyWorkers} worker(s)${o.placement ? `, backends pinned to CPU ${o.placement.backend}` : ""}`,
  };
}

/** The current figures with the phases `r` measured replaced by its own. */
export function mergeCurrent(cur: Current, r: Results): Current {
  const run = about(r);
  const next: Current = { ...cur };
  if (r.unary.length > 0) next.unary = { run, rows: r.unary };
  if (r.latency.length > 0) next.latency = { run, rows: r.latency, latencyLoad: r.options.latencyLoad };
  if (r.serial.length > 0) next.serial = { run, rows: r.serial };
  if (r.streaming.length > 0)
    next.streaming =
      r.streamingRuns === undefined
        ? { run, rows: r.streaming }
        : { run, rows: r.streaming, spread: r.streamingRuns };
  if (r.tls !== undefined && r.tls.length > 0) next.tls = { run, rows: r.tls };
  if (r.conns !== undefined && r.conns.length > 0) next.conns = { run, rows: r.conns };
  if (r.attacks.length > 0) next.attacks = { run, rows: r.attacks };
  if (r.micro.length > 0) next.micro = { run, rows: r.micro };
  return next;
}

/** `NaN` does not survive JSON: figures that are absent (direct's proxy CPU) come back as null. */
function revive(_k: string, v: unknown): unknown {
  return v === null ? Number.NaN : v;
}

export function readCurrent(file: string): Current {
  if (!existsSync(file)) return {};
  return JSON.parse(readFileSync(file, "utf8"), revive) as Current;
}

function runLine(p: { run: RunAbout }): string {
  return `\`${p.run.command}\`, ${p.run.date}; ${p.run.machine}; load average before / after ${p.run.load}`;
}

function unaryRows(rows: UnaryRow[]): string {
  const out = rows.map((u) => {
    const d = rows.find((x) => x.backend === u.backend && x.target === "direct");
    const h = rows.find((x) => x.backend === u.backend && x.target === "haproxy");
    return [
      u.backend,
      u.target,
      fmt(u.reqPerSec),
      fmtRatio(ratio(u.reqPerSec, d?.reqPerSec)),
      fmtRatio(ratio(u.reqPerSec, h?.reqPerSec)),
      fmt(u.p99Ms, 1),
      fmt(u.proxyCpuUs, 1),
      fmtRatio(ratio(u.proxyCpuUs, h?.proxyCpuUs)),
      fmt(u.failed),
    ];
  });
  return table(
    [
      "backend",
      "target",
      "req/s",
      "x direct",
      "x haproxy",
      "p99 ms",
      "CPU us/call",
      "CPU x haproxy",
      "failed",
    ],
    out,
  );
}

function latencyRows(rows: LatencyRow[]): string {
  const out = rows.map((l) => [
    l.backend,
    l.target,
    fmt(l.achievedPerSec),
    fmt(l.p50Ms, 2),
    fmt(l.p99Ms, 2),
    l.pairedP99AddedMs === undefined ? "" : fmt(l.pairedP99AddedMs * 1000, 0),
    l.pairedRangeMs === undefined ? "" : fmt(l.pairedRangeMs, 2),
  ]);
  return table(
    ["backend", "target", "calls/s", "p50 ms", "p99 ms", "+p99 beside direct us", "its range ms"],
    out,
  );
}

function streamingRows(p: PhaseFigures<StreamingRow>): string {
  const out = p.rows.map((s) => {
    const d = p.rows.find((x) => x.mode === s.mode && x.target === "direct");
    const all = p.spread?.[`${s.mode} ${s.target}`] ?? [];
    const dAll = p.spread?.[`${s.mode} direct`] ?? [];
    // Each repetition's ratio to direct's run beside it (the targets take turns within a repetition).
    const each = all.map((b, i) => ratio(b, dAll[i])).filter((x) => Number.isFinite(x));
    return [
      s.mode === "download" ? "server-streaming" : "bidi echo",
      s.target,
      fmt(s.bytesPerSec / 1048576, 0),
      fmtRatio(ratio(s.bytesPerSec, d?.bytesPerSec)),
      s.target === "direct" || each.length === 0 ? "" : each.map((x) => x.toFixed(2)).join(" "),
      fmt(s.proxyCpuUsPerMiB, 0),
    ];
  });
  return table(["pattern", "target", "MiB/s", "x direct", "each run x direct", "CPU us/MiB"], out);
}

function microRows(rows: MicroRow[]): string {
  const out = rows.map((m) => [
    String(m.routes),
    "",
    fmt(m.matchNs, 0),
    fmt(m.compileMs, 1),
    fmt(m.parseMs, 0),
    fmt(m.translateMs, 1),
    fmt(m.heapMiB, 1),
  ]);
  return table(["routes", "", "match ns", "compile ms", "parse ms", "translate ms", "heap MiB"], out);
}

/** The goals of every issue, judged on the current figures (each phase from its own run). */
function currentGoals(cur: Current): string[] {
  const r = {
    options: { latencyLoad: cur.latency?.latencyLoad ?? 0.5 },
    unary: cur.unary?.rows ?? [],
    latency: cur.latency?.rows ?? [],
    serial: cur.serial?.rows ?? [],
    streaming: cur.streaming?.rows ?? [],
    tls: cur.tls?.rows ?? [],
    conns: cur.conns?.rows ?? [],
    attacks: cur.attacks?.rows ?? [],
    micro: cur.micro?.rows ?? [],
  } as unknown as Results;
  return goals(r);
}

/** bench/RESULTS.md from the current figures. */
export function renderPage(cur: Current): string {
  const parts: string[] = [
    "# Benchmark results",
    "The current figures of `npm run bench` on the project's benchmark machine (what each phase does and how " +
      "CPU per call is taken: [README.md](README.md)). Each table comes from the last run of its phase, named " +
      "under it; `npm run bench` rewrites this page from [results.json](results.json) and appends its full " +
      "report to [history/runs.md](history/runs.md). The investigation notes behind these figures are in " +
      "[history/](history/). Two cores are shared by the load generator, the backend and the proxy: compare " +
      "figures within one table only.",
    "![req/s and CPU per call of each target](chart.svg)",
  ];
  if (cur.unary) {
    parts.push(
      `## Unary SayHello at saturation\n\n${unaryRows(cur.unary.rows)}\n\n` +
        `Medians; ${cur.unary.run.setup}. ${runLine(cur.unary)}.`,
    );
  }
  if (cur.latency) {
    parts.push(
      `## Latency at ${Math.round(cur.latency.latencyLoad * 100)} % of direct's saturated rate\n\n` +
        `${latencyRows(cur.latency.rows)}\n\nOpen loop, latency from each call's due time; "+p99 beside direct" ` +
        `is the proxy's p99 minus that of direct calls sent in the same run. ${runLine(cur.latency)}.`,
    );
  }
  if (cur.streaming) {
    parts.push(
      `## Streaming 1 MiB messages\n\n${streamingRows(cur.streaming)}\n\n${runLine(cur.streaming)}.`,
    );
  }
  if (cur.tls) {
    parts.push(
      `## TLS (one ECDSA P-256 certificate, ALPN h2)\n\n${tlsTable(cur.tls.rows, table)}\n\n` +
        `grpcroute is serve with its default workers. ${runLine(cur.tls)}.`,
    );
  }
  if (cur.conns) {
    parts.push(
      `## Connection scale (idle h2c connections, open streams)\n\n${connsTable(cur.conns.rows, table)}\n\n` +
        `RSS of the target's process tree; "good" is a grpc-js client calling through it at 200 calls/s. ` +
        `${runLine(cur.conns)}.`,
    );
  }
  if (cur.attacks) {
    const targets = [...new Set(cur.attacks.rows.map((a) => a.target))];
    if (targets.length >= 2) {
      parts.push(
        `## Attacks\n\n${securityTable(cur.attacks.rows, [targets[0] as string, targets[1] as string])}\n\n` +
          `${runLine(cur.attacks)}.`,
      );
    }
  }
  if (cur.micro)
    parts.push(`## Router and translator\n\n${microRows(cur.micro.rows)}\n\n${runLine(cur.micro)}.`);
  const g = currentGoals(cur);
  if (g.length > 0) parts.push(`## Targets\n\n${g.map((l) => `    ${l}`).join("\n")}`);
  return `${parts.join("\n\n")}\n`;
}

/** Appends a run's full report to the history file, under a heading with its date and section. */
export function appendHistory(file: string, section: string, r: Results): void {
  mkdirSync(dirname(file), { recursive: true });
  const head = existsSync(file)
    ? readFileSync(file, "utf8")
    : "# Every run of `npm run bench`\n\nAppended by the suite, oldest first (bench/lib/page.ts).\n";
  writeFileSync(file, `${head.trimEnd()}\n\n## ${r.machine.date} (${section})\n\n${renderReport(r)}\n`);
}

/**
 * Records a run next to `pageFile` (bench/RESULTS.md): the history always; the current figures, the page
 * and the chart when the run is one of the page's sections.
 */
export function recordRun(pageFile: string, section: string, r: Results): void {
  const dir = dirname(pageFile);
  appendHistory(join(dir, "history", "runs.md"), section, r);
  if (!PAGE_SECTIONS.has(section)) return;
  const jsonFile = join(dir, "results.json");
  const cur = mergeCurrent(readCurrent(jsonFile), r);
  writeFileSync(jsonFile, `${JSON.stringify(cur, null, 1)}\n`);
  writeFileSync(pageFile, renderPage(cur));
  if (cur.unary) writeFileSync(join(dir, "chart.svg"), renderChart(cur.unary.rows, cur.unary.run.date));
}
