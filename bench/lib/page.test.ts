/**
 * What a run leaves in the repository (bench/lib/page.ts): the current page, its results file, the chart and
 * the history; and the goals of the default configuration and of a second worker (bench/lib/worker-goals.ts).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { renderChart } from "./chart.js";
import { parseOptions } from "./options.js";
import { readCurrent, recordRun } from "./page.js";
import type { Results, UnaryRow } from "./report.js";
import { workerGoals } from "./worker-goals.js";

const dir = mkdtempSync(join(tmpdir(), "bench-page-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function row(target: string, reqPerSec: number, proxyCpuUs: number, backend = "fixed"): UnaryRow {
  return { backend, target, reqPerSec, p50Ms: 1, p99Ms: 2, proxyCpuUs, backendCpuUs: 30, failed: 0, runs: 3 };
}

function run(date: string, parts: Partial<Results>, argv: string[] = []): Results {
  const options = parseOptions(argv, {});
  assert.ok(options !== "help");
  return {
    machine: {
      date,
      cores: 2,
      model: "test",
      node: "v20",
      tools: "",
      loadBefore: "0.5",
      loadAfter: "0.7",
      command: `npm run bench -- --note ${date}`,
      note: "",
    },
    options,
    unary: [],
    latency: [],
    serial: [],
    streaming: [],
    micro: [],
    attacks: [],
    skipped: [],
    problems: [],
    findings: [],
    profiles: [],
    ...parts,
  };
}

describe("results page", () => {
  it("holds each phase's figures from the last run of that phase; the history gets every run", () => {
    const page = join(dir, "RESULTS.md");
    recordRun(
      page,
      "main",
      run("2026-01-01T00:00:00Z", {
        unary: [row("direct", 1000, Number.NaN), row("grpcroute-relay", 900, 15), row("haproxy", 800, 16)],
        streaming: [
          { mode: "echo", target: "direct", bytesPerSec: 100 * 1048576, proxyCpuUsPerMiB: Number.NaN },
          { mode: "echo", target: "grpcroute-relay", bytesPerSec: 85 * 1048576, proxyCpuUsPerMiB: 3000 },
        ],
        streamingRuns: { "echo direct": [100, 100], "echo grpcroute-relay": [80, 90] },
      }),
    );
    // A later run of the unary phase alone replaces that table and keeps the streaming one.
    recordRun(page, "main", run("2026-01-02T00:00:00Z", { unary: [row("direct", 2000, Number.NaN)] }));
    // An alternative goes to the history only.
    recordRun(page, "workers-2", run("2026-01-03T00:00:00Z", { unary: [row("direct", 5, Number.NaN)] }));
    const text = readFileSync(page, "utf8");
    assert.match(text, /\| fixed +\| direct +\| +2,000 \|/);
    assert.doesNotMatch(text, /\| +1,000 \|| +5 \|/, "the page holds the current unary figures only");
    assert.match(text, /npm run bench -- --note 2026-01-02T00:00:00Z/);
    assert.match(text, /\| bidi echo +\| grpcroute-relay \| +85 \| +0\.85x \| +0\.80 0\.90 \|/);
    assert.match(text, /npm run bench -- --note 2026-01-01T00:00:00Z/, "the streaming table names its run");
    assert.match(text, /\(chart\.svg\)/);
    const history = readFileSync(join(dir, "history", "runs.md"), "utf8");
    for (const d of [
      "2026-01-01T00:00:00Z (main)",
      "2026-01-02T00:00:00Z (main)",
      "2026-01-03T00:00:00Z (workers-2)",
    ])
      assert.match(history, new RegExp(`## ${d.replace(/[()]/g, "\\$&")}`));
    assert.ok(history.indexOf("2026-01-01") < history.indexOf("2026-01-03"), "appended, oldest first");
    const cur = readCurrent(join(dir, "results.json"));
    assert.equal(cur.unary?.run.date, "2026-01-02T00:00:00Z");
    assert.ok(Number.isNaN(cur.unary?.rows[0]?.proxyCpuUs), "absent figures come back as NaN");
    assert.ok(existsSync(join(dir, "chart.svg")));
  });
  it("the chart has a bar for req/s and one for CPU per call of every target", () => {
    const svg = renderChart(
      [row("direct", 1000, Number.NaN), row("grpcroute-relay", 900, 15), row("haproxy", 800, 16, "greeter")],
      "2026-01-01",
    );
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\n$/);
    assert.equal(svg.match(/<rect x=/g)?.length, 6);
    assert.match(svg, />fixed backend</);
    assert.match(svg, />greeter backend</);
    assert.match(svg, />900</);
    assert.match(svg, />15</);
  });
});

describe("default configuration and a second worker", () => {
  const cases: { name: string; rows: UnaryRow[]; want: RegExp[] }[] = [
    {
      name: "met",
      rows: [row("haproxy", 1000, 20), row("grpcroute-default", 1000, 20), row("grpcroute-relay", 1100, 15)],
      want: [
        /^MET {2}grpcroute-default: fixed req\/s >= haproxy \(1\.00x\)$/,
        /^MET {2}grpcroute-default: fixed CPU per call <= haproxy \(20\.0 vs 20\.0 us, 1\.00x\)$/,
      ],
    },
    {
      name: "missed",
      rows: [
        row("haproxy", 1000, 20),
        row("grpcroute-default", 700, 38),
        row("grpcroute-relay", 1000, 18),
        row("grpcroute-workers-2", 700, 38),
      ],
      want: [
        /^MISS grpcroute-default: fixed req\/s >= haproxy \(0\.70x\)$/,
        /^MISS grpcroute-default: fixed CPU per call <= haproxy/,
        /^MISS grpcroute-workers-2: fixed CPU per call <= 1\.2x --workers 1 \(38\.0 vs 18\.0 us, 2\.11x\)$/,
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const lines = workerGoals(c.rows);
      assert.equal(lines.length, c.want.length, lines.join("\n"));
      c.want.forEach((w, i) => {
        assert.match(lines[i] ?? "", w);
      });
    });
  }
});
