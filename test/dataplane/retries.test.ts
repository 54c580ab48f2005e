/**
 * Retries of a TrafficPolicy through the relay (gRFC A6), with real grpc-js clients and backends: backends
 * that answer UNAVAILABLE at once (trailers-only), after their headers, with a pushback, or hang. Each case
 * has its own route (by the `x-to` header) and backends.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { IrCallPolicy, IrRetryPolicy, IrRoute } from "../../src/ir/routing-table.js";
import {
  type Backend,
  backend,
  clientStream,
  closeAll,
  cluster,
  forward,
  grpc,
  listener,
  route,
  startBackend,
  startGateway,
  type TestGateway,
  table,
  testerClient,
  unary,
} from "../helpers/index.js";

const UNAVAILABLE = { code: grpc.status.UNAVAILABLE, message: "not now" };

function retryPolicy(patch: Partial<IrRetryPolicy> = {}): IrCallPolicy {
  return {
    retry: {
      attempts: 3,
      retryOn: [grpc.status.UNAVAILABLE],
      perTryTimeoutMs: 0,
      backoffBaseMs: 5,
      backoffMaxMs: 20,
      maxBufferedBytes: 65536,
      budgetPercent: 100,
      source: "TrafficPolicy default/r",
      ...patch,
    },
  };
}

describe("TrafficPolicy retries", { timeout: 120_000 }, () => {
  const backends: Backend[] = [];
  let gw: TestGateway;
  const clients: grpc.Client[] = [];
  let client: grpc.Client;
  const b: Record<string, Backend> = {};

  before(async () => {
    const start = async (name: string, opts: Partial<Parameters<typeof startBackend>[0]> = {}) => {
      const x = await startBackend({ name, ...opts });
      backends.push(x);
      b[name] = x;
      return x;
    };
    await start("bad", { error: UNAVAILABLE, trailersOnly: true });
    await start("good");
    await start("always-bad", { error: UNAVAILABLE, trailersOnly: true });
    await start("internal", { error: { code: grpc.status.INTERNAL, message: "boom" }, trailersOnly: true });
    await start("headers-first", { error: UNAVAILABLE });
    await start("pushback", {
      error: UNAVAILABLE,
      trailersOnly: true,
      trailers: { "grpc-retry-pushback-ms": "300" },
    });
    await start("no-pushback", {
      error: UNAVAILABLE,
      trailersOnly: true,
      trailers: { "grpc-retry-pushback-ms": "-1" },
    });
    await start("hang", { delayMs: 10_000, trailersOnly: true });
    await start("good2");
    await start("slow-bad", { error: UNAVAILABLE, trailersOnly: true, delayMs: 300 });

    const c = (name: string, ...ports: number[]) => cluster(name, ports);
    const clusters = {
      pair: c("pair", b.bad!.port, b.good!.port),
      always: c("always", b["always-bad"]!.port),
      internal: c("internal", b.internal!.port),
      headers: c("headers", b["headers-first"]!.port),
      pushback: c("pushback", b.pushback!.port, b.good!.port),
      nopushback: c("nopushback", b["no-pushback"]!.port, b.good!.port),
      hang: c("hang", b.hang!.port, b.good2!.port),
      budget: c("budget", b["slow-bad"]!.port),
    };
    const to = (name: string, cl: ReturnType<typeof cluster>, policy: IrCallPolicy): IrRoute => ({
      ...route(name, { headers: [{ type: "Exact", name: "x-to", value: name }] }, forward([backend(cl)])),
      policy,
    });
    gw = await startGateway(
      table(
        [
          listener("http", 80, [
            to("pair", clusters.pair, retryPolicy()),
            to("always", clusters.always, retryPolicy()),
            to("internal", clusters.internal, retryPolicy()),
            to("headers", clusters.headers, retryPolicy()),
            to("pushback", clusters.pushback, retryPolicy()),
            to("nopushback", clusters.nopushback, retryPolicy()),
            to("hang", clusters.hang, retryPolicy({ attempts: 2, perTryTimeoutMs: 300 })),
            to("small-buffer", clusters.pair, retryPolicy({ maxBufferedBytes: 1000 })),
            to("budget-0", clusters.budget, retryPolicy({ attempts: 2, budgetPercent: 0 })),
            to("budget-100", clusters.budget, retryPolicy({ attempts: 2, budgetPercent: 100 })),
          ]),
        ],
        Object.values(clusters),
      ),
    );
    client = testerClient(gw.target(80));
    clients.push(client);
  });
  after(async () => {
    closeAll(...clients);
    await gw.close();
    await Promise.all(backends.map((x) => x.close()));
  });

  const call = (to: string, req: object = {}) => unary(client, "Unary", req, { metadata: { "x-to": to } });
  const report = (to: string) => gw.nextCall((i) => i.route === `grpcroute/default/${to}/rule/0/match/0`);

  it("an UNAVAILABLE answer is retried on the other endpoint, never on the same one", async () => {
    const badBefore = b.bad!.calls.length;
    let retried = 0;
    for (let i = 0; i < 6; i++) {
      const info = report("pair");
      const r = await call("pair");
      assert.equal(r.code, grpc.status.OK, r.details);
      assert.equal(r.reply?.backend, "good");
      const attempts = (await info).attempts ?? 1;
      assert.ok(
        attempts <= 2,
        `call ${i} took ${attempts} attempts: a retry went back to the failed endpoint`,
      );
      if (attempts === 2) {
        retried++;
        assert.equal(r.reply?.metadata?.["grpc-previous-rpc-attempts"], "1");
      }
    }
    assert.equal(b.bad!.calls.length - badBefore, retried, "every call that reached 'bad' was retried once");
    assert.ok(retried > 0, "round-robin sent some first attempts to 'bad'");
  });

  it("attempts are capped; each retry says how many came before", async () => {
    const before = b["always-bad"]!.calls.length;
    const info = report("always");
    const r = await call("always");
    assert.equal(r.code, grpc.status.UNAVAILABLE, r.details);
    assert.equal((await info).attempts, 3);
    const seen = b["always-bad"]!.calls.slice(before).map((c) => c.metadata["grpc-previous-rpc-attempts"]);
    assert.deepEqual(seen, [undefined, "1", "2"]);
  });

  it("is not retried: another status, an answer after headers, a negative pushback", async () => {
    const cases = [
      { to: "internal", backend: "internal", code: grpc.status.INTERNAL },
      { to: "headers", backend: "headers-first", code: grpc.status.UNAVAILABLE },
    ];
    for (const c of cases) {
      const before = b[c.backend]!.calls.length;
      const info = report(c.to);
      const r = await call(c.to);
      assert.equal(r.code, c.code, `${c.to}: ${r.details}`);
      assert.equal((await info).attempts, undefined, `${c.to}: one attempt`);
      assert.equal(b[c.backend]!.calls.length - before, 1, `${c.to}: the backend saw one call`);
    }
    // A negative pushback: the call that drew 'no-pushback' first gets its UNAVAILABLE, not a retry.
    for (let i = 0; i < 4; i++) {
      const info = report("nopushback");
      const r = await call("nopushback");
      const attempts = (await info).attempts;
      assert.equal(attempts, undefined, "never retried");
      if (r.reply?.backend !== "good") assert.equal(r.code, grpc.status.UNAVAILABLE);
    }
  });

  it("a pushback replaces the backoff", async () => {
    for (let i = 0; i < 4; i++) {
      const info = report("pushback");
      const started = performance.now();
      const r = await call("pushback");
      assert.equal(r.code, grpc.status.OK, r.details);
      if ((await info).attempts === 2) {
        assert.ok(performance.now() - started >= 290, "the retry waited the pushback's 300 ms");
        return;
      }
    }
    assert.fail("no call drew the pushing-back endpoint first in 4 round-robin calls");
  });

  it("an attempt that gets no headers within perTryTimeout is cancelled and retried elsewhere", async () => {
    for (let i = 0; i < 4; i++) {
      const hangBefore = b.hang!.calls.length;
      const info = report("hang");
      const r = await call("hang");
      assert.equal(r.code, grpc.status.OK, r.details);
      assert.equal(r.reply?.backend, "good2");
      if ((await info).attempts === 2) {
        const seen = b.hang!.calls[hangBefore];
        assert.ok(seen !== undefined);
        const ended = await b.hang!.ended(seen);
        assert.equal(ended.end, "cancelled", "the hung attempt was cancelled upstream");
        return;
      }
    }
    assert.fail("no call drew the hanging endpoint first in 4 round-robin calls");
  });

  it("a request larger than maxBufferedBytes is not retried", async () => {
    const c = testerClient(gw.target(80));
    clients.push(c);
    for (let i = 0; i < 4; i++) {
      const info = report("small-buffer");
      const r = await clientStream(c, [{ payload: Buffer.alloc(2000) }], {
        metadata: { "x-to": "small-buffer" },
      });
      assert.equal(
        (await info).attempts,
        undefined,
        "a 2000-byte request never retried under a 1000-byte buffer",
      );
      if (r.code === grpc.status.UNAVAILABLE) return;
    }
    assert.fail("no call drew the failing endpoint first in 4 round-robin calls");
  });

  it("the budget caps retries in flight at a share of the calls in flight (at least 3)", async () => {
    const attemptsOf = async (to: string, n: number): Promise<number> => {
      const before = b["slow-bad"]!.calls.length;
      const results = await Promise.all(Array.from({ length: n }, () => call(to)));
      for (const r of results) assert.equal(r.code, grpc.status.UNAVAILABLE);
      return b["slow-bad"]!.calls.length - before;
    };
    assert.equal(await attemptsOf("budget-100", 10), 20, "100 %: every call retried once");
    const capped = await attemptsOf("budget-0", 10);
    assert.ok(capped >= 11 && capped <= 13, `0 %: at most 3 retries in flight (saw ${capped - 10} retries)`);
  });
});
