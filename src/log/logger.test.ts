import assert from "node:assert/strict";
import { once } from "node:events";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import {
  ACCESS_BATCH_LINES,
  ACCESS_FLUSH_MS,
  ACCESS_QUEUE_BYTES,
  AccessLog,
  accessLine,
} from "./access-log.js";
import { createLogger } from "./logger.js";

/** The JSON lines of a log's text. */
function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (c: Buffer) => {
    text += c.toString("utf8");
  });
  return { stream, text: () => text };
}

const call = {
  listener: "gateway/default/gw/listener/http",
  authority: "a.example",
  path: "/helloworld.Greeter/SayHello",
  route: "grpcroute/default/r/rule/2/match/0",
  backend: "service/default/s/port/80",
  endpoint: "127.0.0.1:5000",
  grpcStatus: 14,
  httpStatus: 200,
  durationMs: 2.5,
  requestBytes: 1,
  responseBytes: 2,
};

test("JSON lines: level as a word, ISO time, msg, and private keys never written", () => {
  const c = capture();
  const log = createLogger({ stream: c.stream });
  log.info({ listener: "l", tls: { keyPem: "PRIVATE" }, keyPem: "PRIVATE" }, "certificate loaded");
  const line = JSON.parse(c.text().trim()) as Record<string, unknown>;
  assert.equal(line.level, "info");
  assert.equal(line.msg, "certificate loaded");
  assert.match(String(line.time), /^\d{4}-\d\d-\d\dT/);
  assert.equal(line.pid, undefined);
  assert.ok(!c.text().includes("PRIVATE"));
});

test("--log-level filters, --log-format pretty writes one readable line per call", async () => {
  const quiet = capture();
  createLogger({ stream: quiet.stream, level: "warn" }).info("hidden");
  assert.equal(quiet.text(), "");

  const c = capture();
  const log = createLogger({ stream: c.stream, format: "pretty" });
  log.info(accessLine(call), "access");
  if (!c.text().includes("\n")) await once(c.stream, "data");
  const first = c.text().split("\n")[0] ?? "";
  assert.match(
    first,
    /INFO: a\.example \/helloworld\.Greeter\/SayHello -> 127\.0\.0\.1:5000 UNAVAILABLE 2\.5 ms/,
  );
});

test("access line fields from a call report", () => {
  assert.deepEqual(accessLine(call), {
    gateway: "default/gw",
    listener: "http",
    authority: "a.example",
    path: "/helloworld.Greeter/SayHello",
    protocol: "grpc",
    route: "default/r",
    rule: 2,
    backend: "service/default/s/port/80",
    endpoint: "127.0.0.1:5000",
    grpcStatus: 14,
    grpcCode: "UNAVAILABLE",
    httpStatus: 200,
    durationMs: 2.5,
    requestBytes: 1,
    responseBytes: 2,
  });
  const noRoute = accessLine({
    listener: "port/8080",
    authority: "x",
    path: "/a/b",
    grpcStatus: 12,
    httpStatus: 200,
    durationMs: 0.1234567,
    requestBytes: 0,
    responseBytes: 0,
  });
  assert.equal(noRoute.gateway, "");
  assert.equal(noRoute.listener, "port/8080");
  assert.equal(noRoute.route, undefined);
  assert.equal(noRoute.durationMs, 0.123);
  assert.equal(accessLine({ ...call, protocol: "grpc-web" }).protocol, "grpc-web");
});

test("access lines: batched JSON lines in the logger's shape, through its destination", async () => {
  const c = capture();
  const log = createLogger({ stream: c.stream });
  const access = new AccessLog(log);
  access.record(call);
  const { route: _route, ...noRoute } = call;
  access.record({ ...noRoute, authority: 'quote"and\\backslash', grpcStatus: 12 });
  assert.equal(c.text(), "", "nothing is written on the call's own path");
  access.flush();
  const lines = jsonLines(c.text());
  assert.equal(lines.length, 2);
  assert.deepEqual(lines[0], { level: "info", time: lines[0]?.time, msg: "access", ...accessLine(call) });
  assert.match(String(lines[0]?.time), /^\d{4}-\d\d-\d\dT.*Z$/);
  assert.equal(lines[1]?.authority, 'quote"and\\backslash');
  assert.equal(lines[1]?.grpcCode, "UNIMPLEMENTED");

  const quiet = capture();
  const warnOnly = new AccessLog(createLogger({ stream: quiet.stream, level: "warn" }));
  warnOnly.record(call);
  warnOnly.flush();
  assert.equal(quiet.text(), "", "access lines are info: --log-level warn hides them");

  const pretty = capture();
  const prettyAccess = new AccessLog(createLogger({ stream: pretty.stream, format: "pretty" }));
  prettyAccess.record(call);
  prettyAccess.flush();
  if (!pretty.text().includes("\n")) await once(pretty.stream, "data");
  assert.match(
    pretty.text(),
    /INFO: a\.example \/helloworld\.Greeter\/SayHello -> 127\.0\.0\.1:5000 UNAVAILABLE 2\.5 ms/,
  );
});

