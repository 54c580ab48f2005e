/**
 * The figures of one run: the full report printed at the end and appended to bench/history/runs.md, and the
 * goals of each issue, judged on them (bench/lib/page.ts writes the current page from the same rows).
 */
import { type AttackRow, attackGoals, attackTables } from "./attack-report.js";
import { type ConnRow, connsGoals, connsTable } from "./conns.js";
import { openLoopConnections } from "./openloop.js";
import type { BenchOptions } from "./options.js";
import type { HotFunction } from "./profile.js";
import { fmt, fmtRatio, median, ratio, spread } from "./stats.js";
import type { GatewayFeatures } from "./targets.js";
import { type TlsRow, tlsGoals, tlsTable } from "./tls.js";
import { workerGoals } from "./worker-goals.js";

/** Where and when the figures were taken. */
export interface MachineInfo {
  date: string;
  cores: number;
  model: string;
  node: string;
  /** h2load, HAProxy and nginx versions. */
  tools: string;
  /** 1, 5 and 15 minute load averages before and after the run. */
  loadBefore: string;
  loadAfter: string;
  /**
   * Share of the machine's CPU time the hypervisor gave to others during the run (`steal` in /proc/stat):
   * stalls no process here can see coming, and the reason p99s jump on a shared virtual machine.
   */
  steal?: string;
  command: string;
  note: string;
}

/** Median figures of one target on one backend (unary SayHello at saturation). */
export interface UnaryRow {
  backend: string;
  target: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Proxy process tree CPU (user + system) per completed call, µs. NaN for direct. */
  proxyCpuUs: number;
  backendCpuUs: number;
  /** Failed calls over all repetitions. */
  failed: number;
  runs: number;
}

/** Latency at a fixed share of direct's saturated rate. */
export interface LatencyRow {
  backend: string;
  target: string;
  offeredPerSec: number;
  achievedPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Open-loop runs: how late the load generator wrote calls after their due times, p99 (ms). */
  lateP99Ms?: number;
  /** Highest minus lowest p99 of the repetitions (ms): how far the p99 moved between them. */
  p99RangeMs?: number;
  /** Why the offered rate is what it is, when it is not the share of this backend's direct rate. */
  rateNote?: string;
  /**
   * Proxies' open-loop rows: calls were also sent straight to the backend during each run. The median over
   * the repetitions of (this target's p99 minus those direct calls' p99) in the same run (ms), how far that
   * difference moved between repetitions (ms), and the median p99 of the direct calls (ms).
   */
  pairedP99AddedMs?: number;
  pairedRangeMs?: number;
  besideP99Ms?: number;
}

/**
 * The side-by-side figures of one target's repetitions: each repetition that measured direct calls beside the
 * proxy gives one difference of p99s; none when no repetition did.
 */
export function pairedP99Added(
  runs: readonly { p99Ms: number; besideP99Ms?: number | undefined }[],
): Pick<LatencyRow, "pairedP99AddedMs" | "pairedRangeMs" | "besideP99Ms"> | undefined {
  const beside: number[] = [];
  const diffs: number[] = [];
  for (const r of runs) {
    if (r.besideP99Ms === undefined || !Number.isFinite(r.besideP99Ms) || !Number.isFinite(r.p99Ms)) continue;
    beside.push(r.besideP99Ms);
    diffs.push(r.p99Ms - r.besideP99Ms);
  }
  if (diffs.length === 0) return undefined;
  const out: Pick<LatencyRow, "pairedP99AddedMs" | "pairedRangeMs" | "besideP99Ms"> = {
    pairedP99AddedMs: median(diffs),
    besideP99Ms: median(beside),
  };
  const moved = spread(diffs);
  if (moved !== undefined) out.pairedRangeMs = moved;
  return out;
}

/** The open-loop rate of one backend's latency phase, and why, when it is not the share of direct's. */
export interface LatencyRate {
  ratePerSec: number;
  note?: string;
}

/** The rate the greeter's latency phase offered in this run, if it ran. */
export function greeterLatencyRate(latency: readonly LatencyRow[]): number | undefined {
  return latency.find(
    (l) => l.backend === "greeter" && Number.isFinite(l.offeredPerSec) && l.offeredPerSec > 0,
  )?.offeredPerSec;
}

/**
 * The rate of `backend`'s latency phase: `share` of its direct saturated rate. Not for nghttpd, whose direct
 * rate (300,000 req/s here) is far beyond what any proxy carries: it gets the greeter's rate when the
 * greeter's latency phase ran in this run (the same load with only the backend changed, which isolates the
 * backend's collector), else `share` of the slowest target's saturated rate on nghttpd. Returns why there
 * is no rate when the figures it needs are missing.
 */
