/**
 * Deadlines and idle streams through the relay (TrafficPolicy `timeouts`), with real grpc-js clients and
 * backends: the backend is told the time left, a policy's request timeout cuts the call and resets the
 * upstream stream, and `streamIdle` ends a quiet stream but never a busy one.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Http2Server, type IncomingHttpHeaders } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { IrCallPolicy, IrRoute } from "../../src/ir/routing-table.js";
import {
  type Backend,
  backend,
  bidi,
  closeAll,
  cluster,
  collect,
  forward,
  grpc,
  grpcFrame,
  listener,
  rawGrpcCall,
  route,
  startBackend,
  startGateway,
  type TestGateway,
  table,
  testerClient,
  unary,
  WAIT_MS,
  within,
} from "../helpers/index.js";

const POLICY = "TrafficPolicy default/t";

function withPolicy(r: IrRoute, policy: IrCallPolicy): IrRoute {
  return { ...r, policy };
}

/** A node:http2 backend that records each request's headers and answers OK at once. */
async function recordingBackend(): Promise<{
  server: Http2Server;
  port: number;
  seen: IncomingHttpHeaders[];
}> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer();
  server.on("stream", (s, headers) => {
    seen.push(headers);
    s.on("data", () => {});
    s.on("end", () => {
      s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
      s.end(grpcFrame(Buffer.alloc(0)));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port, seen };
}

/** The milliseconds of a `grpc-timeout` value the relay wrote (it writes milliseconds). */
function timeoutMs(v: string | string[] | undefined): number {
  const s = String(v ?? "");
  assert.match(s, /^\d+m$/, `grpc-timeout "${s}" is in milliseconds`);
  return Number(s.slice(0, -1));
}

describe("TrafficPolicy timeouts: deadlines and idle streams", { timeout: 120_000 }, () => {
  let rec: Awaited<ReturnType<typeof recordingBackend>>;
  let slow: Backend;
  let a: Backend;
  let gw: TestGateway;
  const clients: grpc.Client[] = [];

  before(async () => {
    rec = await recordingBackend();
    slow = await startBackend({ name: "slow", delayMs: 3000 });
    a = await startBackend({ name: "a" });
    const crec = cluster("rec", [rec.port]);
    const cslow = cluster("slow", [slow.port]);
    const ca = cluster("a", [a.port]);
    const to = (name: string) => ({ headers: [{ type: "Exact" as const, name: "x-to", value: name }] });
    const timeouts = (requestMs: number, streamIdleMs = 0): IrCallPolicy => ({
      timeouts: { requestMs, streamIdleMs, source: POLICY },
    });
    gw = await startGateway(
      table(
        [
          listener("http", 80, [
            route("rec-none", to("rec-none"), forward([backend(crec)])),
            withPolicy(route("rec-2s", to("rec-2s"), forward([backend(crec)])), timeouts(2000)),
            withPolicy(route("slow", to("slow"), forward([backend(cslow)])), timeouts(300)),
            withPolicy(route("idle", to("idle"), forward([backend(ca)])), timeouts(0, 400)),
          ]),
        ],
        [crec, cslow, ca],
      ),
    );
  });
  after(async () => {
    closeAll(...clients);
    await gw.close();
    await Promise.all([slow.close(), a.close()]);
    rec.server.close();
  });

  it("the backend is told the time left: the earlier of the client's grpc-timeout and the policy's", async () => {
    const cases: { name: string; to: string; clientTimeout?: string; max: number; min: number }[] = [
      { name: "the client's, rewritten in ms", to: "rec-none", clientTimeout: "5S", max: 5000, min: 4000 },
      { name: "the policy's, when the client sets none", to: "rec-2s", max: 2000, min: 1000 },
      { name: "the policy's, when it is earlier", to: "rec-2s", clientTimeout: "10S", max: 2000, min: 1000 },
      { name: "the client's, when it is earlier", to: "rec-2s", clientTimeout: "900m", max: 900, min: 1 },
    ];
    for (const c of cases) {
      const before = rec.seen.length;
      const headers: Record<string, string> = { "x-to": c.to };
      if (c.clientTimeout !== undefined) headers["grpc-timeout"] = c.clientTimeout;
      const r = await rawGrpcCall(
        gw.target(80),
        "/grpcroute.test.Tester/Unary",
        headers,
        grpcFrame(Buffer.alloc(0)),
      );
      assert.equal(r.status, "0", `${c.name}: ${r.message}`);
      assert.equal(rec.seen.length, before + 1, `${c.name}: the backend saw the call`);
      const ms = timeoutMs(rec.seen[before]?.["grpc-timeout"]);
      assert.ok(ms <= c.max && ms >= c.min, `${c.name}: grpc-timeout ${ms} ms not in [${c.min}, ${c.max}]`);
    }
  });

  it("a call without any deadline reaches the backend without grpc-timeout", async () => {
    const before = rec.seen.length;
    const r = await rawGrpcCall(
      gw.target(80),
      "/grpcroute.test.Tester/Unary",
      { "x-to": "rec-none" },
      grpcFrame(Buffer.alloc(0)),
    );
    assert.equal(r.status, "0");
    assert.equal(rec.seen[before]?.["grpc-timeout"], undefined);
  });

  it("timeouts.request cuts the call with DEADLINE_EXCEEDED and cancels it upstream", async () => {
    const c = testerClient(gw.target(80));
    clients.push(c);
    const started = slow.calls.length;
    const r = await unary(c, "Unary", {}, { metadata: { "x-to": "slow" } });
    assert.equal(r.code, grpc.status.DEADLINE_EXCEEDED, r.details);
    assert.match(r.details, /timeouts\.request 300 ms of TrafficPolicy default\/t/);
    const seen = slow.calls[started];
    assert.ok(seen !== undefined, "the backend saw the call");
    const ended = await within(slow.ended(seen), "the backend to see the call cancelled");
    assert.equal(ended.end, "cancelled");
  });

  it("streamIdle ends a stream with no message either way, not one that keeps talking", async () => {
    const c = testerClient(gw.target(80));
    clients.push(c);
    // Busy: a message every 50 ms for 1.2 s (three times the idle limit), then the end.
    const busy = bidi(c, { metadata: { "x-to": "idle" } });
    const busyDone = collect(busy);
    for (let i = 0; i < 24; i++) {
      busy.write({ responseSize: 1 });
      await new Promise((r) => setTimeout(r, 50));
    }
    busy.end();
    const b = await busyDone;
    assert.equal(b.code, grpc.status.OK, `the busy stream: ${b.details}`);
    assert.equal(b.replies.length, 24);

    // Quiet: one message, then nothing.
    const quiet = bidi(c, { metadata: { "x-to": "idle" } });
    const quietDone = collect(quiet);
    quiet.write({ responseSize: 1 });
    const started = performance.now();
    const q = await quietDone;
    assert.equal(q.code, grpc.status.DEADLINE_EXCEEDED, q.details);
    assert.match(q.details, /stream idle: no message either way for 400 ms/);
    assert.ok(performance.now() - started >= 350, "cut after the idle time, not before");
    assert.ok(WAIT_MS > 0);
  });
});
