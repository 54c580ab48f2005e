/**
 * TrafficPolicy health checks and outlier ejection through the relay, with real grpc-js backends that switch
 * their health status, answer UNAVAILABLE, or are not there. Tests wait for the data plane's endpoint events
 * (one per data-plane process: with GRPCROUTE_TEST_WORKERS each worker checks and ejects on its own).
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { after, before, describe, it } from "node:test";
import type { EndpointEvent } from "../../src/dataplane/relay/endpoint-group.js";
import type { IrCluster, IrClusterPolicy } from "../../src/ir/routing-table.js";
import {
  type Backend,
  backend,
  closeAll,
  cluster,
  forward,
  freePort,
  grpc,
  listener,
  onceWithin,
  route,
  startBackend,
  startGateway,
  type TestGateway,
  table,
  testerClient,
  unary,
} from "../helpers/index.js";

/**
 * Data-plane processes: each runs its own health checks and reports their events. Outlier events come only
 * from the process whose calls saw the failures (a test client's one connection reaches one process).
 */
const PROCESSES = Number(process.env.GRPCROUTE_TEST_WORKERS ?? "1");
const reporters = (kind: EndpointEvent["kind"]): number =>
  kind === "ejected" || kind === "returned" ? 1 : PROCESSES;

const HEALTH: IrClusterPolicy = {
  sources: { healthCheck: "TrafficPolicy default/h" },
  healthCheck: { service: "", intervalMs: 100, timeoutMs: 1000, unhealthyThreshold: 2, healthyThreshold: 2 },
};

function outlier(
  consecutiveFailures: number,
  baseEjectionMs: number,
  maxEjectionPercent: number,
): IrClusterPolicy {
  return {
    sources: { outlierDetection: "TrafficPolicy default/o" },
    outlierDetection: { consecutiveFailures, intervalMs: 60_000, baseEjectionMs, maxEjectionPercent },
  };
}

/** Collects endpoint events and waits for them. */
class Events {
  readonly all: EndpointEvent[] = [];
  readonly emitter = new EventEmitter();
  readonly on = (e: EndpointEvent): void => {
    this.all.push(e);
    this.emitter.emit("event", e);
  };

  /** Resolves once every data-plane process concerned reported an event `kind` (for `endpoint`, when given). */
  async next(kind: EndpointEvent["kind"], endpoint?: string, from = this.all.length): Promise<EndpointEvent> {
    const match = (e: EndpointEvent) =>
      e.kind === kind && (endpoint === undefined || e.endpoint === endpoint);
    for (;;) {
      const seen = this.all.slice(from).filter(match);
      if (seen.length >= reporters(kind)) return seen[seen.length - 1]!;
      await onceWithin(this.emitter, "event", `a "${kind}" event${endpoint ? ` for ${endpoint}` : ""}`);
    }
  }
}

describe("TrafficPolicy health checks", { timeout: 120_000 }, () => {
  let a: Backend;
  let b: Backend;
  let unimplemented: Backend;
  let good: Backend;
  let gw: TestGateway;
  let client: grpc.Client;
  const events = new Events();

  before(async () => {
    a = await startBackend({ name: "a", health: "SERVING" });
    b = await startBackend({ name: "b", health: "SERVING" });
    unimplemented = await startBackend({ name: "no-health" });
    good = await startBackend({ name: "good", health: "SERVING" });
    const pair = cluster("pair", [a.port, b.port], { policy: HEALTH });
    const mixed = cluster("mixed", [unimplemented.port, good.port], { policy: HEALTH });
    const to = (name: string, c: IrCluster) =>
      route(name, { headers: [{ type: "Exact", name: "x-to", value: name }] }, forward([backend(c)]));
    gw = await startGateway(
      table([listener("http", 80, [to("pair", pair), to("mixed", mixed)])], [pair, mixed]),
      { onEndpointEvent: events.on },
    );
    client = testerClient(gw.target(80));
  });
  after(async () => {
    closeAll(client);
    await gw.close();
    await Promise.all([a.close(), b.close(), unimplemented.close(), good.close()]);
  });

  const backendsOf = async (to: string, n: number): Promise<string[]> => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await unary(client, "Unary", {}, { metadata: { "x-to": to } });
      assert.equal(r.code, grpc.status.OK, r.details);
      out.push(r.reply?.backend ?? "");
    }
    return out;
  };

  it("checks every endpoint over the connection that carries its calls", async () => {
    await backendsOf("pair", 4);
    const from = a.healthChecks.length;
    await onceWithin(a, "health", "a health check of endpoint a");
    const checks = a.healthChecks.slice(from);
    assert.ok(checks.length > 0);
    if (PROCESSES === 1) {
      const peers = new Set(a.calls.map((c) => c.peer));
      assert.ok(
        checks.every((h) => peers.has(h.peer)),
        `health checks came over a connection of their own: ${JSON.stringify(checks)} vs ${[...peers]}`,
      );
    } else {
      // Each worker checks over its own pool, whose connection carries the calls it serves (if any).
      const peers = new Set(a.healthChecks.map((h) => h.peer));
      assert.ok(
        peers.size <= PROCESSES,
        `health checks over ${peers.size} connections for ${PROCESSES} workers`,
      );
    }
  });

  it("NOT_SERVING takes an endpoint out at once; passing healthyThreshold checks brings it back", async () => {
    const from = events.all.length;
    a.setHealth("NOT_SERVING");
    const out = await events.next("unhealthy", a.address, from);
    assert.match(out.reason, /NOT_SERVING/);
    assert.deepEqual(
      [...new Set(await backendsOf("pair", 6))],
      ["b"],
      "no call goes to the unhealthy endpoint",
    );
    const back = events.all.length;
    a.setHealth("SERVING");
    const ev = await events.next("healthy", a.address, back);
    assert.match(ev.reason, /2 health check\(s\) passed in a row/);
    assert.deepEqual([...new Set(await backendsOf("pair", 6))].sort(), ["a", "b"]);
  });

  it("when every endpoint is unhealthy, calls go to them anyway (panic routing) and it is said", async () => {
    const from = events.all.length;
    a.setHealth("NOT_SERVING");
    b.setHealth("NOT_SERVING");
    const panic = await events.next("panic", "", from);
    assert.match(panic.reason, /every endpoint of service\/default\/pair\/port\/80 is unhealthy/);
    assert.deepEqual(new Set(await backendsOf("pair", 6)), new Set(["a", "b"]), "the calls still succeed");
    const over = events.all.length;
    b.setHealth("SERVING");
    await events.next("panic-over", "", over);
    assert.deepEqual([...new Set(await backendsOf("pair", 6))], ["b"]);
    a.setHealth("SERVING");
    await events.next("healthy", a.address, over);
  });

  it("a backend without the Health service fails its checks and leaves the pick", async () => {
    const ev = await events.next("unhealthy", unimplemented.address, 0);
    assert.match(ev.reason, /2 health check\(s\) failed in a row, the last: gRPC status 12/);
    assert.deepEqual([...new Set(await backendsOf("mixed", 6))], ["good"]);
    if (PROCESSES === 1) {
      const st = await gw.stats();
      const e = st.endpointHealth?.find((x) => x.endpoint === unimplemented.address);
      assert.equal(e?.healthy, false, "stats() report it unhealthy");
    }
  });
});

