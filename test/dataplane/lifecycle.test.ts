import assert from "node:assert/strict";
import { type AddressInfo, createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import type { RoutingTable } from "../../src/ir/routing-table.js";
import { GatewayError } from "../../src/util/errors.js";
import {
  type Backend,
  backend,
  closeAll,
  cluster,
  collect,
  forward,
  type grpc,
  listener,
  onceWithin,
  route,
  type SeenCall,
  serverStream,
  startBackend,
  startGateway,
  type TestGateway,
  table,
  testerClient,
  unary,
} from "../helpers/index.js";

describe("data plane: apply() swaps, close() drains, upstream stream limits", { timeout: 120_000 }, () => {
  let a: Backend;
  let b: Backend;
  let limited: Backend;
  const clients: grpc.Client[] = [];
  const gateways: TestGateway[] = [];

  /** Version `v` sends everything to `a` when even, to `b` when odd. */
  function tableFor(v: number): RoutingTable {
    const ca = cluster("a", [a.port]);
    const cb = cluster("b", [b.port]);
    const target = v % 2 === 0 ? ca : cb;
    return table([listener("http", 80, [route("all", {}, forward([backend(target)]))])], [ca, cb], v);
  }

  before(async () => {
    a = await startBackend({ name: "a" });
    b = await startBackend({ name: "b" });
    limited = await startBackend({ name: "limited", serverOptions: { "grpc.max_concurrent_streams": 2 } });
  });
  after(async () => {
    closeAll(...clients);
    await Promise.all(gateways.map((g) => g.close(0)));
    await Promise.all([a.close(), b.close(), limited.close()]);
  });

  it("no call fails over many swaps, and a stream started before a swap finishes on its table", async () => {
    const gw = await startGateway(tableFor(0));
    gateways.push(gw);
    const c = testerClient(gw.target(80));
    clients.push(c);
    // A long stream on table 0 (backend a).
    const long = serverStream(c, { responseCount: 40, intervalMs: 5 });
    const longResult = collect(long);
    await onceWithin(long, "data", "the first reply of the long call");
    let failures = 0;
    let total = 0;
    for (let v = 1; v <= 30; v++) {
      const calls = Array.from({ length: 5 }, () => unary(c, "Unary", {}));
      await gw.dp.apply(tableFor(v));
      for (const r of await Promise.all(calls)) {
        total++;
        if (r.code !== 0) failures++;
      }
    }
    assert.equal(failures, 0, `${failures} of ${total} calls failed during swaps`);
    const r = await longResult;
    assert.equal(r.code, 0, r.details);
    assert.equal(r.replies.length, 40);
    assert.ok(
      r.replies.every((x) => x.backend === "a"),
      "the long stream stayed on its table",
    );
    // After the last swap (v = 30, even) new calls go to a; one more swap sends them to b.
    await gw.dp.apply(tableFor(31));
    assert.equal((await unary(c, "Unary", {})).reply?.backend, "b");
  });

  it("adds and removes listener ports without disturbing the others", async () => {
    const ca = cluster("a", [a.port]);
    const two = table(
      [
        listener("one", 80, [route("r1", {}, forward([backend(ca)]))]),
        listener("two", 81, [route("r2", {}, forward([backend(ca)]))]),
      ],
      [ca],
    );
    const gw = await startGateway(two);
    gateways.push(gw);
    const port80 = gw.dp.boundPorts().get(80);
    const c = testerClient(gw.target(80));
    clients.push(c);
    assert.equal((await unary(c, "Unary", {})).code, 0);
    await gw.dp.apply(table([listener("one", 80, [route("r1", {}, forward([backend(ca)]))])], [ca], 2));
    assert.deepEqual([...gw.dp.boundPorts().keys()], [80]);
    assert.equal(gw.dp.boundPorts().get(80), port80, "port 80 kept its server");
    assert.equal((await unary(c, "Unary", {})).code, 0);
  });

  it("a removed port lets its calls in flight finish and takes no new connections", async () => {
    const ca = cluster("a", [a.port]);
    const both = table(
      [
        listener("one", 80, [route("r1", {}, forward([backend(ca)]))]),
        listener("two", 81, [route("r2", {}, forward([backend(ca)]))]),
      ],
      [ca],
    );
    const gw = await startGateway(both);
    gateways.push(gw);
    const target81 = gw.target(81);
    const c = testerClient(target81);
    clients.push(c);
    const stream = serverStream(c, { responseCount: 20, intervalMs: 10 });
    const result = collect(stream);
    await onceWithin(stream, "data", "the first reply of the stream");
    await gw.dp.apply(table([listener("one", 80, [route("r1", {}, forward([backend(ca)]))])], [ca], 2));
    const r = await result;
    assert.equal(r.code, 0, r.details);
    assert.equal(r.replies.length, 20);
    const late = testerClient(target81);
    clients.push(late);
    assert.equal((await unary(late, "Unary", {}, { timeoutMs: 2000 })).code, 14);
  });

  it("a port that cannot be bound rejects apply with GW_ERR_BIND and keeps the old table", async () => {
    // Another program holds the port (a server of this process would share it with workers, under cluster).
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
    after(() => holder.close());
    const taken = (holder.address() as AddressInfo).port;
    const { Dataplane } = await import("../helpers/gateway.js");
    const dp = new Dataplane({
      address: "127.0.0.1",
      portMap: new Map([
        [80, 0],
        [90, taken],
      ]),
    });
    await dp.apply(tableFor(0));
    const ca = cluster("a", [a.port]);
    const withBusy = table(
      [listener("one", 80, [route("r", {}, forward([backend(ca)]))]), listener("busy", 90, [])],
      [ca],
      5,
    );
    await assert.rejects(dp.apply(withBusy), (e: unknown) => {
      assert.ok(GatewayError.is(e));
      assert.equal(e.code, "GW_ERR_BIND");
      assert.match(e.message, /listener port 90/);
      return true;
    });
    assert.equal(dp.version(), 0);
    const c = testerClient(`127.0.0.1:${dp.boundPorts().get(80)}`);
    clients.push(c);
    assert.equal((await unary(c, "Unary", {})).reply?.backend, "a");
    await dp.close(0);
  });

  it("a table that breaks an IR invariant is refused with GW_ERR_CONFIG and the old one keeps serving", async () => {
    const gw = await startGateway(tableFor(0));
    gateways.push(gw);
    const ca = cluster("a", [a.port]);
    const broken = table([listener("http", 80, [route("zero", {}, forward([backend(ca, 0)]))])], [ca], 7);
    await assert.rejects(gw.dp.apply(broken), (e: unknown) => {
      assert.ok(GatewayError.is(e));
      assert.equal(e.code, "GW_ERR_CONFIG");
      assert.match(e.message, /routing table 7 refused: .*weights sum to 0/);
      return true;
    });
    const c = testerClient(gw.target(80));
    clients.push(c);
    assert.equal((await unary(c, "Unary", {})).reply?.backend, "a");
  });

  it("close() lets calls in flight finish, then stops", async () => {
    const gw = await startGateway(tableFor(0));
    const target = gw.target(80);
    const c = testerClient(target);
    clients.push(c);
    const started = onceWithin(a, "call", "backend a to see the call") as Promise<[SeenCall]>;
    const inflight = unary(c, "Unary", { delayMs: 200 });
    await started;
    assert.equal((await gw.stats()).activeCalls, 1);
    await gw.close(5000);
    const r = await inflight;
    assert.equal(r.code, 0, r.details);
    assert.equal((await gw.stats()).activeCalls, 0);
    const late = testerClient(target);
    clients.push(late);
    assert.equal(
      (await unary(late, "Unary", {}, { timeoutMs: 2000 })).code,
      14,
      "closed gateway accepts nothing",
    );
  });

  it("respects the upstream's stream limit by opening more sessions", async () => {
    const cl = cluster("limited", [limited.port]);
    const gw = await startGateway(
      table([listener("http", 80, [route("r", {}, forward([backend(cl)]))])], [cl]),
    );
    gateways.push(gw);
    const c = testerClient(gw.target(80));
    clients.push(c);
    // Warm up: the first session learns the peer's SETTINGS (max 2 streams).
    assert.equal((await unary(c, "Unary", {})).code, 0);
    const calls = Array.from({ length: 6 }, () => unary(c, "Unary", { delayMs: 150 }));
    const results = await Promise.all(calls);
    for (const r of results) assert.equal(r.code, 0, r.details);
    const { upstreamSessions } = await gw.stats();
    assert.ok(upstreamSessions >= 3, `sessions: ${upstreamSessions}`);
  });
});
