/**
 * Self-tests of the attacks phase's own logic: reading RSS from /proc, the attacker's accounting of what a
 * server sends back (whatever the chunking), the summary and its wording, the good client's windows, the
 * plan's scale, the options, and the short table of docs/security.md. The smoke run runs them first, with
 * bench.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { goawayFrame, rstStreamFrame, settingsFrame } from "../../src/dataplane/relay/frames.js";
import { HpackEncoder } from "../../src/dataplane/relay/hpack.js";
import { ErrorCode, Flag, FrameTally, FrameType, frame } from "../../test/helpers/attacker.js";
import { type AttackOutcome, type AttackSpec, attackPlan } from "../attacks/plan.js";
import { type ConnectionRecord, summarize } from "../attacks/summary.js";
import {
  type AttackRow,
  attackGoals,
  goodFigures,
  receivedText,
  sentText,
  shortReceivedAll,
  writeSecurityDoc,
} from "./attack-report.js";
import { parseOptions } from "./options.js";
import { start, stop, waitForLine } from "./procs.js";
import { parseVmRss, RssSampler, rssOf } from "./rss.js";
import { ROOT } from "./targets.js";

const dir = mkdtempSync(join(tmpdir(), "bench-attacks-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("RSS from /proc", () => {
  const status = (rss: string) =>
    `Name:\tnode\nState:\tS (sleeping)\nVmPeak:\t 1200000 kB\nVmHWM:\t  90000 kB\nVmRSS:\t${rss}\nRssAnon:\t 5000 kB\n`;
  const cases: { name: string; text: string; want: number | undefined }[] = [
    { name: "kB to bytes", text: status("   81234 kB"), want: 81234 * 1024 },
    { name: "zero", text: status("       0 kB"), want: 0 },
    { name: "a zombie has no VmRSS line", text: "Name:\tnode\nState:\tZ (zombie)\n", want: undefined },
    { name: "VmHWM is not VmRSS", text: "VmHWM:\t  90000 kB\n", want: undefined },
  ];
  for (const c of cases) it(c.name, () => assert.equal(parseVmRss(c.text), c.want));

  it("this process has an RSS; a process that is gone has none", () => {
    assert.ok((rssOf(process.pid) ?? 0) > 10e6);
    assert.equal(rssOf(2 ** 22 + 7), undefined);
  });

  it("the sampler sums the tree: a child holding 60 MB shows in its parent's peak", async () => {
    // A shell whose child allocates and touches 60 MB, so only the sum over the tree sees it.
    const code =
      "const b = Buffer.alloc(60e6, 1); console.log('READY', b.length); setTimeout(() => {}, 60000)";
    const p = start("holder", "sh", ["-c", `${JSON.stringify(process.execPath)} -e "${code}"`], {
      logFile: join(dir, "holder.log"),
    });
    try {
      await waitForLine(p, /READY/);
      const own = rssOf(p.pid) ?? 0;
      const sampler = new RssSampler(p.pid, 20);
      await new Promise((r) => setTimeout(r, 100));
      const seen = sampler.stop();
      assert.ok(own < 20e6, `the shell alone: ${own}`);
      assert.ok(seen.peakBytes > 60e6, `peak over the tree: ${seen.peakBytes}`);
      assert.ok(seen.samples >= 2, `samples: ${seen.samples}`);
    } finally {
      await stop(p);
    }
  });
});

/** What a server could send: its SETTINGS, answers, resets, a fence ACK, a GOAWAY (the sequence is fixed). */
function serverBytes(): Buffer {
  const enc = new HpackEncoder();
  const block = enc.encode([":status", "200", "content-type", "application/grpc"]);
  const trailers = enc.encode(["grpc-status", "0"]);
  const only = enc.encode([":status", "400"]);
  // A HEADERS frame with padding and priority, and a block split over a CONTINUATION.
  const padded = Buffer.concat([Buffer.from([3]), Buffer.alloc(5), only, Buffer.alloc(3)]);
  const split = enc.encode([":status", "503", "grpc-status", "14", "grpc-message", "x".repeat(40)]);
  return Buffer.concat([
    settingsFrame([[3, 100]]),
    settingsFrame([], true),
    frame(FrameType.HEADERS, Flag.END_HEADERS, 1, block),
    frame(FrameType.DATA, 0, 1, Buffer.alloc(7)),
    frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, trailers),
    frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED | Flag.PRIORITY | Flag.END_STREAM, 3, padded),
    frame(FrameType.HEADERS, 0, 5, split.subarray(0, 10)),
    frame(FrameType.CONTINUATION, Flag.END_HEADERS, 5, split.subarray(10)),
    rstStreamFrame(7, ErrorCode.PROTOCOL_ERROR),
    rstStreamFrame(9, ErrorCode.PROTOCOL_ERROR),
    rstStreamFrame(11, ErrorCode.REFUSED_STREAM),
    frame(FrameType.PING, Flag.ACK, 0, Buffer.alloc(8)),
    frame(FrameType.PING, Flag.ACK, 0, Buffer.from("fence!!!")),
    goawayFrame(11, ErrorCode.ENHANCE_YOUR_CALM, "too many"),
    goawayFrame(11, ErrorCode.NO_ERROR),
  ]);
}

