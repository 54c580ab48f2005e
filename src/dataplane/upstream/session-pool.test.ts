import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer as createH2Server, type Http2Server } from "node:http2";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { ClusterRuntime, EndpointState } from "./cluster.js";
import { DEFAULT_POOL_OPTIONS, type PoolOptions, SessionPool } from "./session-pool.js";

/** A TCP server that accepts and then says nothing, or only an empty SETTINGS frame. */
async function silentServer(
  sendSettings: boolean,
): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on("error", () => {});
    s.resume();
    // An empty SETTINGS frame: length 0, type 4, flags 0, stream 0.
    if (sendSettings) s.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

function poolOptions(extra: Partial<PoolOptions>, counts: number[]): PoolOptions {
  return { ...DEFAULT_POOL_OPTIONS, ...extra, onSessionCount: (d) => counts.push(d) };
}

describe("upstream session pool", () => {
  let h2: Http2Server;
  let h2Port: number;
  before(async () => {
    h2 = createH2Server();
    h2.on("stream", (s) => {
      s.on("error", () => {});
      s.respond({ ":status": 200 }, { endStream: true });
    });
    await new Promise<void>((r) => h2.listen(0, "127.0.0.1", r));
    h2Port = (h2.address() as AddressInfo).port;
  });
  after(() => {
    h2.close();
  });

  it("gives up connecting to a peer that never speaks HTTP/2", async () => {
    const silent = await silentServer(false);
    const counts: number[] = [];
    const pool = new SessionPool(
      "127.0.0.1",
      silent.port,
      false,
      undefined,
      poolOptions({ connectTimeoutMs: 100 }, counts),
    );
    const err = await new Promise<Error | undefined>((resolve) =>
      pool.request({ ":path": "/a/b" }, (e) => resolve(e)),
    );
    assert.match(err?.message ?? "", /timed out after 100 ms/);
    assert.deepEqual(counts, [1, -1]);
    pool.close(false);
    for (const s of silent.sockets) s.destroy();
    silent.server.close();
  });

  it("closes a session whose keepalive PING is not answered", async () => {
    const silent = await silentServer(true);
    const counts: number[] = [];
    const pool = new SessionPool(
      "127.0.0.1",
      silent.port,
      false,
      undefined,
      poolOptions({ keepaliveIntervalMs: 50, keepaliveTimeoutMs: 50, idleTimeoutMs: 0 }, counts),
    );
    const closed = new Promise<void>((resolve) => {
      const opts = (pool as unknown as { opts: PoolOptions }).opts;
      opts.onSessionCount = (d) => {
        counts.push(d);
        if (d < 0) resolve();
      };
    });
    pool.request({ ":method": "POST", ":path": "/a/b" }, (_e, s) => s?.on("error", () => {}));
    await closed;
    assert.deepEqual(counts, [1, -1]);
    pool.close(false);
    for (const s of silent.sockets) s.destroy();
    silent.server.close();
  });

  it("closes idle sessions and reuses a ready one", async () => {
    const counts: number[] = [];
    const pool = new SessionPool(
      "127.0.0.1",
      h2Port,
      false,
      undefined,
      poolOptions({ idleTimeoutMs: 50 }, counts),
    );
    for (let i = 0; i < 3; i++) {
      const stream = await new Promise<import("node:http2").ClientHttp2Stream>((resolve, reject) =>
        pool.request({ ":path": "/a/b" }, (e, s) => (e || !s ? reject(e) : resolve(s))),
      );
      stream.resume();
      await once(stream, "close");
    }
    assert.equal(pool.sessionCount(), 1, "three calls, one session");
    await new Promise<void>((resolve) => {
      const opts = (pool as unknown as { opts: PoolOptions }).opts;
      opts.onSessionCount = (d) => {
        if (d < 0) resolve();
      };
    });
    assert.equal(pool.sessionCount(), 0);
    pool.close();
  });
});

describe("endpoint health and choice", () => {
  const pool = (port: number) => new SessionPool("127.0.0.1", port, false, undefined, DEFAULT_POOL_OPTIONS);
  const ir = {
    name: "c",
    source: { kind: "Service" as const, namespace: "d", name: "c" },
    endpoints: [],
    tls: false,
  };

  it("round-robins, sets aside an endpoint that keeps failing, and tries it again later", () => {
    const [a, b, c] = [new EndpointState(pool(1)), new EndpointState(pool(2)), new EndpointState(pool(3))];
    const cluster = new ClusterRuntime(ir, [a, b, c], "round-robin");
    assert.deepEqual([cluster.pick(), cluster.pick(), cluster.pick(), cluster.pick()], [a, b, c, a]);
    const now = Date.now();
    b.recordFailure(now);
    b.recordFailure(now);
    assert.equal(b.ejectedUntil, 0, "two failures are not enough");
    b.recordFailure(now);
    assert.ok(b.ejectedUntil > now);
    const picks = new Set(Array.from({ length: 6 }, () => cluster.pick()));
    assert.deepEqual(picks, new Set([a, c]));
    assert.equal(cluster.pick(a) === a, false, "exclude is honoured");
    // When every other endpoint is set aside, one is tried anyway rather than failing for sure.
    a.ejectedUntil = c.ejectedUntil = now + 60_000;
    assert.ok(cluster.pick() !== undefined);
    b.recordSuccess();
    assert.equal(b.ejectedUntil, 0);
    assert.equal(new ClusterRuntime(ir, [a], "round-robin").pick(a), undefined);
  });

  it("least-request prefers the endpoint with fewer calls in flight", () => {
    const [a, b] = [new EndpointState(pool(1)), new EndpointState(pool(2))];
    a.inflight = 10;
    const cluster = new ClusterRuntime(ir, [a, b], "least-request");
    const picks = Array.from({ length: 50 }, () => cluster.pick());
    assert.ok(picks.filter((p) => p === b).length > 25);
  });
});