export function latencyRate(
  r: Pick<Results, "unary" | "latency">,
  backend: string,
  share: number,
): LatencyRate | string {
  const saturated = r.unary.filter(
    (u) => u.backend === backend && Number.isFinite(u.reqPerSec) && u.reqPerSec > 0,
  );
  if (backend !== "nghttpd") {
    const direct = saturated.find((u) => u.target === "direct");
    if (direct === undefined) return "no saturated direct rate to take a share of";
    return { ratePerSec: Math.round(direct.reqPerSec * share) };
  }
  const load = share === 0.5 ? "half-load" : `${Math.round(share * 100)}%-load`;
  const greeter = greeterLatencyRate(r.latency);
  if (greeter !== undefined) {
    return {
      ratePerSec: greeter,
      note: `offered at the greeter's ${load} rate (the same load, only the backend changed)`,
    };
  }
  const slowest = saturated.reduce<UnaryRow | undefined>(
    (a, u) => (a === undefined || u.reqPerSec < a.reqPerSec ? u : a),
    undefined,
  );
  if (slowest === undefined) return "no saturated rate on nghttpd to take a share of";
  return {
    ratePerSec: Math.round(slowest.reqPerSec * share),
    note:
      `offered at ${Math.round(share * 100)}% of the slowest target's saturated rate on nghttpd ` +
      `(${slowest.target}, ${fmt(slowest.reqPerSec)} req/s): the greeter's latency phase did not run`,
  };
}

/** Streaming throughput of large messages. */
export interface StreamingRow {
  mode: "download" | "echo";
  target: string;
  bytesPerSec: number;
  /** Proxy CPU µs per MiB moved. */
  proxyCpuUsPerMiB: number;
}

/** Router and translator at one route count. */
export interface MicroRow {
  routes: number;
  /** Mean ns per `match()` over a mix of hits and misses. */
  matchNs: number;
  /** Mean ns per `match()` by the kind of route hit (`exact`, `service`, `regex`, `headers`) or `miss`. */
  byKind: Record<string, number>;
  /** ms to compile the router from the table. */
  compileMs: number;
  /** ms per `translate()` of the resource set. */
  translateMs: number;
  /** ms to parse the generated manifests. */
  parseMs: number;
  /** Heap held by the routing table plus the compiled router, MiB. */
  heapMiB: number;
}

/** Everything one run measured. */
export interface Results {
  machine: MachineInfo;
  options: BenchOptions;
  gateway?: GatewayFeatures & { runtime: string };
  unary: UnaryRow[];
  latency: LatencyRow[];
  /** Latency of calls made one at a time on one connection (nothing queues). */
  serial: LatencyRow[];
  streaming: StreamingRow[];
  /** Streaming: bytes/s of each repetition by `<mode> <target>`, in the order they ran. */
  streamingRuns?: Record<string, number[]>;
  micro: MicroRow[];
  /** The TLS phase: grpcroute and HAProxy terminating TLS (bench/lib/tls.ts). */
  tls?: TlsRow[];
  /** The conns phase: memory per idle connection and open stream (bench/lib/conns.ts). */
  conns?: ConnRow[];
  /** The attacks phase: one row per attack and target. */
  attacks: AttackRow[];
  /** Targets or phases that could not run, and why. */
  skipped: string[];
  /** Things that went wrong with the suite, the backends, direct or grpcroute (a smoke run fails on them). */
  problems: string[];
  /** CPU profiles of the gateway (with `--profile`): hottest functions by self time. */
  profiles: { target: string; backend: string; dir: string; top: HotFunction[] }[];
  /** Failures of the reference proxies (HAProxy, nginx): facts about them, recorded with the figures. */
  findings: string[];
}

