import assert from "node:assert/strict";
import { once } from "node:events";
import { connect as h2connect } from "node:http2";
import { connect as netConnect } from "node:net";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { generateCertificate } from "../../src/util/self-signed.js";
import {
  type Backend,
  backend,
  closeAll,
  cluster,
  forward,
  type grpc,
  grpcFrame,
  listener,
  onceWithin,
  rawGrpcCall,
  route,
  startBackend,
  startGateway,
  type TestGateway,
  table,
  testerClient,
  unary,
} from "../helpers/index.js";

/** A bad peer must be dropped within this; past it the test fails instead of hanging (ms). */
const CLOSE_BOUND_MS = 5000;

/** Bad peers and odd requests: the gateway answers or drops them, and keeps serving. */
describe("data plane: bad input never breaks the gateway", { timeout: 120_000 }, () => {
  let a: Backend;
  let gw: TestGateway;
  const clients: grpc.Client[] = [];

  before(async () => {
    a = await startBackend({ name: "a" });
    const ca = cluster("a", [a.port]);
    const cert = await generateCertificate(["tls.example.com"]);
    gw = await startGateway(
      table(
        [
          listener("http", 80, [route("all", {}, forward([backend(ca)]))]),
          listener("https", 443, [route("all-tls", {}, forward([backend(ca)]))], {
            protocol: "HTTPS",
            hostname: "tls.example.com",
            tls: { certificates: [{ ...cert, source: "default/cert" }] },
          }),
        ],
        [ca],
      ),
    );
  });
  after(async () => {
    closeAll(...clients);
    await gw.close(0);
    await a.close();
  });

  async function stillServes(): Promise<void> {
    const c = testerClient(gw.target(80));
    clients.push(c);
    const r = await unary(c, "Unary", {});
    assert.equal(r.code, 0, r.details);
  }

  it("HTTP/1.1 and garbage on the h2c port", async () => {
    // HTTP/1.1 is served there (gRPC-Web): anything else than gRPC-Web gets an answer saying so.
    for (const [bytes, answer] of [
      ["GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 415 "],
      ["\x00\x01\x02garbage\r\n\r\n", "HTTP/1.1 400 "],
    ] as const) {
      const [host, port] = gw.target(80).split(":");
      const s = netConnect(Number(port), host);
      s.on("error", () => {});
      s.write(bytes);
      let got = "";
      s.on("data", (d: Buffer) => {
        got += d.toString("latin1");
      });
      await once(s, "close", { signal: AbortSignal.timeout(CLOSE_BOUND_MS) });
      assert.ok(got.startsWith(answer), `${JSON.stringify(bytes)}: ${got}`);
    }
    await stillServes();
  });

  it("a TLS client without ALPN h2, and TLS with an unknown SNI", async () => {
    const [host, port] = gw.target(443).split(":");
    const s = tlsConnect({
      host,
      port: Number(port),
      servername: "other.example.com",
      rejectUnauthorized: false,
    });
    s.on("error", () => {});
    s.resume();
    await once(s, "close", { signal: AbortSignal.timeout(CLOSE_BOUND_MS) });
    await stillServes();
  });

  it("odd requests get a gRPC answer", async () => {
    const cases: { name: string; path: string; headers: Record<string, string>; status: string }[] = [
      { name: "malformed path", path: "/only-one-part", headers: {}, status: "12" },
      { name: "path with extra parts", path: "/a/b/c", headers: {}, status: "12" },
      {
        // Forwarded untouched: the backend's own answer comes back.
        name: "bogus grpc-timeout reaches the backend",
        path: "/grpcroute.test.Tester/Unary",
        headers: { "grpc-timeout": "soon" },
        status: "13",
      },
    ];
    for (const c of cases) {
      const r = await rawGrpcCall(gw.target(80), c.path, c.headers, grpcFrame(Buffer.alloc(0)));
      assert.equal(r.status, c.status, `${c.name}: ${r.message}`);
    }
    await stillServes();
  });

  it("a client connection may hold 100 calls at once (SETTINGS_MAX_CONCURRENT_STREAMS)", async () => {
    const session = h2connect(`http://${gw.target(80)}`);
    session.on("error", () => {});
    try {
      const [settings] = await once(session, "remoteSettings", {
        signal: AbortSignal.timeout(CLOSE_BOUND_MS),
      });
      assert.equal(settings.maxConcurrentStreams, 100);
    } finally {
      session.destroy();
    }
  });

  it("a client that resets streams and drops connections mid-call", async () => {
    for (let i = 0; i < 5; i++) {
      const session = h2connect(`http://${gw.target(80)}`);
      session.on("error", () => {});
      const s = session.request({
        ":method": "POST",
        ":path": "/grpcroute.test.Tester/ClientStream",
        "content-type": "application/grpc",
        te: "trailers",
      });
      s.on("error", () => {});
      s.write(grpcFrame(Buffer.alloc(10)));
      await onceWithin(a, "call", "backend a to see the call");
      if (i % 2 === 0) s.close(8);
      else session.destroy();
      await once(s, "close", { signal: AbortSignal.timeout(CLOSE_BOUND_MS) });
      session.destroy();
    }
    await stillServes();
    assert.equal(gw.dp.stats().activeCalls >= 0, true);
  });
});
