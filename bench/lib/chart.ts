/**
 * bench/chart.svg: req/s and proxy CPU per call of every target, one group of bars per backend, drawn as
 * plain SVG text from the unary phase's rows (no browser, no library). `recordRun` writes it with the page;
 * `node --import tsx bench/lib/chart.ts [results.json] [chart.svg]` draws it again from a results file
 * (`bench/results.json`, or a run's `bench/out/<run>/results.json`).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { UnaryRow } from "./report.js";

/** One colour per target, in the order targets first appear; the rest cycle through. */
const COLOURS = ["#7f7f7f", "#1f77b4", "#2ca02c", "#17becf", "#9467bd", "#d62728", "#ff7f0e", "#8c564b"];

const ROW = 16;
const GAP = 12;
const LABEL = 150;
const PANEL = 300;
const TOP = 48;

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A round upper bound for an axis (1, 2 or 5 times a power of ten). */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function label(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toLocaleString("en-US", { maximumFractionDigits: digits }) : "-";
}

/** The chart as SVG text. `date` goes in its title. */
export function renderChart(rows: readonly UnaryRow[], date: string): string {
  const backends = [...new Set(rows.map((r) => r.backend))];
  const targets = [...new Set(rows.map((r) => r.target))];
  const colour = (t: string) => COLOURS[targets.indexOf(t) % COLOURS.length] as string;
  const maxRps = niceMax(Math.max(...rows.map((r) => r.reqPerSec).filter(Number.isFinite), 0));
  const maxCpu = niceMax(Math.max(...rows.map((r) => r.proxyCpuUs).filter(Number.isFinite), 0));
  const panels = [
    {
      x: LABEL,
      title: "req/s (more is better)",
      max: maxRps,
      value: (r: UnaryRow) => r.reqPerSec,
      digits: 0,
    },
    {
      x: LABEL + PANEL + 60,
      title: "proxy CPU us per call (less is better)",
      max: maxCpu,
      value: (r: UnaryRow) => r.proxyCpuUs,
      digits: 1,
    },
  ];
  const out: string[] = [];
  let y = TOP;
  for (const b of backends) {
    out.push(`<text x="4" y="${y + 12}" font-weight="bold">${esc(b)} backend</text>`);
    y += ROW + 2;
    for (const r of rows.filter((x) => x.backend === b)) {
      out.push(`<text x="${LABEL - 6}" y="${y + 12}" text-anchor="end">${esc(r.target)}</text>`);
      for (const p of panels) {
        const v = p.value(r);
        const w = Number.isFinite(v) ? Math.max(1, (v / p.max) * PANEL) : 0;
        out.push(
          `<rect x="${p.x}" y="${y + 2}" width="${w.toFixed(1)}" height="${ROW - 4}" fill="${colour(r.target)}"/>`,
          `<text x="${(p.x + w + 4).toFixed(1)}" y="${y + 12}">${label(v, p.digits)}</text>`,
        );
      }
      y += ROW;
    }
    y += GAP;
  }
  const height = y + 8;
  const width = LABEL + 2 * PANEL + 120;
  const axes = panels.flatMap((p) => [
    `<text x="${p.x}" y="${TOP - 10}" font-weight="bold">${esc(p.title)}</text>`,
    `<line x1="${p.x}" y1="${TOP}" x2="${p.x}" y2="${y - GAP}" stroke="#999"/>`,
    `<text x="${p.x + PANEL}" y="${height - 2}" text-anchor="end" fill="#666">${label(p.max, 1)}</text>`,
  ]);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12" role="img">`,
    `<title>req/s and proxy CPU per call of each target, unary SayHello (npm run bench, ${esc(date)})</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="4" y="16" font-size="14" font-weight="bold">Unary SayHello at saturation, medians (npm run bench, ${esc(date)})</text>`,
    ...axes,
    ...out,
    "</svg>",
    "",
  ].join("\n");
}

// Run as a script: draw the chart again from a results file.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [from = "bench/results.json", to = "bench/chart.svg"] = process.argv.slice(2);
  const parsed = JSON.parse(readFileSync(from, "utf8"), (_k, v) => (v === null ? Number.NaN : v)) as {
    unary: UnaryRow[] | { rows: UnaryRow[]; run: { date: string } };
    machine?: { date: string };
  };
  const rows = Array.isArray(parsed.unary) ? parsed.unary : parsed.unary.rows;
  const date = Array.isArray(parsed.unary) ? (parsed.machine?.date ?? "") : parsed.unary.run.date;
  writeFileSync(to, renderChart(rows, date));
  process.stdout.write(`${to}: ${rows.length} rows\n`);
}
