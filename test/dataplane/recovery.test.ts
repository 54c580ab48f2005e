import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import {
  BACK_WITHIN_MS,
  type Backend,
  backend,
  closeAll,
  closeServer,
  cluster,
  firstServedBy,
  forward,
  type grpc,
  listener,
  type RefusingServer,
  refusingServer,
  route,
  startBackend,
  startGateway,
  type TestGateway,
  table,
  testerClient,
  unary,
  until,
} from "../helpers/index.js";

describe("data plane: an endpoint set aside for long comes back as fast", { timeout: 30_000 }, () => {
  let a: Backend;
  let e2: Backend | undefined;
  let fake: RefusingServer;
  let gw: TestGateway;
  const clients: grpc.Client[] = [];
  // Shortened timings: set aside 100 ms, doubling up to 3 s (reached after 7 failed attempts in a row), and
  // background attempts every 100 ms. Without those attempts the endpoint would wait up to 3 s for a call.
  const upstream = { backoffBaseMs: 100, backoffMaxMs: 3000, probeIntervalMs: 100 };
  const ceilingAfter = 7;

  before(async () => {
    a = await startBackend({ name: "a" });
    fake = await refusingServer();
    // The failing endpoint first: round-robin starts there.
    const c = cluster("two", [fake.port, a.port]);
    gw = await startGateway(
      table([listener("http", 80, [route("two", {}, forward([backend(c)]))])], [c]),
      {},
      upstream,
    );
  });
  after(async () => {
    closeAll(...clients);
    await gw.close();
    await Promise.all([a.close(), e2?.close()]);
    fake.server.close();
  });

  it("after reaching the longest backoff, a restarted endpoint gets calls within 1 s", async (t) => {
    const client = testerClient(gw.target(80));
    clients.push(client);
    // Calls set the failing endpoint aside (two failed connections); each is served by the other one.
    for (let i = 0; i < 10 && fake.attempts() < 2; i++) {
      const r = await unary(client, "Unary", {}, { timeoutMs: 5000 });
      assert.equal(r.code, 0, r.details);
      assert.equal(r.reply?.backend, "a");
    }
    assert.ok(fake.attempts() >= 2, `the failing endpoint was tried ${fake.attempts()} times by 10 calls`);
    // Then background attempts alone fail until the backoff is at its ceiling.
    await until(
      `${ceilingAfter + 1} connection attempts to the set-aside endpoint`,
      10_000,
      fake.server,
      "connection",
      () => fake.attempts() > ceilingAfter,
    );
    await closeServer(fake.server);
    e2 = await startBackend({ name: "e2", port: fake.port });
    const back = await firstServedBy(client, "e2", performance.now());
    t.diagnostic(`e2 served again ${Math.round(back)} ms after listening`);
    assert.ok(back < BACK_WITHIN_MS, `e2 got its first call ${Math.round(back)} ms after listening again`);
  });
});

describe("data plane: background attempts stop when the endpoint leaves the table", {
  timeout: 30_000,
}, () => {
  let a: Backend;
  let fake: RefusingServer;
  let gw: TestGateway;
  const clients: grpc.Client[] = [];
  const probeIntervalMs = 50;
  /** Background attempts this many intervals would make, had they not stopped. */
  const watchIntervals = 10;

  before(async () => {
    a = await startBackend({ name: "a" });
    fake = await refusingServer();
    const c = cluster("two", [fake.port, a.port]);
    gw = await startGateway(
      table([listener("http", 80, [route("two", {}, forward([backend(c)]))])], [c]),
      {},
      { probeIntervalMs, backoffBaseMs: 10_000 },
    );
  });
  after(async () => {
    closeAll(...clients);
    await gw.close();
    await a.close();
    fake.server.close();
  });

  it("no more connection attempts once a new table drops the endpoint", async () => {
    const client = testerClient(gw.target(80));
    clients.push(client);
    for (let i = 0; i < 10 && fake.attempts() < 2; i++)
      assert.equal((await unary(client, "Unary", {}, { timeoutMs: 5000 })).code, 0);
    await until(
      "background connection attempts",
      10_000,
      fake.server,
      "connection",
      () => fake.attempts() >= 4,
    );
    const c = cluster("two", [a.port]);
    await gw.dp.apply(table([listener("http", 80, [route("two", {}, forward([backend(c)]))])], [c], 2));
    // One attempt may have been under way when the table changed.
    const at = fake.attempts() + 1;
    // Proving that nothing more happens needs a window: ten intervals, each of which would make an attempt.
    await delay(probeIntervalMs * watchIntervals);
    assert.ok(
      fake.attempts() <= at,
      `${fake.attempts() - at + 1} attempts after the endpoint left the table`,
    );
    assert.equal((await unary(client, "Unary", {}, { timeoutMs: 5000 })).reply?.backend, "a");
  });
});
