import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  type Backend,
  backend,
  closeAll,
  cluster,
  forward,
  freePort,
  type grpc,
  listener,
  onceWithin,
  otherClient,
  route,
  type SeenCall,
  startBackend,
  startGateway,
  type TestGateway,
  table,
  testerClient,
  unary,
} from "../helpers/index.js";

describe("data plane: weights, header filters and mirrors", { timeout: 120_000 }, () => {
  let a: Backend;
  let b: Backend;
  let z: Backend;
  let mirror: Backend;
  let gw: TestGateway;
  const clients: grpc.Client[] = [];

  before(async () => {
    a = await startBackend({ name: "a" });
    b = await startBackend({ name: "b" });
    z = await startBackend({ name: "z" });
    mirror = await startBackend({ name: "mirror" });
    // A port nobody listens on: a dead mirror.
    const deadPort = await freePort();
    const ca = cluster("a", [a.port]);
    const cb = cluster("b", [b.port]);
    const cz = cluster("z", [z.port]);
    const cm = cluster("mirror", [mirror.port]);
    const cdead = cluster("dead", [deadPort]);
    gw = await startGateway(
      table(
        [
          listener("http", 80, [
            route(
              "weights",
              { method: { type: "Exact", service: "grpcroute.test.Tester", method: "Unary" } },
              forward([backend(ca, 3), backend(cb, 1), backend(cz, 0)]),
            ),
            route(
              "filters",
              { method: { type: "Exact", service: "grpcroute.test.Other", method: "Unary" } },
              forward(
                [
                  backend(ca, 1, {
                    requestHeaders: { set: [{ name: "x-backend-level", value: "a" }], add: [], remove: [] },
                    responseHeaders: { set: [{ name: "x-resp-backend", value: "a" }], add: [], remove: [] },
                  }),
                ],
                {
                  requestHeaders: {
                    set: [{ name: "X-Set", value: "set-value" }],
                    add: [{ name: "x-add", value: "added" }],
                    remove: ["X-Remove"],
                  },
                  responseHeaders: {
                    set: [{ name: "x-resp-set", value: "r" }],
                    add: [{ name: "x-resp-add", value: "r2" }],
                    remove: ["x-backend"],
                  },
                  mirrors: [
                    { cluster: cm.name, numerator: 100, denominator: 100 },
                    { cluster: cdead.name, numerator: 100, denominator: 100 },
                  ],
                },
              ),
            ),
          ]),
        ],
        [ca, cb, cz, cm, cdead],
      ),
    );
  });
  after(async () => {
    closeAll(...clients);
    await gw.close();
    await Promise.all([a, b, z, mirror].map((x) => x.close()));
  });

  it("splits calls by weight; weight 0 gets nothing", async () => {
    const c = testerClient(gw.target(80));
    clients.push(c);
    const n = 400;
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => unary(c, "Unary", {})));
      for (const r of batch) {
        assert.equal(r.code, 0, r.details);
        const k = r.reply?.backend ?? "?";
        counts[k] = (counts[k] ?? 0) + 1;
      }
    }
    assert.equal(counts.z, undefined, "weight 0 got traffic");
    const shareA = (counts.a ?? 0) / n;
    // Expected 0.75; binomial sd at n=400 is ~0.022, so 0.1 is over 4 sd.
    assert.ok(Math.abs(shareA - 0.75) < 0.1, `share of a: ${shareA} (${JSON.stringify(counts)})`);
  });

  it("modifies request headers (what the backend sees) and response headers (what the client sees)", async () => {
    const o = otherClient(gw.target(80));
    clients.push(o);
    const r = await unary(
      o,
      "Unary",
      {},
      { metadata: { "x-remove": "gone", "x-add": "original", "x-set": "old" } },
    );
    assert.equal(r.code, 0, r.details);
    const seen = r.reply?.metadata ?? {};
    assert.equal(seen["x-set"], "set-value");
    assert.equal(seen["x-add"], "original, added");
    assert.equal(seen["x-remove"], undefined);
    assert.equal(seen["x-backend-level"], "a");
    assert.equal(r.headers["x-resp-set"], "r");
    assert.equal(r.headers["x-resp-add"], "r2");
    assert.equal(r.headers["x-resp-backend"], "a");
    assert.equal(r.headers["x-backend"], undefined, "removed from response headers");
  });

  it("mirrors the call to the mirror backend; a dead mirror does not fail the main call", async () => {
    const o = otherClient(gw.target(80));
    clients.push(o);
    const mirrored = onceWithin(mirror, "call", "the mirror backend to see the copy") as Promise<[SeenCall]>;
    const r = await unary(o, "Unary", { payload: Buffer.from("copy me") }, { metadata: { "x-trace": "m1" } });
    assert.equal(r.code, 0, r.details);
    assert.equal(r.reply?.backend, "a");
    const [seen] = await mirrored;
    assert.equal(seen.path, "/grpcroute.test.Other/Unary");
    assert.equal(seen.metadata["x-trace"], "m1");
  });
});