describe("the attacker's frame accounting", () => {
  const bytes = serverBytes();
  const chunkings: { name: string; sizes: () => number }[] = [
    { name: "in one chunk", sizes: () => bytes.length },
    { name: "byte by byte", sizes: () => 1 },
    { name: "in chunks of 7", sizes: () => 7 },
    { name: "in chunks of 1 to 40 (seeded)", sizes: seeded(7) },
  ];
  for (const c of chunkings) {
    it(`counts the same ${c.name}`, () => {
      const t = new FrameTally(true);
      for (let o = 0; o < bytes.length; ) {
        const n = Math.min(bytes.length - o, c.sizes());
        t.push(bytes.subarray(o, o + n));
        o += n;
      }
      assert.equal(t.broken, undefined);
      assert.equal(t.frames, 15);
      assert.equal(t.bytes, bytes.length);
      assert.deepEqual(
        Object.fromEntries(t.counts),
        Object.fromEntries([
          [FrameType.SETTINGS, 2],
          [FrameType.HEADERS, 4],
          [FrameType.DATA, 1],
          [FrameType.CONTINUATION, 1],
          [FrameType.RST_STREAM, 3],
          [FrameType.PING, 2],
          [FrameType.GOAWAY, 2],
        ]),
      );
      assert.deepEqual(
        Object.fromEntries(t.resets),
        Object.fromEntries([
          [ErrorCode.PROTOCOL_ERROR, 2],
          [ErrorCode.REFUSED_STREAM, 1],
        ]),
      );
      assert.deepEqual(Object.fromEntries(t.answers), {
        ":status 200": 1,
        "grpc-status 0": 1,
        ":status 400": 1,
        ":status 503": 1,
        "grpc-status 14": 1,
      });
      // The first GOAWAY is the one kept; the fence's ACK is told from other ACKs.
      assert.deepEqual(t.goaway, { code: ErrorCode.ENHANCE_YOUR_CALM, lastStreamId: 11, debug: "too many" });
      assert.equal(t.fences, 1);
      assert.equal(t.kept.filter((f) => f.fields !== undefined).length, 4);
    });
  }
  it("keeps nothing unless asked", () => {
    const t = new FrameTally(false);
    t.push(serverBytes());
    assert.equal(t.kept.length, 0);
    assert.equal(t.count(FrameType.RST_STREAM), 3);
  });
  it("a header block HPACK cannot decode stops the reading and says where", () => {
    const t = new FrameTally(false);
    t.push(frame(FrameType.HEADERS, Flag.END_HEADERS, 3, Buffer.from([0x80])));
    assert.match(t.broken ?? "", /stream 3 did not decode/);
  });
});

/** Chunk sizes from 1 to 40 from a small seeded generator (the same each run). */
function seeded(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return 1 + (x % 40);
  };
}

