/**
 * A client that makes the relay keep request bytes for retries: streams on a retrying route that send a lot
 * and never end, so their backend never answers and the bytes stay kept for a replay. The data plane's retry
 * buffer (`serve --retry-buffer-limit`) bounds what all calls keep together; past it calls are no longer
 * retried, but they still go through, and a well-behaved client's calls keep succeeding meanwhile.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  type Backend,
  backend,
  closeAll,
  cluster,
  forward,
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

const LIMIT = 1024 * 1024;
const STREAMS = 12;
const MESSAGE = 128 * 1024;
const MESSAGES = 6;

describe("attack: request bytes kept for retries", { timeout: 120_000 }, () => {
  let b: Backend;
  let gw: TestGateway;
  const clients: grpc.Client[] = [];

  before(async () => {
    b = await startBackend({ name: "b", trailersOnly: true });
    const c = cluster("b", [b.port]);
    const r = {
      ...route("retrying", {}, forward([backend(c)])),
      policy: {
        retry: {
          attempts: 3,
          retryOn: [grpc.status.UNAVAILABLE],
          perTryTimeoutMs: 0,
          backoffBaseMs: 5,
          backoffMaxMs: 20,
          maxBufferedBytes: 4 * 1024 * 1024,
          budgetPercent: 100,
          source: "TrafficPolicy default/r",
        },
      },
    };
    gw = await startGateway(table([listener("http", 80, [r])], [c]), { retryBufferBytes: LIMIT });
  });
  after(async () => {
    closeAll(...clients);
    await gw.close();
    await b.close();
  });

  it("never keeps more than the limit, and a well-behaved client's calls succeed meanwhile", async () => {
    const attacker = testerClient(gw.target(80));
    const good = testerClient(gw.target(80));
    clients.push(attacker, good);
    const total = STREAMS * MESSAGE * MESSAGES;
    const received = (): number => b.calls.reduce((n, c) => n + c.bytes, 0);
    const streams: grpc.ClientWritableStream<unknown>[] = [];
    for (let i = 0; i < STREAMS; i++) {
      const s = (
        attacker as unknown as Record<string, (...a: unknown[]) => grpc.ClientWritableStream<unknown>>
      ).ClientStream!(new grpc.Metadata(), {}, () => {});
      s.on("error", () => {});
      for (let m = 0; m < MESSAGES; m++) s.write({ payload: Buffer.alloc(MESSAGE, 0x61) });
      streams.push(s);
    }
    while (received() < total)
      await onceWithin(b, "message", `the backend to receive ${total} bytes (got ${received()})`);
    const st = await gw.stats();
    assert.ok(
      (st.retryBufferedBytes ?? 0) <= LIMIT,
      `the retry buffer holds ${st.retryBufferedBytes} bytes, above the limit of ${LIMIT}`,
    );
    assert.ok((st.retryBufferedBytes ?? 0) > 0, "the attack did fill the buffer");
    for (let i = 0; i < 10; i++) {
      const r = await unary(good, "Unary", { payload: Buffer.alloc(1000) });
      assert.equal(r.code, grpc.status.OK, `well-behaved call ${i}: ${r.details}`);
    }
    // Once the streams are gone, nothing stays counted.
    const seen = b.calls.filter((c) => c.path.endsWith("/ClientStream"));
    for (const s of streams) s.cancel();
    await Promise.all(seen.map((c) => b.ended(c)));
    assert.equal((await gw.stats()).retryBufferedBytes, 0);
  });
});
