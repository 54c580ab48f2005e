import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { CallInfo } from "../../src/dataplane/types.js";
import {
  BACK_WITHIN_MS,
  type Backend,
  backend,
  closeAll,
  cluster,
  firstServedBy,
  forward,
  freePort,
  type grpc,
  invalidBackend,
  listener,
  route,
  startBackend,
  startGateway,
  type TestGateway,
  table,
  testerClient,
  unary,
  until,
} from "../helpers/index.js";

describe("data plane: a dead backendRef loses its share and gets it back", { timeout: 30_000 }, () => {
  let a: Backend;
  let b: Backend;
  let gw: TestGateway;
  const clients: grpc.Client[] = [];

  before(async () => {
    a = await startBackend({ name: "a" });
    b = await startBackend({ name: "b" });
    const ca = cluster("a", [a.port]);
    const cb = cluster("b", [b.port]);
    gw = await startGateway(
      table(
        [listener("http", 80, [route("split", {}, forward([backend(ca, 50), backend(cb, 50)]))])],
        [ca, cb],
      ),
    );
  });
  after(async () => {
    closeAll(...clients);
    await gw.close();
    await Promise.all([a.close(), b.close()]);
  });

  it("50/50: with one Service down every call is served by the other; back, it gets calls within 1 s", async (t) => {
    const client = testerClient(gw.target(80));
    clients.push(client);
    const before = new Set<string>();
    for (let i = 0; i < 20 && before.size < 2; i++) {
      const r = await unary(client, "Unary", {});
      assert.equal(r.code, 0, r.details);
      before.add(r.reply!.backend);
    }
    assert.deepEqual([...before].sort(), ["a", "b"], "both backends serve before one goes down");

    const port = b.port;
    b.kill();
    const n = 40;
    for (let i = 0; i < n; i++) {
      const r = await unary(client, "Unary", {}, { timeoutMs: 5000 });
      assert.equal(r.code, 0, `call ${i} with b down: ${r.details}`);
      assert.equal(r.reply?.backend, "a", `call ${i} with b down`);
    }
    // The report names the backend that served, and what the call gave up first.
    const failedOver = (c: CallInfo) => c.failover !== undefined;
    await until("the report of a call that failed over", 5000, gw.events, "call", () =>
      gw.calls.some(failedOver),
    );
    const info = gw.calls.find(failedOver)!;
    assert.equal(info.backend, "service/default/a/port/80");
    assert.equal(info.grpcStatus, 0);
    assert.match(
      info.failover!,
      new RegExp(`^service/default/b/port/80: .*127\\.0\\.0\\.1:${port}|set aside`),
    );

    b = await startBackend({ name: "b", port });
    const back = await firstServedBy(client, "b", performance.now());
    t.diagnostic(`b served again ${Math.round(back)} ms after listening`);
    assert.ok(back < BACK_WITHIN_MS, `b got its first call ${Math.round(back)} ms after listening again`);
  });
});