const SPEC: AttackSpec = {
  class: "continuation",
  variant: "test",
  kind: "continuation",
  lanes: 1,
  units: 1000,
  reconnect: true,
  seconds: 10,
  holdSeconds: 0,
  maxConnections: 100,
  path: "/x/y",
};

function record(r: Partial<ConnectionRecord>): ConnectionRecord {
  return { resets: new Map(), answers: new Map(), frames: new Map(), ...r };
}

describe("summary of an attack", () => {
  const records = [
    record({
      goaway: { code: ErrorCode.ENHANCE_YOUR_CALM, debug: "too many", afterMs: 2 },
      closedAfterMs: 3,
      frames: new Map([[FrameType.GOAWAY, 1]]),
    }),
    record({
      goaway: { code: ErrorCode.ENHANCE_YOUR_CALM, debug: "too many", afterMs: 4 },
      closedAfterMs: 9,
      resets: new Map([[ErrorCode.PROTOCOL_ERROR, 5]]),
    }),
    record({ resets: new Map([[ErrorCode.PROTOCOL_ERROR, 1]]) }),
  ];
  const o = summarize(SPEC, records, {
    unitsSent: 1000,
    bytesSent: 9000,
    seconds: 0.5,
    ended: "units",
    connectErrors: 0,
    fences: { read: 1 },
  });
  it("adds up codes by name and times by connection", () => {
    assert.deepEqual(o.goaways, { ENHANCE_YOUR_CALM: 2 });
    assert.deepEqual(o.resets, { PROTOCOL_ERROR: 6 });
    assert.deepEqual(o.frames, { GOAWAY: 1 });
    assert.deepEqual(o.goawayTimes, { count: 2, medianMs: 3, maxMs: 4 });
    assert.deepEqual(o.closeTimes, { count: 2, medianMs: 6, maxMs: 9 });
    assert.equal(o.closedByServer, 2);
    assert.equal(o.stillOpen, 1);
    assert.deepEqual(o.goawayReasons, ["too many"]);
  });
  it("says it in words", () => {
    assert.equal(sentText(o), "1,000 frames in 500 ms over 3 connections");
    assert.equal(
      receivedText(o),
      'GOAWAY ENHANCE_YOUR_CALM "too many" on 2/3 after 3.0 ms (max 4.0 ms); closed on 2/3 after 6.0 ms ' +
        "(max 9.0 ms); RST_STREAM PROTOCOL_ERROR x6; it read every frame",
    );
    const quiet = summarize(SPEC, [record({})], {
      unitsSent: 10,
      bytesSent: 90,
      seconds: 10,
      ended: "time",
      connectErrors: 0,
      fences: { timeout: 1 },
    });
    assert.equal(sentText(quiet), "10 frames in 10.0 s over 1 connection, stopped at the 10 s cap");
    assert.equal(receivedText(quiet), "nothing, connection open; still reading 15 s after the last frame");
  });
});

describe("the short table's gist", () => {
  const outcome = (r: Partial<ConnectionRecord>) =>
    summarize(SPEC, [record(r)], {
      unitsSent: 1,
      bytesSent: 1,
      seconds: 1,
      ended: "units",
      connectErrors: 0,
      fences: {},
    });
  it("groups alike outcomes of a class's variants, keeping each one's time", () => {
    const calm = (afterMs: number) =>
      outcome({ goaway: { code: ErrorCode.ENHANCE_YOUR_CALM, debug: "", afterMs } });
    assert.equal(
      shortReceivedAll([calm(3), outcome({}), calm(41), outcome({ closedAfterMs: 1250 }), undefined]),
      "GOAWAY ENHANCE_YOUR_CALM (3.0 ms, 41 ms), nothing, closed (1,250 ms), -",
    );
  });
});

