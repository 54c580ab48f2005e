/**
 * Self-tests of the benchmark suite's parts that can be wrong without a benchmark showing it: reading h2load,
 * statistics, options, the results file, the gateway manifests, and stopping processes by PID. The smoke run
 * (`npm run bench -- --smoke`) runs them first.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseText } from "../../src/api/parse.js";
import { translate } from "../../src/translate/translator.js";
import {
  blockIsStatus200,
  callTemplate,
  FrameReader,
  frame,
  requestHeaderBlock,
  runOpenLoop,
  setCallStream,
} from "../clients/open-loop.js";
import { checkGreeterRaw, helloReply } from "./check.js";
import { parseSummary, readLatencies, writeHelloRequest } from "./h2load.js";
import { wantedBinaries } from "./install.js";
import { parseOpenLoopOutput } from "./openloop.js";
import { parseOptions, UsageError } from "./options.js";
import {
  type Proc,
  processTree,
  setPlacement,
  start,
  stop,
  treeCpuSeconds,
  waitForLine,
  waitForQuiet,
} from "./procs.js";
import {
  type LatencyRow,
  latencyRate,
  pairedP99Added,
  type Results,
  renderReport,
  type UnaryRow,
} from "./report.js";
import { median, percentile, ratio, spread } from "./stats.js";
import { gatewayManifests } from "./targets.js";

const dir = mkdtempSync(join(tmpdir(), "bench-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const SUMMARY = (
  fin: string,
  done: number,
  ok: number,
  failed: number,
  codes: [number, number, number, number],
) =>
  `starting benchmark...
${fin}
requests: ${done} total, ${done} started, ${done} done, ${ok} succeeded, ${failed} failed, ${failed} errored, 0 timeout
status codes: ${codes[0]} 2xx, ${codes[1]} 3xx, ${codes[2]} 4xx, ${codes[3]} 5xx
traffic: 1.00MB (1048576) total, 10.00KB (10240) headers (space savings 90.00%), 100.00KB (102400) data
`;

describe("h2load summary", () => {
  const cases: {
    name: string;
    text: string;
    want: { seconds: number; succeeded: number; failed: number };
  }[] = [
    {
      name: "seconds",
      text: SUMMARY("finished in 10.00s, 12345.60 req/s, 1.23MB/s", 123456, 123456, 0, [123456, 0, 0, 0]),
      want: { seconds: 10, succeeded: 123456, failed: 0 },
    },
    {
      name: "milliseconds",
      text: SUMMARY("finished in 250.50ms, 400.00 req/s, 1.23MB/s", 100, 100, 0, [100, 0, 0, 0]),
      want: { seconds: 0.2505, succeeded: 100, failed: 0 },
    },
    {
      name: "a non-2xx answer is a failure, not a success",
      text: SUMMARY("finished in 1.00s, 10.00 req/s, 1.00KB/s", 10, 10, 0, [7, 0, 1, 2]),
      want: { seconds: 1, succeeded: 7, failed: 3 },
    },
    {
      name: "failed requests",
      text: SUMMARY("finished in 2.00s, 4.00 req/s, 1.00KB/s", 10, 8, 2, [8, 0, 0, 0]),
      want: { seconds: 2, succeeded: 8, failed: 2 },
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(parseSummary(c.text), c.want));

  it("an unreadable summary is an error that shows the text", () => {
    assert.throws(
      () => parseSummary("connect: Connection refused"),
      /cannot read h2load's summary[\s\S]*refused/,
    );
  });

  it("per-request log: 2xx times in ms, sorted; other statuses left out", () => {
    const f = join(dir, "requests.tsv");
    writeFileSync(
      f,
      "1700000000000000\t200\t1500\n1700000000000100\t200\t500\n1700000000000200\t503\t9000\n\n",
    );
    assert.deepEqual([...readLatencies(f)], [0.5, 1.5]);
  });
});

describe("statistics", () => {
  const pcases: { values: number[]; q: number; want: number }[] = [
    { values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], q: 0.5, want: 5 },
    { values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], q: 0.99, want: 10 },
    { values: [7], q: 0.99, want: 7 },
    { values: [1, 2], q: 0, want: 1 },
  ];
  for (const c of pcases) {
    it(`percentile ${c.q} of ${c.values.length} values`, () =>
      assert.equal(percentile(c.values, c.q), c.want));
  }
  it("percentile of nothing is NaN", () => assert.ok(Number.isNaN(percentile([], 0.5))));

  const mcases: { values: number[]; want: number }[] = [
    { values: [3, 1, 2], want: 2 },
    { values: [4, 1, 3, 2], want: 2.5 },
    { values: [Number.NaN, 5, 1], want: 3 },
  ];
  for (const c of mcases) it(`median of ${c.values.join(",")}`, () => assert.equal(median(c.values), c.want));
  it("median of nothing is NaN", () => assert.ok(Number.isNaN(median([Number.NaN]))));
  const scases: { values: number[]; want: number | undefined }[] = [
    { values: [3, 1, 2], want: 2 },
    { values: [1.5, Number.NaN, 4], want: 2.5 },
    { values: [5], want: undefined },
    { values: [5, Number.NaN], want: undefined },
  ];
  for (const c of scases) it(`spread of ${c.values.join(",")}`, () => assert.equal(spread(c.values), c.want));
  it("ratio to a missing or zero figure is NaN", () => {
    assert.equal(ratio(3, 2), 1.5);
    assert.ok(Number.isNaN(ratio(3, 0)));
    assert.ok(Number.isNaN(ratio(undefined, 2)));
  });
});

describe("options", () => {
  it("defaults: the issue's load", () => {
    const o = parseOptions([], {});
    assert.ok(o !== "help");
    assert.equal(o.connections, 8);
    assert.equal(o.streams, 16);
    assert.equal(o.resultsFile, "bench/RESULTS.md");
    assert.equal(o.install, true);
    assert.deepEqual(o.backends, ["greeter", "fixed", "nghttpd"]);
  });
  it("smoke: tiny loads, no install, no results file, only the fixed backend (no nghttpd in CI)", () => {
    const o = parseOptions(["--smoke"], {});
    assert.ok(o !== "help");
    assert.equal(o.install, false);
    assert.equal(o.resultsFile, undefined);
    assert.equal(o.durationSec, 1);
    assert.deepEqual(o.backends, ["fixed"]);
  });
  it("--backends takes nghttpd", () => {
    const o = parseOptions(["--backends", "nghttpd,greeter"], {});
    assert.ok(o !== "help");
    assert.deepEqual(o.backends, ["nghttpd", "greeter"]);
  });
  it("a flag wins over its environment variable, which wins over the default", () => {
    const o = parseOptions(["--reps", "2"], { BENCH_REPS: "7", BENCH_DURATION: "3" });
    assert.ok(o !== "help");
    assert.equal(o.reps, 2);
    assert.equal(o.durationSec, 3);
  });
  it("direct is always measured", () => {
    const o = parseOptions(["--targets", "haproxy"], {});
    assert.ok(o !== "help");
    assert.deepEqual(o.targets, ["direct", "haproxy"]);
  });
  const pins: { raw: string; cpus: number; want: { backend: string; other: string } }[] = [
    { raw: "0", cpus: 2, want: { backend: "0", other: "1" } },
    { raw: "1", cpus: 4, want: { backend: "1", other: "0,2,3" } },
    { raw: "0-1,3", cpus: 4, want: { backend: "0,1,3", other: "2" } },
  ];
  for (const c of pins) {
    it(`--pin-backend ${c.raw} on ${c.cpus} CPUs: the rest go to the other processes`, () => {
      const o = parseOptions(["--pin-backend", c.raw], {}, c.cpus);
      assert.ok(o !== "help");
      assert.deepEqual(o.placement, c.want);
    });
  }
  it("unpinned unless asked", () => {
    const o = parseOptions([], {});
    assert.ok(o !== "help");
    assert.equal(o.placement, undefined);
  });
  const bad: { argv: string[]; env?: Record<string, string>; want: RegExp }[] = [
    { argv: ["--pin-backend", "0-1"], want: /leaves no CPU for the proxy and the load generator/ },
    { argv: ["--pin-backend", "9"], want: /--pin-backend \(BENCH_PIN_BACKEND\) must list CPUs from 0 to/ },
    { argv: ["--pin-backend", "1-0"], want: /must list CPUs/ },
    { argv: ["--bogus", "1"], want: /unknown option --bogus/ },
    { argv: ["--reps", "zero"], want: /--reps \(BENCH_REPS\) must be a number from 1 to 100, got "zero"/ },
    {
      argv: [],
      env: { BENCH_CONNECTIONS: "0" },
      want: /--connections \(BENCH_CONNECTIONS\) must be a number/,
    },
    { argv: ["--phases", "unary,soak"], want: /unknown phase "soak"/ },
    { argv: ["--backends", "envoy"], want: /unknown backend "envoy" \(greeter, fixed, nghttpd\)/ },
    { argv: ["--duration"], want: /--duration needs a value/ },
    { argv: ["stray"], want: /unexpected argument "stray"/ },
  ];
  for (const c of bad) {
    it(`rejects ${c.argv.join(" ") || JSON.stringify(c.env)}`, () => {
      assert.throws(
        () => parseOptions(c.argv, c.env ?? {}, 2),
        (e: unknown) => e instanceof UsageError && c.want.test(e.message),
      );
    });
  }
});

describe("install", () => {
  const cases: { backends: string[]; want: string[] }[] = [
    { backends: ["greeter", "fixed"], want: ["h2load", "haproxy", "nginx"] },
    { backends: ["fixed", "nghttpd"], want: ["h2load", "haproxy", "nginx", "nghttpd"] },
    { backends: [], want: ["h2load", "haproxy", "nginx"] },
  ];
  for (const c of cases) {
    it(`backends ${c.backends.join(",") || "none"}: ${c.want.join(", ")}`, () =>
      assert.deepEqual(wantedBinaries(c.backends), c.want));
  }
});

/** An h2c server on a free port; `answer` handles each stream. Closed after the test. */
async function server(
  answer: (s: ServerHttp2Stream, h: IncomingHttpHeaders, body: Buffer) => void,
): Promise<{ port: number; close: () => Promise<void> }> {
  const srv = createServer();
  srv.on("stream", (s, h) => {
    const chunks: Buffer[] = [];
    // A stream the test resets ends with an error event; that is the point of that test.
    s.on("error", () => {});
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("end", () => answer(s, h, Buffer.concat(chunks)));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  return { port, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

function results(section: string): Results {
  const options = parseOptions(["--note", section], {});
  assert.ok(options !== "help");
  return {
    machine: {
      date: "2026-01-01T00:00:00Z",
      cores: 2,
      model: "test",
      node: "v20",
      tools: "",
      loadBefore: "0",
      loadAfter: "0",
      command: "npm run bench",
      note: section,
    },
    options,
    unary: [
      {
        backend: "fixed",
        target: "direct",
        reqPerSec: 1000,
        p50Ms: 1,
        p99Ms: 2,
        proxyCpuUs: Number.NaN,
        backendCpuUs: 30,
        failed: 0,
        runs: 1,
      },
      {
        backend: "fixed",
        target: "grpcroute",
        reqPerSec: 950,
        p50Ms: 1,
        p99Ms: 2,
        proxyCpuUs: 35,
        backendCpuUs: 30,
        failed: 0,
        runs: 1,
      },
    ],
    latency: [],
    serial: [],
    streaming: [],
    micro: [],
    attacks: [],
    skipped: [],
    problems: [],
    findings: ["x stalled", "x stalled"],
    profiles: [],
  };
}

describe("results file", () => {
  it("the report marks the targets and groups repeated findings", () => {
    const text = renderReport(results("x"));
    assert.match(text, /MET {2}grpcroute: CPU per call <= 40 us, fixed backend \(35\.0 us/);
    assert.match(text, /\(2 times\) x stalled/);
    assert.match(text, /\| fixed {3}\| grpcroute \| +950 \| +0\.95x \|/);
  });
  it("a retrying TrafficPolicy is judged against the same gateway without one: under 5 % more CPU per call", () => {
    const cases: { cpu: number; want: RegExp }[] = [
      {
        cpu: 36.5,
        want: /MET {2}grpcroute-retry: CPU per call under a retrying TrafficPolicy .* fixed backend \(1\.04x: 36\.5 vs 35\.0 us\)/,
      },
      { cpu: 37, want: /MISS grpcroute-retry: CPU per call .* \(1\.06x: 37\.0 vs 35\.0 us\)/ },
    ];
    for (const c of cases) {
      const r = results("retry");
      const relay = { ...r.unary[1]!, target: "grpcroute-relay" };
      r.unary.push(relay, { ...relay, target: "grpcroute-retry", proxyCpuUs: c.cpu });
      assert.match(renderReport(r), c.want);
    }
  });
  it("a latency-only run checks the half-load target from its latency rows", () => {
    const r = results("latency");
    r.unary = r.unary.filter((u) => u.target === "direct");
    const row = { backend: "greeter", offeredPerSec: 500, achievedPerSec: 500, p50Ms: 1 };
    r.latency = [
      { ...row, target: "direct", p99Ms: 2, lateP99Ms: 0.3 },
      { ...row, target: "grpcroute-relay", p99Ms: 2.5, lateP99Ms: 0.4 },
    ];
    const text = renderReport(r);
    assert.match(
      text,
      /MET {2}grpcroute-relay: p99 added at 50% load <= 1 ms \(in turns with direct: 500 us\)/,
    );
    assert.doesNotMatch(text, /req\/s >= 0\.95x direct|CPU per call|bytes\/s/);
    assert.match(text, /\| sent late p99 ms \|/);
  });
  it("p99s that moved more than 1 ms between repetitions cannot judge the 1 ms target", () => {
    const r = results("noisy");
    const row = { backend: "greeter", offeredPerSec: 500, achievedPerSec: 500, p50Ms: 1 };
    r.latency = [
      { ...row, target: "direct", p99Ms: 40, p99RangeMs: 30 },
      { ...row, target: "grpcroute-relay", p99Ms: 20, p99RangeMs: 0.5 },
    ];
    assert.match(
      renderReport(r),
      /n\/a {2}grpcroute-relay: p99 added at 50% load <= 1 ms \(in turns with direct: -20,000 us; p99s moved up to 30\.0 ms/,
    );
  });
});

describe("nghttpd backend", () => {
  const unary = (backend: string, target: string, reqPerSec: number, proxyCpuUs = Number.NaN): UnaryRow => ({
    backend,
    target,
    reqPerSec,
    p50Ms: 1,
    p99Ms: 2,
    proxyCpuUs,
    backendCpuUs: 5,
    failed: 0,
    runs: 1,
  });
  const lat = (backend: string, target: string, p99Ms: number, p99RangeMs?: number): LatencyRow => ({
    backend,
    target,
    offeredPerSec: 9000,
    achievedPerSec: 9000,
    p50Ms: 1,
    p99Ms,
    ...(p99RangeMs === undefined ? {} : { p99RangeMs }),
  });

  const rates: {
    name: string;
    backend: string;
    share?: number;
    unary: UnaryRow[];
    latency: LatencyRow[];
    want: number | RegExp;
    note?: RegExp;
  }[] = [
    {
      name: "greeter: half of its own direct rate",
      backend: "greeter",
      unary: [unary("greeter", "direct", 18_000), unary("greeter", "haproxy", 12_000)],
      latency: [],
      want: 9000,
    },
    {
      name: "fixed: the share asked of its own direct rate",
      backend: "fixed",
      share: 0.3,
      unary: [unary("fixed", "direct", 30_000)],
      latency: [],
      want: 9000,
    },
    {
      name: "nghttpd after the greeter's latency phase: the greeter's rate",
      backend: "nghttpd",
      unary: [unary("nghttpd", "direct", 300_000), unary("nghttpd", "haproxy", 40_000)],
      latency: [lat("greeter", "direct", 40), lat("greeter", "grpcroute-relay", 45)],
      want: 9000,
      note: /^offered at the greeter's half-load rate \(the same load, only the backend changed\)$/,
    },
    {
      name: "nghttpd at another share: the greeter's rate, named by its share",
      backend: "nghttpd",
      share: 0.3,
      unary: [unary("nghttpd", "direct", 300_000)],
      latency: [lat("greeter", "direct", 40)],
      want: 9000,
      note: /greeter's 30%-load rate/,
    },
    {
      name: "nghttpd without the greeter's latency phase: the share of its slowest target",
      backend: "nghttpd",
      unary: [
        unary("greeter", "haproxy", 10_000),
        unary("nghttpd", "direct", 300_000),
        unary("nghttpd", "grpcroute-relay", 60_000),
        unary("nghttpd", "haproxy", 40_000),
      ],
      latency: [],
      want: 20_000,
      note: /50% of the slowest target's saturated rate on nghttpd \(haproxy, 40,000 req\/s\)/,
    },
    {
      name: "greeter without a direct rate: none",
      backend: "greeter",
      unary: [unary("greeter", "haproxy", 12_000)],
      latency: [],
      want: /no saturated direct rate/,
    },
    {
      name: "nghttpd with neither the greeter's rate nor its own figures: none",
      backend: "nghttpd",
      unary: [unary("greeter", "direct", 18_000), unary("nghttpd", "direct", Number.NaN)],
      latency: [lat("fixed", "direct", 40)],
      want: /no saturated rate on nghttpd/,
    },
  ];
  for (const c of rates) {
    it(`latency rate, ${c.name}`, () => {
      const got = latencyRate({ unary: c.unary, latency: c.latency }, c.backend, c.share ?? 0.5);
      if (c.want instanceof RegExp) {
        assert.equal(typeof got, "string");
        assert.match(got as string, c.want);
        return;
      }
      assert.ok(typeof got !== "string", String(got));
      assert.equal(got.ratePerSec, c.want);
      if (c.note === undefined) assert.equal(got.note, undefined);
      else assert.match(got.note ?? "", c.note);
    });
  }

  const p99: { name: string; latency: LatencyRow[]; want: RegExp }[] = [
    {
      name: "greeter rows only: judged on the greeter",
      latency: [lat("greeter", "direct", 40), lat("greeter", "grpcroute-relay", 45)],
      want: /MISS grpcroute-relay: p99 added at 50% load <= 1 ms \(in turns with direct: 5,000 us\)/,
    },
    {
      name: "nghttpd rows too: judged on nghttpd, and said so",
      latency: [
        lat("greeter", "direct", 40),
        lat("greeter", "grpcroute-relay", 45),
        lat("nghttpd", "direct", 2),
        lat("nghttpd", "grpcroute-relay", 2.4),
      ],
      want: /MET {2}grpcroute-relay: p99 added at 50% load <= 1 ms \(nghttpd backend, in turns with direct: 400 us\)/,
    },
    {
      name: "nghttpd p99s that moved more than 1 ms: n/a",
      latency: [
        lat("greeter", "direct", 40),
        lat("greeter", "grpcroute-relay", 40.2),
        lat("nghttpd", "direct", 2, 0.3),
        lat("nghttpd", "grpcroute-relay", 2.4, 4),
      ],
      want: /n\/a {2}grpcroute-relay: p99 added at 50% load <= 1 ms \(nghttpd backend, in turns with direct: 400 us; p99s moved up to 4\.0 ms/,
    },
    {
      name: "measured beside direct calls: judged on that, even where the runs in turns moved",
      latency: [
        lat("nghttpd", "direct", 2, 3),
        { ...lat("nghttpd", "grpcroute-relay", 5, 6), pairedP99AddedMs: 0.6, pairedRangeMs: 0.4 },
      ],
      want: /MET {2}grpcroute-relay: p99 added at 50% load <= 1 ms \(nghttpd backend, beside direct calls: 600 us; in turns with direct: 3,000 us\)/,
    },
    {
      name: "beside direct calls, above 1 ms: missed",
      latency: [
        lat("nghttpd", "direct", 2),
        { ...lat("nghttpd", "grpcroute-relay", 4), pairedP99AddedMs: 1.5, pairedRangeMs: 0.2 },
      ],
      want: /MISS grpcroute-relay: p99 added at 50% load <= 1 ms \(nghttpd backend, beside direct calls: 1,500 us; in turns/,
    },
    {
      name: "beside direct calls, a difference that moved more than 1 ms: n/a",
      latency: [
        lat("nghttpd", "direct", 2),
        { ...lat("nghttpd", "grpcroute-relay", 4), pairedP99AddedMs: 0.5, pairedRangeMs: 2.5 },
      ],
      want: /n\/a {2}grpcroute-relay: p99 added at 50% load <= 1 ms \(nghttpd backend, beside direct calls: 500 us, moving 2\.5 ms between repetitions, too much to judge 1 ms; in turns/,
    },
  ];
  for (const c of p99) {
    it(`p99 target, ${c.name}`, () => {
      const r = results("p99");
      r.latency = c.latency;
      assert.match(renderReport(r), c.want);
    });
  }

  const pairs: {
    name: string;
    runs: { p99Ms: number; besideP99Ms?: number }[];
    want: ReturnType<typeof pairedP99Added>;
  }[] = [
    {
      name: "no run measured direct calls beside it: none",
      runs: [{ p99Ms: 3 }, { p99Ms: 4 }],
      want: undefined,
    },
    {
      name: "one run: its difference, no range",
      runs: [{ p99Ms: 3, besideP99Ms: 2.5 }],
      want: { pairedP99AddedMs: 0.5, besideP99Ms: 2.5 },
    },
    {
      name: "differences paired within each run, median and range over the runs",
      runs: [
        { p99Ms: 9, besideP99Ms: 8.5 },
        { p99Ms: 3, besideP99Ms: 2 },
        { p99Ms: 4, besideP99Ms: 3.25 },
      ],
      want: { pairedP99AddedMs: 0.75, pairedRangeMs: 0.5, besideP99Ms: 3.25 },
    },
    {
      name: "runs without direct calls beside them, or without figures, are left out",
      runs: [
        { p99Ms: 3, besideP99Ms: 2 },
        { p99Ms: 50 },
        { p99Ms: Number.NaN, besideP99Ms: 2 },
        { p99Ms: 5, besideP99Ms: 3 },
      ],
      want: { pairedP99AddedMs: 1.5, pairedRangeMs: 1, besideP99Ms: 2.5 },
    },
  ];
  for (const c of pairs) {
    it(`p99 beside direct calls, ${c.name}`, () => {
      assert.deepEqual(pairedP99Added(c.runs), c.want);
    });
  }

  it("the latency table shows the figures beside direct calls only where they were measured", () => {
    const r = results("beside");
    r.latency = [
      lat("nghttpd", "direct", 2),
      { ...lat("nghttpd", "grpcroute-relay", 4), pairedP99AddedMs: 0.65, pairedRangeMs: 0.3 },
    ];
    const text = renderReport(r);
    assert.match(text, /\| \+p99 beside direct us \| its range ms \|/);
    assert.match(text, /\| nghttpd \| grpcroute-relay \|.*\| +650 \| +0\.300 \|/);
    assert.match(text, /a second generator sent a tenth as many calls straight to the backend/);
    r.latency = [lat("nghttpd", "direct", 2), lat("nghttpd", "grpcroute-relay", 4)];
    assert.doesNotMatch(renderReport(r), /beside direct/);
  });

  it("the report notes nghttpd's rate under the latency table and its saturation per gateway", () => {
    const r = results("nghttpd");
    r.unary.push(
      unary("nghttpd", "direct", 300_000),
      unary("nghttpd", "grpcroute-relay", 81_000, 12.1),
      unary("nghttpd", "haproxy", 59_000, 15),
    );
    const note = "offered at the greeter's half-load rate (the same load, only the backend changed)";
    r.latency = [
      lat("greeter", "direct", 40),
      lat("greeter", "grpcroute-relay", 45),
      { ...lat("nghttpd", "direct", 2), rateNote: note },
      { ...lat("nghttpd", "grpcroute-relay", 2.4), rateNote: note },
    ];
    const text = renderReport(r);
    assert.match(
      text,
      /\| nghttpd +\| grpcroute-relay \|[^\n]* 2\.400 \|[^\n]* 400 \|[^\n]*\n\nnghttpd backend: offered at the greeter's half-load rate \(/,
    );
    assert.equal(text.split("nghttpd backend: offered").length, 2, "one note per backend");
    assert.match(
      text,
      /info grpcroute-relay: nghttpd backend at saturation: 81,000 req\/s \(1\.37x haproxy\), CPU per call 12\.1 us \(haproxy 15\.0\)/,
    );
    // The saturation targets stay on the greeter and fixed backends.
    assert.match(text, /MET {2}grpcroute: CPU per call <= 40 us, fixed backend \(35\.0 us/);
    assert.doesNotMatch(text, /grpcroute-relay: (greeter req\/s|CPU per call <=)/);
  });

  it("the reply file holds the fixed backend's 18 bytes", () => {
    assert.equal(helloReply().toString("hex"), `000000000d0a0b${Buffer.from("Hello world").toString("hex")}`);
  });
});

describe("raw SayHello check", () => {
  const answers: {
    name: string;
    answer: (s: ServerHttp2Stream) => void;
    want?: RegExp;
  }[] = [
    {
      name: "nghttpd's answer (no content-type, grpc-status in the trailers) passes",
      answer: (s) => {
        s.respond({ ":status": 200 }, { waitForTrailers: true });
        s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
        s.end(helloReply());
      },
    },
    {
      name: "another status",
      answer: (s) => s.respond({ ":status": 404 }, { endStream: true }),
      want: /answered :status 404/,
    },
    {
      name: "no grpc-status",
      answer: (s) => {
        s.respond({ ":status": 200 });
        s.end(helloReply());
      },
      want: /grpc-status \(none\); expected grpc-status 0 in the trailers/,
    },
    {
      name: "an error status (trailers-only)",
      answer: (s) =>
        s.respond({ ":status": 200, "grpc-status": "12", "grpc-message": "nope" }, { endStream: true }),
      want: /ended with grpc-status 12 \(nope\)/,
    },
    {
      name: "another reply",
      answer: (s) => {
        s.respond({ ":status": 200 }, { waitForTrailers: true });
        s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
        s.end(Buffer.from([0, 0, 0, 0, 7, 0x0a, 5, ...Buffer.from("Hello")]));
      },
      want: /answered 12 bytes \(00000000070a0548656c6c6f, decoding to "Hello"\), expected 18/,
    },
  ];
  for (const c of answers) {
    it(c.name, async () => {
      let seen: { path: string; ct: string; te: string; body: string } | undefined;
      const s = await server((st, h, b) => {
        seen = {
          path: String(h[":path"]),
          ct: String(h["content-type"]),
          te: String(h.te),
          body: b.toString("hex"),
        };
        c.answer(st);
      });
      try {
        const bodyFile = writeHelloRequest(dir);
        const check = checkGreeterRaw(s.port, "test", bodyFile);
        if (c.want === undefined) await check;
        else
          await assert.rejects(check, (e: unknown) => e instanceof Error && c.want?.test(e.message) === true);
        assert.deepEqual(seen, {
          path: "/helloworld.Greeter/SayHello",
          ct: "application/grpc",
          te: "trailers",
          body: readFileSync(bodyFile).toString("hex"),
        });
      } finally {
        await s.close();
      }
    });
  }
});

describe("gateway manifests", () => {
  it("route every benchmark call to the backend port", () => {
    const loaded = parseText(gatewayManifests(43210), "bench.yaml");
    assert.deepEqual(
      [...loaded.fatal, ...loaded.issues.filter((i) => i.severity === "error")].map((i) => i.message),
      [],
    );
    const { table } = translate(loaded.resources);
    assert.equal(table.listeners.length, 1);
    const routes = table.listeners[0]?.routes ?? [];
    assert.equal(routes.length, 2);
    const clusters = Object.values(table.clusters);
    assert.deepEqual(
      clusters.flatMap((c) => c.endpoints),
      [{ host: "127.0.0.1", port: 43210 }],
    );
  });
});

describe("processes", () => {
  it("a started process is in our tree, and stop() ends it by PID", async () => {
    const log = join(dir, "sleeper.log");
    const p = start("sleeper", process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { logFile: log });
    assert.ok(processTree(process.pid).includes(p.pid));
    assert.ok(treeCpuSeconds(process.pid) > 0);
    await stop(p);
    assert.throws(() => process.kill(p.pid, 0), /ESRCH/);
  });
  it("waitForQuiet: returns once the processes stop using CPU, or says they did not", async () => {
    // Busy for `ms` after READY (Infinity: until stopped), then idle.
    const spinner = (name: string, ms: number) => {
      const code = `console.log('READY'); const end = Date.now() + ${ms}; while (Date.now() < end) {} setTimeout(() => {}, 60000)`;
      return start(name, process.execPath, ["-e", code], { logFile: join(dir, `${name}.log`) });
    };
    const cases = [
      { name: "busy-400ms", ms: 400, timeoutMs: 10_000, settled: true, minWaitMs: 150 },
      { name: "busy-always", ms: 1e9, timeoutMs: 600, settled: false, minWaitMs: 600 },
    ];
    for (const c of cases) {
      const p = spinner(c.name, c.ms);
      try {
        await waitForLine(p, /READY/);
        const q = await waitForQuiet([p.pid], { windowMs: 100, timeoutMs: c.timeoutMs });
        assert.equal(q.settled, c.settled, `${c.name}: ${JSON.stringify(q)}`);
        assert.ok(q.waitedMs >= c.minWaitMs, `${c.name}: ${JSON.stringify(q)}`);
        if (!c.settled) assert.ok(q.lastCores > 0.3, `${c.name}: ${JSON.stringify(q)}`);
      } finally {
        await stop(p);
      }
    }
  });
  it("--pin-backend: backends run on their CPUs, the rest on the others, under their own PID", async (t) => {
    if (availableParallelism() < 2) return t.skip("one CPU");
    if (spawnSync("sh", ["-c", "command -v taskset"]).status !== 0) return t.skip("no taskset");
    setPlacement({ backend: "1", other: "0" });
    const procs: Proc[] = [];
    try {
      for (const role of ["backend", "other"] as const) {
        const log = join(dir, `pinned-${role}.log`);
        const code = "console.log('READY'); setTimeout(() => {}, 60000)";
        procs.push(start(`pinned ${role}`, process.execPath, ["-e", code], { logFile: log, role }));
      }
      const allowed = [];
      for (const p of procs) {
        await waitForLine(p, /READY/);
        const status = readFileSync(`/proc/${p.pid}/status`, "utf8");
        allowed.push(/Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1]);
      }
      assert.deepEqual(allowed, ["1", "0"]);
    } finally {
      setPlacement(undefined);
      for (const p of procs) await stop(p);
    }
  });
});

describe("open-loop load", () => {
  const body = Buffer.from([0, 0, 0, 0, 7, 0x0a, 5, ...Buffer.from("world")]);

  const grpcOk = (s: ServerHttp2Stream) => {
    s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
    s.end(Buffer.from([0, 0, 0, 0, 0]));
  };

  it("sends real gRPC calls at the rate asked and counts every answer", async () => {
    const seen: { path: string; ct: string; te: string; body: string }[] = [];
    const s = await server((st, h, b) => {
      seen.push({
        path: String(h[":path"]),
        ct: String(h["content-type"]),
        te: String(h.te),
        body: b.toString("hex"),
      });
      grpcOk(st);
    });
    try {
      const r = await runOpenLoop({
        port: s.port,
        path: "/helloworld.Greeter/SayHello",
        body,
        rate: 400,
        seconds: 0.5,
        warmupSec: 0.1,
        connections: 2,
        coalesceMs: 0.5,
      });
      assert.equal(r.succeeded, 200);
      assert.equal(r.failed + r.unfinished, 0);
      assert.equal(seen.length, 240, "warm-up calls are sent too");
      assert.deepEqual(seen[0], {
        path: "/helloworld.Greeter/SayHello",
        ct: "application/grpc",
        te: "trailers",
        body: body.toString("hex"),
      });
      assert.ok(r.achievedPerSec > 300 && r.achievedPerSec < 500, `achieved ${r.achievedPerSec}`);
      assert.ok(r.p50Ms < 50 && r.p50Ms <= r.p99Ms);
    } finally {
      await s.close();
    }
  });

  it("latency runs from each call's due time: a slow answer counts in full", async () => {
    const s = await server((st) => {
      setTimeout(() => grpcOk(st), 30);
    });
    try {
      const r = await runOpenLoop({
        port: s.port,
        path: "/x/y",
        body,
        rate: 100,
        seconds: 0.3,
        warmupSec: 0,
        connections: 1,
      });
      assert.equal(r.succeeded, 30);
      assert.ok(r.p50Ms >= 29, `p50 ${r.p50Ms}`);
    } finally {
      await s.close();
    }
  });

  it("a non-200 status or a reset stream is a failed call", async () => {
    let n = 0;
    const s = await server((st) => {
      n++;
      if (n % 3 === 0) st.close(0x2);
      else if (n % 3 === 1) st.respond({ ":status": 503 }, { endStream: true });
      else grpcOk(st);
    });
    try {
      const r = await runOpenLoop({
        port: s.port,
        path: "/x/y",
        body,
        rate: 200,
        seconds: 0.3,
        warmupSec: 0,
        connections: 1,
      });
      assert.equal(r.succeeded, 20);
      assert.equal(r.failed, 40);
    } finally {
      await s.close();
    }
  });

  it("reads frames whatever the chunking", () => {
    const got: string[] = [];
    const reader = new FrameReader((type, flags, stream, payload) =>
      got.push(`${type}/${flags}/${stream}/${payload.toString("hex")}`),
    );
    const bytes = Buffer.concat([
      frame(1, 4, 3, Buffer.from([0x88])),
      frame(0, 1, 3, Buffer.from("abc")),
      frame(4, 1, 0, Buffer.alloc(0)),
    ]);
    for (let i = 0; i < bytes.length; i += 5) reader.push(bytes.subarray(i, i + 5));
    assert.deepEqual(got, ["1/4/3/88", "0/1/3/616263", "4/1/0/"]);
  });

  it(":status 200 is read past table size updates; other statuses are not 200", () => {
    assert.equal(blockIsStatus200(Buffer.from([0x88])), true);
    assert.equal(blockIsStatus200(Buffer.from([0x20, 0x88])), true);
    assert.equal(blockIsStatus200(Buffer.from([0x3f, 0xe1, 0x1f, 0x88])), true);
    assert.equal(blockIsStatus200(Buffer.from([0x8d])), false);
    assert.equal(blockIsStatus200(Buffer.from([0x48, 0x03, 0x35, 0x30, 0x33])), false);
    assert.equal(blockIsStatus200(Buffer.from([0x00, 0x88]), 1), true);
  });

  it("the call template carries each call's stream id in both frames", () => {
    const block = requestHeaderBlock("127.0.0.1:1", "/a/b");
    const t = Buffer.from(callTemplate(block, body));
    setCallStream(t, 0, block.length, 7);
    assert.equal(t.readUInt32BE(5), 7);
    assert.equal(t.readUInt32BE(9 + block.length + 5), 7);
    assert.equal(t[9 + block.length + 4], 1, "DATA ends the stream");
  });

  it("the suite reads the generator's last JSON line and refuses output without figures", () => {
    const line = JSON.stringify({
      p50Ms: 1,
      p99Ms: 2,
      achievedPerSec: 3,
      succeeded: 4,
      failed: 0,
      lateP99Ms: 0.1,
    });
    assert.equal(parseOpenLoopOutput(`warning: x\n${line}\n`).p99Ms, 2);
    assert.throws(
      () => parseOpenLoopOutput("open-loop: connect ECONNREFUSED"),
      /no figures[\s\S]*ECONNREFUSED/,
    );
    assert.throws(() => parseOpenLoopOutput('{"p50Ms":1}'), /lack p99Ms/);
  });
});