describe("TrafficPolicy outlier ejection", { timeout: 120_000 }, () => {
  let bad: Backend;
  let bad2: Backend;
  let good: Backend;
  let deadPort: number;
  let gw: TestGateway;
  let client: grpc.Client;
  const events = new Events();
  const UNAVAILABLE = { code: grpc.status.UNAVAILABLE, message: "down" };

  before(async () => {
    bad = await startBackend({ name: "bad", error: UNAVAILABLE, trailersOnly: true });
    bad2 = await startBackend({ name: "bad2", error: UNAVAILABLE, trailersOnly: true });
    good = await startBackend({ name: "good" });
    deadPort = await freePort();
    const one = cluster("one", [bad.port, good.port], { policy: outlier(2, 60_000, 50) });
    const both = cluster("both", [bad.port, bad2.port], { policy: outlier(1, 60_000, 50) });
    const growing = cluster("growing", [bad2.port], { policy: outlier(1, 150, 100) });
    const dead = cluster("dead", [deadPort, good.port], { policy: outlier(1, 60_000, 50) });
    const to = (name: string, c: IrCluster) =>
      route(name, { headers: [{ type: "Exact", name: "x-to", value: name }] }, forward([backend(c)]));
    gw = await startGateway(
      table(
        [listener("http", 80, [to("one", one), to("both", both), to("growing", growing), to("dead", dead)])],
        [one, both, growing, dead],
      ),
      { onEndpointEvent: events.on },
    );
    client = testerClient(gw.target(80));
  });
  after(async () => {
    closeAll(client);
    await gw.close();
    await Promise.all([bad.close(), bad2.close(), good.close()]);
  });

  const call = (to: string) => unary(client, "Unary", {}, { metadata: { "x-to": to } });

  it("consecutive UNAVAILABLE answers eject an endpoint; calls then avoid it", async () => {
    const from = events.all.length;
    const ejected = events.next("ejected", bad.address, from);
    // Round-robin: every other call reaches 'bad' until it is ejected.
    for (let i = 0; i < 8 && events.all.length === from; i++) await call("one");
    const ev = await ejected;
    assert.match(
      ev.reason,
      /2 UNAVAILABLE answers or failed connections in a row: ejected for 60000 ms \(ejection 1\)/,
    );
    for (let i = 0; i < 6; i++) {
      const r = await call("one");
      assert.equal(r.code, grpc.status.OK, `call ${i} after the ejection: ${r.details}`);
    }
  });

  it("maxEjectionPercent caps the share ejected at once (at least one)", async () => {
    const from = events.all.length;
    for (let i = 0; i < 10; i++) await call("both");
    const ejected = events.all
      .slice(from)
      .filter((e) => e.kind === "ejected" && e.backend.includes("/both/"));
    assert.equal(ejected.length, 1, `one of two endpoints ejected (50 %), got ${JSON.stringify(ejected)}`);
  });

  it("each ejection of the same endpoint lasts longer", async () => {
    const from = events.all.length;
    const first = events.next("ejected", bad2.address, from);
    await call("growing");
    assert.match((await first).reason, /ejected for 150 ms \(ejection 1\)/);
    await events.next("returned", bad2.address, from);
    const second = events.next("ejected", bad2.address, events.all.length);
    await call("growing");
    assert.match((await second).reason, /ejected for 300 ms \(ejection 2\)/);
  });

  it("connections that fail count as failures too", async () => {
    const from = events.all.length;
    const ejected = events.next("ejected", `127.0.0.1:${deadPort}`, from);
    for (let i = 0; i < 4 && events.all.length === from; i++) {
      const r = await call("dead");
      assert.equal(r.code, grpc.status.OK, "the call goes to the live endpoint");
    }
    await ejected;
  });
});