describe("data plane: which backendRefs fail over, and what a call that cannot be sent says", {
  timeout: 30_000,
}, () => {
  let a: Backend;
  let gw: TestGateway;
  let dead1: number;
  let dead2: number;
  const clients: grpc.Client[] = [];

  before(async () => {
    a = await startBackend({ name: "a" });
    dead1 = await freePort();
    dead2 = await freePort();
    const ca = cluster("a", [a.port]);
    const empty = cluster("empty", []);
    const cd1 = cluster("dead1", [dead1]);
    const cd2 = cluster("dead2", [dead2]);
    const on = (m: string, f: ReturnType<typeof forward>) =>
      route(m.toLowerCase(), { method: { type: "Exact", service: "grpcroute.test.Tester", method: m } }, f);
    gw = await startGateway(
      table(
        [
          listener("std", 80, [
            // Unary: a Service without ready endpoints beside a live one.
            on("Unary", forward([backend(empty), backend(ca)])),
            // ServerStream: two backendRefs that refuse connections, and one without endpoints.
            on("ServerStream", forward([backend(cd1), backend(cd2), backend(empty)])),
            // ClientStream: an invalid backendRef keeps its share of UNAVAILABLE.
            on("ClientStream", forward([invalidBackend("backend not found: default/missing"), backend(ca)])),
          ]),
          listener("lattice", 81, [on("Unary", forward([backend(cd1), backend(ca)]))], {
            profile: "lattice",
            noRoute: { kind: "direct", httpStatus: 404, message: "no rule matches" },
          }),
        ],
        [ca, empty, cd1, cd2],
      ),
    );
  });
  after(async () => {
    closeAll(...clients);
    await gw.close();
    await a.close();
  });

  it("a Service without ready endpoints gives its share to the others", async () => {
    const client = testerClient(gw.target(80));
    clients.push(client);
    for (let i = 0; i < 20; i++) {
      const r = await unary(client, "Unary", {});
      assert.equal(r.code, 0, `call ${i}: ${r.details}`);
      assert.equal(r.reply?.backend, "a");
    }
  });

  it("no endpoint anywhere: UNAVAILABLE at once, naming every backendRef tried", async () => {
    const client = testerClient(gw.target(80));
    clients.push(client);
    const call = (): Promise<{ code: number; details: string }> =>
      new Promise((resolve) => {
        const s = (
          client as unknown as Record<string, (...a: unknown[]) => grpc.ClientReadableStream<unknown>>
        ).ServerStream!({}, { deadline: Date.now() + 5000 });
        s.on("data", () => {});
        s.on("error", () => {});
        s.on("status", (st: grpc.StatusObject) => resolve({ code: st.code, details: st.details }));
      });
    const first = await call();
    assert.equal(first.code, 14, first.details);
    // The first call finds both refusing backendRefs untried, so it tries them both, in either order.
    assert.match(first.details, /^no backendRef of the rule could take the call: /);
    assert.match(
      first.details,
      new RegExp(`service/default/dead1/port/80: cannot connect to upstream 127\\.0\\.0\\.1:${dead1}`),
    );
    assert.match(
      first.details,
      new RegExp(`service/default/dead2/port/80: cannot connect to upstream 127\\.0\\.0\\.1:${dead2}`),
    );
    for (let i = 0; i < 10; i++) {
      const r = await call();
      assert.equal(r.code, 14, r.details);
      assert.match(r.details, /backendRef/, `call ${i} says nothing of the other backendRefs: ${r.details}`);
    }
  });

  it("an invalid backendRef keeps its share of UNAVAILABLE (Gateway API), the valid one the rest", async () => {
    const client = testerClient(gw.target(80));
    clients.push(client);
    const n = 300;
    let unavailable = 0;
    for (let i = 0; i < n; i++) {
      const r = await new Promise<{ code: number; details: string }>((resolve) => {
        const s = (
          client as unknown as Record<string, (...a: unknown[]) => grpc.ClientWritableStream<unknown>>
        ).ClientStream!((err: grpc.ServiceError | null) =>
          resolve({ code: err?.code ?? 0, details: err?.details ?? "" }),
        );
        s.end();
      });
      if (r.code === 14) {
        assert.match(r.details, /backend not found/);
        unavailable++;
      } else assert.equal(r.code, 0, r.details);
    }
    // Half the calls, within 50 (about 6 standard deviations).
    assert.ok(Math.abs(unavailable - n / 2) <= 50, `${unavailable} of ${n} calls got UNAVAILABLE`);
  });

  it("Lattice profile: a target group that cannot be reached keeps its share", async () => {
    const client = testerClient(gw.target(81));
    clients.push(client);
    const codes = new Map<number, number>();
    for (let i = 0; i < 60; i++) {
      const r = await unary(client, "Unary", {}, { timeoutMs: 5000 });
      codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
      if (r.code !== 0) assert.equal(r.code, 14, r.details);
    }
    assert.ok((codes.get(0) ?? 0) > 0, "the live target group served no call");
    assert.ok((codes.get(14) ?? 0) > 0, "calls drawn for the dead target group were moved to the live one");
  });
});