/** A Markdown table; the first `left` columns are left-aligned, the others (figures) right-aligned. */
export function table(head: string[], rows: string[][], left = 2): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i < left ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  const sep = `|${widths.map((w, i) => (i < left ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(head), sep, ...rows.map(line)].join("\n");
}

function unaryTable(r: Results): string {
  const rows: string[][] = [];
  for (const u of r.unary) {
    const d = r.unary.find((x) => x.backend === u.backend && x.target === "direct");
    const h = r.unary.find((x) => x.backend === u.backend && x.target === "haproxy");
    rows.push([
      u.backend,
      u.target,
      fmt(u.reqPerSec),
      fmtRatio(ratio(u.reqPerSec, d?.reqPerSec)),
      fmtRatio(ratio(u.reqPerSec, h?.reqPerSec)),
      fmt(u.p50Ms, 2),
      fmt(u.p99Ms, 2),
      fmtRatio(ratio(u.p99Ms, d?.p99Ms)),
      fmt(u.proxyCpuUs, 1),
      fmtRatio(ratio(u.proxyCpuUs, h?.proxyCpuUs)),
      fmt(u.backendCpuUs, 1),
      fmt(u.failed),
    ]);
  }
  return table(
    [
      "backend",
      "target",
      "req/s",
      "x direct",
      "x haproxy",
      "p50 ms",
      "p99 ms",
      "p99 x direct",
      "proxy CPU us/call",
      "CPU x haproxy",
      "backend us/call",
      "failed",
    ],
    rows,
  );
}

function latencyTable(rowsIn: LatencyRow[]): string {
  const late = rowsIn.some((l) => l.lateP99Ms !== undefined);
  const range = rowsIn.some((l) => l.p99RangeMs !== undefined);
  const paired = rowsIn.some((l) => l.pairedP99AddedMs !== undefined);
  const rows = rowsIn.map((l) => {
    const d = rowsIn.find((x) => x.backend === l.backend && x.target === "direct");
    const h = rowsIn.find((x) => x.backend === l.backend && x.target === "haproxy");
    return [
      l.backend,
      l.target,
      fmt(l.offeredPerSec),
      fmt(l.achievedPerSec),
      fmt(l.p50Ms, 3),
      fmt(l.p99Ms, 3),
      l.target === "direct" ? "" : fmt((l.p50Ms - (d?.p50Ms ?? Number.NaN)) * 1000, 0),
      l.target === "direct" ? "" : fmt((l.p99Ms - (d?.p99Ms ?? Number.NaN)) * 1000, 0),
      fmtRatio(ratio(l.p99Ms, h?.p99Ms)),
      ...(range ? [fmt(l.p99RangeMs, 3)] : []),
      ...(paired
        ? [
            l.pairedP99AddedMs === undefined ? "" : fmt(l.pairedP99AddedMs * 1000, 0),
            l.pairedRangeMs === undefined ? "" : fmt(l.pairedRangeMs, 3),
          ]
        : []),
      ...(late ? [fmt(l.lateP99Ms, 3)] : []),
    ];
  });
  return table(
    [
      "backend",
      "target",
      "offered/s",
      "achieved/s",
      "p50 ms",
      "p99 ms",
      "+p50 us",
      "+p99 us",
      "p99 x haproxy",
      ...(range ? ["p99 range ms"] : []),
      ...(paired ? ["+p99 beside direct us", "its range ms"] : []),
      ...(late ? ["sent late p99 ms"] : []),
    ],
    rows,
  );
}

function streamingTable(r: Results): string {
  const rows = r.streaming.map((s) => {
    const d = r.streaming.find((x) => x.mode === s.mode && x.target === "direct");
    return [
      s.mode === "download" ? "server-streaming" : "bidi echo",
      s.target,
      fmt(s.bytesPerSec / 1048576, 0),
      fmtRatio(ratio(s.bytesPerSec, d?.bytesPerSec)),
      fmt(s.proxyCpuUsPerMiB, 0),
    ];
  });
  return table(["pattern", "target", "MiB/s", "x direct", "proxy CPU us/MiB"], rows);
}

function microTable(r: Results): string {
  const rows = r.micro.map((m) => [
    String(m.routes),
    "",
    fmt(m.matchNs, 0),
    fmt(m.byKind.exact, 0),
    fmt(m.byKind.service, 0),
    fmt(m.byKind.regex, 0),
    fmt(m.byKind.headers, 0),
    fmt(m.byKind.miss, 0),
    fmt(m.compileMs, 2),
    fmt(m.parseMs, 1),
    fmt(m.translateMs, 1),
    fmt(m.heapMiB, 1),
  ]);
  return table(
    [
      "routes",
      "",
      "match ns (mix)",
      "exact",
      "service",
      "regex",
      "headers",
      "miss",
      "compile ms",
      "parse ms",
      "translate ms",
      "table+router heap MiB",
    ],
    rows,
  );
}

/** Lines under the latency table for backends whose offered rate follows another rule, one per backend. */
function rateNotes(rows: LatencyRow[]): string {
  const notes = new Map<string, string>();
  for (const l of rows)
    if (l.rateNote !== undefined && !notes.has(l.backend)) notes.set(l.backend, l.rateNote);
  return [...notes].map(([b, n]) => `\n\n${b} backend: ${n}`).join("");
}

/** The targets of the issue, checked against this run's figures. */
export function goals(r: Results): string[] {
  const out: string[] = [];
  const mark = (ok: boolean | undefined) => (ok === undefined ? "n/a " : ok ? "MET " : "MISS");
  // A retrying TrafficPolicy whose retries are never taken costs under 5 % CPU per call (issue 18), judged
  // against the same gateway without a policy in the same run.
  for (const b of ["fixed", "greeter", "nghttpd"]) {
    const base = r.unary.find((u) => u.backend === b && u.target === "grpcroute-relay");
    const pol = r.unary.find((u) => u.backend === b && u.target === "grpcroute-retry");
    if (base === undefined || pol === undefined) continue;
    const rc = ratio(pol.proxyCpuUs, base.proxyCpuUs);
    const line = `grpcroute-retry: CPU per call under a retrying TrafficPolicy (no retry taken) <= 1.05x grpcroute-relay, ${b} backend (${fmtRatio(rc)}: ${fmt(pol.proxyCpuUs, 1)} vs ${fmt(base.proxyCpuUs, 1)} us)`;
    out.push(
      b === "fixed" ? `${mark(Number.isFinite(rc) ? rc <= 1.05 : undefined)} ${line}` : `info ${line}`,
    );
  }
  // A run of the latency phase alone has direct's saturated rate but no gateway at saturation: its gateways
  // come from the latency rows, and only the checks it has figures for are listed.
  const gateways = [
    ...new Set(
      [...r.unary, ...r.latency].filter((u) => u.target.startsWith("grpcroute")).map((u) => u.target),
    ),
  ];
  for (const g of gateways) {
    // The targets below are judged on the greeter and fixed backends; nghttpd's saturated rows only give
    // its latency rate and an info line.
    const saturation = r.unary.some((u) => u.target === g && u.backend !== "nghttpd");
    const gd = r.unary.find((u) => u.backend === "greeter" && u.target === g);
    const dd = r.unary.find((u) => u.backend === "greeter" && u.target === "direct");
    const hd = r.unary.find((u) => u.backend === "greeter" && u.target === "haproxy");
    const rd = ratio(gd?.reqPerSec, dd?.reqPerSec);
    const rh = ratio(gd?.reqPerSec, hd?.reqPerSec);
    const gf = r.unary.find((u) => u.backend === "fixed" && u.target === g);
    const nf = r.unary.find((u) => u.backend === "fixed" && u.target === "nginx");
    const cpu = gf?.proxyCpuUs;
    if (saturation) {
      out.push(
        `${mark(Number.isFinite(rd) ? rd >= 0.95 : undefined)} ${g}: greeter req/s >= 0.95x direct (${fmtRatio(rd)})`,
      );
      out.push(
        `${mark(Number.isFinite(rh) ? rh >= 1 : undefined)} ${g}: greeter req/s >= haproxy (${fmtRatio(rh)})`,
      );
      out.push(
        `${mark(cpu !== undefined && Number.isFinite(cpu) ? cpu <= 40 : undefined)} ${g}: CPU per call <= 40 us, fixed backend (${fmt(cpu, 1)} us; nginx ${fmt(nf?.proxyCpuUs, 1)})`,
      );
    }
    const gn = r.unary.find((u) => u.backend === "nghttpd" && u.target === g);
    if (gn) {
      const hn = r.unary.find((u) => u.backend === "nghttpd" && u.target === "haproxy");
      out.push(
        `info ${g}: nghttpd backend at saturation: ${fmt(gn.reqPerSec)} req/s (${fmtRatio(ratio(gn.reqPerSec, hn?.reqPerSec))} haproxy), ` +
          `CPU per call ${fmt(gn.proxyCpuUs, 1)} us (haproxy ${fmt(hn?.proxyCpuUs, 1)})`,
      );
    }
    // The greeter's own collector pauses weigh on every target's p99, direct's included: on the nghttpd
    // backend (no collector) the difference is the proxy's.
    const lb = r.latency.some((l) => l.backend === "nghttpd" && l.target === g) ? "nghttpd" : "greeter";
    const lg = r.latency.find((l) => l.backend === lb && l.target === g);
    const ld = r.latency.find((l) => l.backend === lb && l.target === "direct");
    const added = lg && ld ? (lg.p99Ms - ld.p99Ms) * 1000 : Number.NaN;
    const target = `${g}: p99 added at ${Math.round(r.options.latencyLoad * 100)}% load <= 1 ms (${lb === "nghttpd" ? "nghttpd backend, " : ""}`;
    if (lg?.pairedP99AddedMs !== undefined) {
      // Judged side by side: the proxied calls against direct calls sent during the same run, so the machine's
      // moments weigh on both; it still needs the difference to hold still between repetitions.
      const beside = lg.pairedP99AddedMs * 1000;
      const moved = lg.pairedRangeMs ?? 0;
      const noisy = moved > 1;
      out.push(
        `${mark(Number.isFinite(beside) && !noisy ? beside <= 1000 : undefined)} ${target}beside direct calls: ${fmt(beside, 0)} us` +
          (noisy ? `, moving ${fmt(moved, 1)} ms between repetitions, too much to judge 1 ms` : "") +
          `; in turns with direct: ${fmt(added, 0)} us)`,
      );
    } else {
      // A difference of p99s from runs in turns judges 1 ms only when each p99 held still between repetitions.
      const range = Math.max(lg?.p99RangeMs ?? 0, ld?.p99RangeMs ?? 0);
      const noisy = range > 1;
      out.push(
        `${mark(Number.isFinite(added) && !noisy ? added <= 1000 : undefined)} ${target}in turns with direct: ${fmt(added, 0)} us` +
          (noisy
            ? `; p99s moved up to ${fmt(range, 1)} ms between repetitions, too much to judge 1 ms)`
            : ")"),
      );
    }
    const sg = r.serial.find((l) => l.backend === "greeter" && l.target === g);
    const sd = r.serial.find((l) => l.backend === "greeter" && l.target === "direct");
    if (sg && sd) {
      out.push(
        `info ${g}: one call at a time adds p50 ${fmt((sg.p50Ms - sd.p50Ms) * 1000, 0)} us, p99 ${fmt((sg.p99Ms - sd.p99Ms) * 1000, 0)} us`,
      );
    }
    for (const mode of ["download", "echo"] as const) {
      if (!saturation && !r.streaming.some((x) => x.target === g)) continue;
      const sg = r.streaming.find((s) => s.mode === mode && s.target === g);
      const sd = r.streaming.find((s) => s.mode === mode && s.target === "direct");
      const rs = ratio(sg?.bytesPerSec, sd?.bytesPerSec);
      out.push(
        `${mark(Number.isFinite(rs) ? rs >= 0.8 : undefined)} ${g}: ${mode} 1 MiB bytes/s >= 0.8x direct (${fmtRatio(rs)})`,
      );
    }
  }
  out.push(...workerGoals(r.unary, r.options.proxyWorkers));
  out.push(...tlsGoals(r.tls ?? []));
  out.push(...connsGoals(r.conns ?? []));
  out.push(...attackGoals(r.attacks));
  const big = r.micro.find((m) => m.routes === 10_000);
  if (big) {
    out.push(
      `${mark(big.matchNs <= 1000)} router match at 10,000 routes <= 1 us (${fmt(big.matchNs, 0)} ns)`,
    );
    out.push(
      `${mark(big.translateMs <= 1000)} translate at 10,000 routes <= 1 s (${fmt(big.translateMs, 0)} ms)`,
    );
  }
  return out;
}

/** A Markdown list of messages, each once, with how often it occurred. */
function counted(messages: string[]): string {
  const n = new Map<string, number>();
  for (const m of messages) {
    // Figures that differ between repetitions (seconds, byte counts) would defeat the grouping.
    const key = m.replace(/"seconds":[\d.]+,/g, "");
    n.set(key, (n.get(key) ?? 0) + 1);
  }
  return [...n].map(([m, c]) => `- ${c > 1 ? `(${c} times) ` : ""}${m}`).join("\n");
}

/** The report: machine, tables and goals, as Markdown that also reads well in a terminal. */
export function renderReport(r: Results): string {
  const m = r.machine;
  const o = r.options;
  const parts: string[] = [];
  parts.push(
    `Command: \`${m.command}\`  \nDate: ${m.date}  \nMachine: ${m.cores} cores, ${m.model}; Node ${m.node}  \n` +
      `Tools: ${m.tools}  \nLoad average before / after: ${m.loadBefore} / ${m.loadAfter}` +
      (m.steal !== undefined ? `; CPU time stolen by the hypervisor during the run: ${m.steal}` : "") +
      "  \n" +
      `Load: h2load ${o.connections} connections x ${o.streams} streams, ${o.durationSec} s per run, ` +
      `${o.reps} interleaved repetitions (medians), warm-up ${o.warmupSec} s; proxies with ${o.proxyWorkers} worker(s)` +
      (r.gateway ? `; gateway: ${r.gateway.runtime}` : "") +
      (o.gatewayArgs.length > 0 ? ` serve ... ${o.gatewayArgs.join(" ")}` : "") +
      (o.placement
        ? `; pinned: backends on CPU ${o.placement.backend}, proxies and load generators on CPU ${o.placement.other}`
        : "; unpinned (the scheduler places every process)") +
      (m.note ? `  \nNote: ${m.note}` : ""),
  );
  if (r.unary.length > 0) parts.push(`Unary SayHello at saturation\n\n${unaryTable(r)}`);
  if (r.latency.length > 0) {
    parts.push(
      `Latency at ${Math.round(o.latencyLoad * 100)}% of direct's saturated rate (open loop: calls due at evenly ` +
        `spaced times over ${openLoopConnections(o.connections)} connections, latency from each call's due time; ` +
        `"sent late" is how long calls waited to be written, counted in the figures; "p99 range" is how far ` +
        `p99 moved between repetitions` +
        (r.latency.some((l) => l.pairedP99AddedMs !== undefined)
          ? `; while each proxy ran, a second generator sent a tenth as many calls straight to the backend: ` +
            `"+p99 beside direct" is the proxy's p99 minus theirs in the same run, median over the repetitions, ` +
            `and "its range" how far that difference moved`
          : "") +
        `)\n\n${latencyTable(r.latency)}${rateNotes(r.latency)}`,
    );
  }
  if (r.serial.length > 0) {
    parts.push(`Latency of one call at a time (1 connection, 1 stream)\n\n${latencyTable(r.serial)}`);
  }
  if (r.streaming.length > 0) {
    parts.push(
      `Streaming ${fmt(o.streamSize / 1024, 0)} KiB messages, ${o.streamConcurrency} concurrent streams, ${o.streamSec} s per run\n\n${streamingTable(r)}`,
    );
  }
  if (r.tls !== undefined && r.tls.length > 0) {
    parts.push(
      `TLS: grpcroute (serve's default workers) and HAProxy terminating TLS with one ECDSA P-256 certificate, ` +
        `ALPN h2, fixed backend over h2c; medians of ${o.shortReps} interleaved repetitions\n\n${tlsTable(r.tls, table)}`,
    );
  }
  if (r.conns !== undefined && r.conns.length > 0) {
    parts.push(
      `Connection scale: idle h2c connections, then open streams, held 5 s each through the target (greeter ` +
        `backend), with a grpc-js client calling through it at 200 calls/s; RSS of the target's process tree\n\n` +
        connsTable(r.conns, table),
    );
  }
  if (r.attacks.length > 0) {
    parts.push(
      `Attacks (each against a fresh target process; a grpc-js client calls SayHello through the target at ` +
        `${o.smoke ? "100" : "200"} calls/s before, during and after the attack, and p99 is its latency from each ` +
        `call's due time; RSS is the target's process tree, sampled every 100 ms during the attack)\n\n` +
        attackTables(r.attacks),
    );
  }
  if (r.micro.length > 0) parts.push(`Router and translator\n\n${microTable(r)}`);
  for (const p of r.profiles) {
    const rows = p.top.map((h) => [`${(h.share * 100).toFixed(1)} %`, h.name, h.where]);
    parts.push(
      `Hottest functions of ${p.target} (${p.backend} backend), share of busy time; profiles in ${p.dir}\n\n` +
        table(["self", "function", "where"], rows, 3),
    );
  }
  const g = goals(r);
  if (g.length > 0) {
    const caveat = o.smoke ? " (smoke run: tiny cold loads, the marks check the wiring, not the speed)" : "";
    parts.push(`Targets${caveat}\n\n${g.map((l) => `    ${l}`).join("\n")}`);
  }
  if (r.skipped.length > 0) parts.push(`Skipped\n\n${r.skipped.map((s) => `- ${s}`).join("\n")}`);
  if (r.findings.length > 0) parts.push(`Reference proxies\n\n${counted(r.findings)}`);
  if (r.problems.length > 0) parts.push(`Problems\n\n${counted(r.problems)}`);
  return parts.join("\n\n");
}