test("access lines: every field as accessLine() has it, for awkward strings and numbers", () => {
  const cases: { name: string; info: typeof call & { gatewayError?: string } }[] = [
    { name: "plain", info: call },
    {
      name: "Latin-1 bytes in header values",
      info: { ...call, authority: "caf\u00e9.example", path: "/a/\u00ff" },
    },
    { name: "control characters", info: { ...call, path: "/a/b\u0001\t", authority: "x\ny" } },
    {
      name: "characters above U+00FF",
      info: { ...call, gatewayError: "no route \u20ac \ud83d\ude00 \ud800" },
    },
    { name: "quote and backslash", info: { ...call, endpoint: 'h"\\:1' } },
    {
      name: "failed over",
      info: {
        ...call,
        failover: "service/default/b/port/80: cannot connect to upstream 127.0.0.1:1: \u00e9",
      },
    },
    { name: "retried", info: { ...call, attempts: 3 } },
    { name: "gRPC-Web", info: { ...call, protocol: "grpc-web" } },
    { name: "zero duration", info: { ...call, durationMs: 0 } },
    { name: "sub-microsecond duration", info: { ...call, durationMs: 0.0004 } },
    { name: "durations that round up", info: { ...call, durationMs: 0.9999 } },
    { name: "tenths and hundredths", info: { ...call, durationMs: 12.05 } },
    { name: "thousandths", info: { ...call, durationMs: 3.001 } },
    { name: "microseconds", info: { ...call, durationMs: 0.1234567 } },
    {
      name: "large values",
      info: { ...call, durationMs: 86_400_000.5, requestBytes: 2 ** 40, responseBytes: 0 },
    },
    { name: "NaN duration", info: { ...call, durationMs: Number.NaN } },
    { name: "negative status", info: { ...call, grpcStatus: -1, httpStatus: 0 } },
    {
      name: "no listener match",
      info: { ...call, listener: "port/8080", route: undefined, backend: undefined },
    },
  ] as never;
  for (const { name, info } of cases) {
    const c = capture();
    const access = new AccessLog(createLogger({ stream: c.stream }));
    access.record(info);
    access.flush();
    const text = c.text();
    const line = JSON.parse(text) as Record<string, unknown>;
    const { level, time, msg, ...fields } = line;
    assert.deepEqual([level, msg], ["info", "access"], name);
    assert.match(String(time), /^\d{4}-\d\d-\d\dT.*Z$/, name);
    const want = JSON.parse(JSON.stringify(accessLine(info))) as Record<string, unknown>;
    assert.deepEqual(fields, want, name);
    assert.equal(text, `${text.trimEnd()}\n`, `${name}: one line`);
  }
});

test("access lines: a burst beyond the byte bound is dropped and counted, not held", () => {
  const c = capture();
  const access = new AccessLog(createLogger({ stream: c.stream }));
  const long = { ...call, authority: "a".repeat(60_000) };
  const total = Math.ceil(ACCESS_QUEUE_BYTES / 60_000) + 10;
  for (let i = 0; i < total; i++) access.record(long);
  access.flush();
  const lines = jsonLines(c.text());
  const kept = lines.length - 1;
  assert.ok(kept * 60_000 <= ACCESS_QUEUE_BYTES + 61_000, `${kept} long lines held`);
  assert.deepEqual(lines.at(-1), {
    level: "warn",
    time: lines.at(-1)?.time,
    dropped: total - kept,
    msg: "access log lines dropped",
  });
  assert.ok(total - kept >= 10);
});

test("access lines of a worker: its number on every line, writes cut at line ends within the atomic size", () => {
  const writes: string[] = [];
  const stream = new PassThrough();
  stream.on("data", (c: Buffer) => writes.push(c.toString("utf8")));
  const log = createLogger({ stream });
  const access = new AccessLog(log, { maxWriteBytes: 4096, fields: { worker: 3 } });
  for (let i = 0; i < 100; i++) access.record({ ...call, authority: `host-${i}.example` });
  access.flush();
  assert.ok(writes.length > 1, "a batch larger than the atomic size is split");
  for (const w of writes) {
    assert.ok(Buffer.byteLength(w) <= 4096, `a write of ${Buffer.byteLength(w)} bytes`);
    assert.ok(w.endsWith("\n"), "every write ends at a line end");
  }
  const lines = jsonLines(writes.join(""));
  assert.equal(lines.length, 100);
  assert.deepEqual(
    lines.map((l) => l.authority),
    Array.from({ length: 100 }, (_, i) => `host-${i}.example`),
  );
  for (const l of lines) assert.equal(l.worker, 3);
});

test("access lines are written without flush(): within the flush interval, or at once past a batch", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.parse("2026-01-02T03:04:05.000Z") });
  const c = capture();
  const access = new AccessLog(createLogger({ stream: c.stream }));
  access.record(call);
  t.mock.timers.tick(3);
  access.record({ ...call, authority: "b.example" });
  t.mock.timers.tick(ACCESS_FLUSH_MS - 4);
  await new Promise((r) => setImmediate(r));
  assert.equal(c.text(), "", "held until the interval has passed since the first line");
  t.mock.timers.tick(1);
  const lines = jsonLines(c.text());
  assert.deepEqual(
    lines.map((l) => [l.authority, l.time]),
    [
      ["a.example", "2026-01-02T03:04:05.000Z"],
      ["b.example", "2026-01-02T03:04:05.003Z"],
    ],
    "each line keeps the time its call ended",
  );

  const big = capture();
  const busy = new AccessLog(createLogger({ stream: big.stream }));
  for (let i = 0; i < ACCESS_BATCH_LINES; i++) busy.record(call);
  await new Promise((r) => setImmediate(r));
  assert.equal(
    big.text().trim().split("\n").length,
    ACCESS_BATCH_LINES,
    "a full batch goes out on the next turn",
  );
});