describe("the good client's windows", () => {
  const calls: [number, number, number][] = [
    [999, 50, 0], // before the window: left out
    ...Array.from({ length: 100 }, (_, i): [number, number, number] => [1000 + i, 1 + i / 100, 0]),
    ...Array.from({ length: 100 }, (_, i): [number, number, number] => [2000 + i, 10 + i, i === 5 ? 4 : 0]),
    [3000, 2, 0],
    [3001, 3, 14],
    [4000, 99, 0], // after the window: left out
  ];
  const g = goodFigures(calls, { from: 1000, attackStart: 2000, attackEnd: 3000, to: 4000 }, "first");
  it("splits calls by due time and takes each window's p99", () => {
    assert.equal(g.calls, 202);
    assert.equal(g.failed, 2);
    assert.deepEqual(g.before, { calls: 100, failed: 0, p99Ms: 1.98 });
    assert.deepEqual(g.during, { calls: 100, failed: 1, p99Ms: 108 });
    assert.deepEqual(g.after, { calls: 2, failed: 1, p99Ms: 3 });
  });
  it("judges the goal: no failed call and peak RSS under 300 MB, per target", () => {
    const row = (target: string, failed: number, rss: number): AttackRow => ({
      class: "control",
      variant: "v",
      target,
      good: { ...g, failed },
      rssBeforeBytes: 1e6,
      rssPeakBytes: rss,
      outcome: { spec: SPEC } as AttackOutcome,
    });
    const lines = attackGoals([row("a", 0, 50e6), row("b", 0, 350e6), row("c", 3, 50e6)]);
    assert.match(lines[0] ?? "", /^MET {2}a: attacks: .*\(0 failed over 1 attacks; peak 50 MB\)/);
    assert.match(lines.join("\n"), /MISS b: control \(v\): 0 failed good calls.*peak RSS 350 MB/);
    assert.match(lines.join("\n"), /MISS c: control \(v\): 3 failed good calls \(first: first\)/);
  });
});

describe("the plan", () => {
  it("runs the issue's scale: 10 million CONTINUATION in 10 s, 50,000 reset pairs, 100,000 SETTINGS and PING", () => {
    const full = attackPlan(false);
    const find = (kind: string, units: number) => full.find((s) => s.kind === kind && s.units === units);
    const cont = find("continuation", 10_000_000);
    assert.equal(cont?.seconds, 10);
    assert.equal(cont?.ratePerSec, 1_000_000);
    assert.equal(find("reset-pair", 50_000)?.lanes, 1);
    assert.ok(full.some((s) => s.kind === "reset-pair" && s.lanes > 1));
    assert.ok(find("settings", 100_000));
    assert.ok(find("ping", 100_000));
    for (const k of ["malformed", "preface-only", "silent-stream", "priority", "unknown", "empty-data"])
      assert.ok(
        full.some((s) => s.kind === k),
        k,
      );
  });
  it("the smoke run takes each class once, small", () => {
    const smoke = attackPlan(true);
    assert.deepEqual(
      smoke.map((s) => s.class),
      ["continuation", "rapid-reset", "control", "malformed", "slow", "useless"],
    );
    for (const s of smoke) assert.ok(s.seconds + s.holdSeconds <= 3, `${s.class}: ${s.seconds} s`);
  });
  it("options: the phase, its targets and classes; an attacks-only run records its own section", () => {
    const o = parseOptions(["--phases", "attacks"], {});
    assert.ok(o !== "help");
    assert.equal(o.section, "attacks");
    assert.deepEqual(o.attackTargets, ["grpcroute", "haproxy"]);
    assert.equal(o.securityDoc, "docs/security.md");
    const s = parseOptions(["--smoke"], {});
    assert.ok(s !== "help");
    assert.ok(s.phases.has("attacks"));
    assert.deepEqual(s.attackTargets, ["grpcroute"]);
    assert.equal(s.securityDoc, undefined);
    assert.equal(s.section, "main");
    assert.throws(() => parseOptions(["--attack-classes", "ddos"], {}), /unknown class "ddos"/);
  });
});

describe("docs/security.md", () => {
  const row = (cls: string, target: string, goaway: boolean): AttackRow => ({
    class: cls,
    variant: "v",
    target,
    good: goodFigures([[1, 1, 0]], { from: 0, attackStart: 2, attackEnd: 3, to: 4 }),
    rssBeforeBytes: 40e6,
    rssPeakBytes: 41e6,
    outcome: {
      ...summarize(SPEC, [record(goaway ? { goaway: { code: 11, debug: "", afterMs: 1 } } : {})], {
        unitsSent: 1,
        bytesSent: 1,
        seconds: 1,
        ended: "units",
        connectErrors: 0,
        fences: {},
      }),
    },
  });
  const about = { command: "npm run bench -- --phases attacks", date: "2026-01-02", machine: "2 cores" };
  it("replaces the text between its markers, and only that", () => {
    const f = join(dir, "security.md");
    writeFileSync(
      f,
      "# Security\n\nbefore\n<!-- bench:attacks:begin -->\nold\n<!-- bench:attacks:end -->\nafter\n",
    );
    const rows = [row("continuation", "grpcroute", true), row("continuation", "haproxy", false)];
    assert.equal(writeSecurityDoc(f, rows, ["grpcroute", "haproxy"], about), undefined);
    const text = readFileSync(f, "utf8");
    assert.match(text, /^# Security\n\nbefore\n<!-- bench:attacks:begin -->\nMeasured by `npm run bench/);
    assert.doesNotMatch(text, /\nold\n/);
    assert.match(
      text,
      /\| continuation \| +0 \/ 0 \| +1\.0 → - \/ 1\.0 → - \| +41 \/ 41 \| GOAWAY ENHANCE_YOUR_CALM \(1\.0 ms\) \/ nothing \|/,
    );
    assert.match(text, /<!-- bench:attacks:end -->\nafter\n$/);
  });
  it("needs both targets and the markers", () => {
    const f = join(dir, "security2.md");
    writeFileSync(f, "no markers\n");
    const both = [row("slow", "grpcroute", false), row("slow", "haproxy", false)];
    assert.match(
      writeSecurityDoc(f, both.slice(0, 1), ["grpcroute", "haproxy"], about) ?? "",
      /no attack on haproxy/,
    );
    assert.match(
      writeSecurityDoc(f, both, ["grpcroute", "haproxy"], about) ?? "",
      /has no <!-- bench:attacks:begin/,
    );
    assert.equal(readFileSync(f, "utf8"), "no markers\n");
  });
});

describe("the attacker process", { timeout: 30_000 }, () => {
  it("floods a node:http2 server, waits until it read everything, and reports what it got", async () => {
    const server = createServer();
    server.on("stream", (s) => s.respond({ ":status": 200 }, { endStream: true }));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const spec: AttackSpec = { ...SPEC, class: "useless", kind: "unknown", units: 3000, reconnect: false };
    const log = join(dir, "attacker.log");
    const p = start(
      "attacker",
      process.execPath,
      ["--import", "tsx", join(ROOT, "bench/attacks/run.ts"), String(port), JSON.stringify(spec)],
      { logFile: log, cwd: ROOT },
    );
    try {
      assert.equal(await p.exited, 0, readFileSync(log, "utf8"));
    } finally {
      await stop(p);
      server.close();
    }
    const lines = readFileSync(log, "utf8").trim().split("\n");
    assert.match(lines[0] ?? "", /^START \d+/);
    const o = JSON.parse(lines.at(-1) ?? "") as AttackOutcome;
    assert.equal(o.unitsSent, 3000);
    assert.equal(o.connections, 1);
    assert.equal(
      o.bytesSent,
      24 + 9 + 9 + 3000 * 13 + 17,
      "preface, SETTINGS, its ACK, the frames, the fence",
    );
    assert.deepEqual(o.fences, { read: 1 });
    assert.equal(o.stillOpen, 1);
    assert.ok((o.frames.SETTINGS ?? 0) >= 1, JSON.stringify(o.frames));
    assert.ok(o.startedAt !== undefined && o.endedAt !== undefined && o.endedAt >= o.startedAt);
  });
});
