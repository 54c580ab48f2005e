import assert from "node:assert/strict";
import * as http2 from "node:http2";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { type ConnectionHandler, H2Connection } from "../../src/dataplane/relay/connection.js";
import type { CallInfo } from "../../src/dataplane/types.js";
import {
  type Backend,
  bidi,
  clientStream,
  closeAll,
  collect,
  type grpc,
  onceWithin,
  serverStream,
  startBackend,
  TESTER_SERVICE,
  type TestReply,
  testerClient,
  unary,
} from "../helpers/index.js";
import { cluster, exact, startRelay, table, testerTable } from "./fixture.js";

const MiB = 1024 * 1024;

/** Resolves when `cond()` holds, checking after each turn of the event loop's timers (bounded). */
async function until(cond: () => boolean, what: string, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A gRPC message frame (uncompressed, length-prefixed) around protobuf bytes. */
function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}
/** Protobuf varint. */
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/**
 * A backend built on the relay's own HTTP/2 connection, so a test controls frames exactly: it answers
 * headers and an empty message, then resets the stream with the code in `x-rst` when the request's first
 * DATA arrives (or at once without `x-respond-first`), or answers a plain HTTP status from `x-http-status`,
 * or with `x-answer-early` answers the whole call (grpc-status 0) without waiting for the request's end.
 */
function startFrameBackend(): Promise<net.Server> {
  const handler: ConnectionHandler = {
    onHeaders(c, st, fields) {
      const get = (n: string) => fields[fields.indexOf(n) + 1];
      const code = Number(get("x-rst") ?? 0);
      st.ctx = code;
      if (fields.includes("x-http-status")) {
        c.writeHeaders(st, [":status", get("x-http-status") ?? "500", "content-type", "text/html"], false);
        c.writeData(st, Buffer.from("<html>not grpc</html>"), true);
        return;
      }
      if (fields.includes("x-answer-early")) {
        // The whole answer before the request ends (a server that needs no more of it).
        c.writeHeaders(st, [":status", "200", "content-type", "application/grpc"], false);
        c.writeData(st, Buffer.alloc(5), false);
        c.writeHeaders(st, ["grpc-status", "0"], true);
        return;
      }
      if (fields.includes("x-respond-first")) {
        c.writeHeaders(st, [":status", "200", "content-type", "application/grpc"], false);
        c.writeData(st, Buffer.alloc(5), false);
        return;
      }
      c.resetStream(st, code);
    },
    onData(c, st, data) {
      c.consume(st, data.length);
      c.resetStream(st, st.ctx as number);
    },
    onReset() {},
    onDataReleased() {},
    onReady() {},
    onGoaway() {},
    onClose() {},
  };
  const server = net.createServer((sock) => new H2Connection(sock, true, handler));
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** Raw node:http2 call through the relay; resolves with the response headers, trailers and status. */
function rawCall(
  target: string,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer | null,
): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; rst: number }> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://${target}`);
    session.on("error", () => {});
    const req = session.request({
      ":method": "POST",
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    let h: http2.IncomingHttpHeaders = {};
    let t: http2.IncomingHttpHeaders = {};
    req.on("response", (x) => {
      h = x;
    });
    req.on("trailers", (x) => {
      t = x;
    });
    req.on("error", () => {});
    req.resume();
    req.on("close", () => {
      resolve({ headers: h, trailers: t, rst: req.rstCode ?? 0 });
      session.close();
    });
    if (body !== null) req.end(body);
  });
}

describe("relay: one upstream, every call kind", { timeout: 120_000 }, () => {
  let backend: Backend;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let client: grpc.Client;
  before(async () => {
    backend = await startBackend({ name: "b1" });
    const c = cluster("tester", [backend.address]);
    relay = await startRelay(testerTable(c, "tester"));
    client = testerClient(relay.target());
  });
  after(async () => {
    closeAll(client);
    await relay.dp.close(0);
    await backend.close();
  });

  it("unary: reply, response headers and trailers pass through", async () => {
    const r = await unary(client, "Unary", { payload: Buffer.from("hi"), responseSize: 10 });
    assert.equal(r.code, 0, r.details);
    assert.equal(r.reply?.backend, "b1");
    assert.equal(r.reply?.payload.length, 10);
    assert.equal(r.headers["x-backend"], "b1");
    assert.equal(r.trailers["x-backend"], "b1");
    const info = relay.calls.at(-1)!;
    assert.equal(info.grpcStatus, 0);
    assert.equal(info.route, "grpcroute/default/tester/rule/0/match/0");
    assert.equal(info.backend, "service/default/tester/port/50051");
    assert.equal(info.endpoint, backend.address);
    assert.equal(info.listener, "gateway/default/gw/listener/http");
  });

  it("unary: a backend error status and message pass through", async () => {
    const r = await unary(client, "Unary", { failCode: 9, failMessage: "precondition 100% failed" });
    assert.equal(r.code, 9);
    assert.equal(r.details, "precondition 100% failed");
  });

  it("client streaming", async () => {
    const reqs = Array.from({ length: 20 }, () => ({ payload: Buffer.alloc(1000, 1) }));
    const r = await clientStream(client, reqs);
    assert.equal(r.code, 0, r.details);
    assert.equal(r.reply?.receivedMessages, 20);
    assert.equal(Number(r.reply?.receivedBytes), 20_000);
  });

  it("server streaming", async () => {
    const r = await collect(serverStream(client, { responseCount: 50, responseSize: 100 }));
    assert.equal(r.code, 0, r.details);
    assert.equal(r.replies.length, 50);
    assert.deepEqual(
      r.replies.map((x) => x.index),
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  it("bidi: every request gets its reply, interleaved", async () => {
    const call = bidi(client);
    const got: TestReply[] = [];
    call.on("data", (r: TestReply) => {
      got.push(r);
      if (got.length < 10) call.write({ payload: Buffer.alloc(10), responseSize: 5 });
      else call.end();
    });
    const done = collect(call);
    call.write({ payload: Buffer.alloc(10), responseSize: 5 });
    const r = await done;
    assert.equal(r.code, 0, r.details);
    assert.equal(got.length, 10);
    assert.equal(got[9]?.receivedMessages, 10);
  });

  it("16 MiB messages both ways pass through", async () => {
    const size = 16 * MiB;
    const r = await unary(client, "Unary", { payload: Buffer.alloc(size, 7), responseSize: size });
    assert.equal(r.code, 0, r.details);
    assert.equal(Number(r.reply?.receivedBytes), size);
    assert.equal(r.reply?.payload.length, size);
  });

  it("a slow reader slows the backend: memory stays bounded, then everything arrives", async () => {
    // A node:http2 client whose stream is paused stops returning window (grpc-js keeps reading while paused,
    // so it cannot play the slow reader). Request { response_size: 256 KiB, response_count: 256 }: 64 MiB.
    const session = http2.connect(`http://${relay.target()}`);
    session.on("error", () => {});
    const req = session.request({
      ":method": "POST",
      ":path": `/${TESTER_SERVICE}/ServerStream`,
      "content-type": "application/grpc",
      te: "trailers",
    });
    const before = backend.sentBytes();
    const blocked = onceWithin(backend, "blocked", "the backend to block on a full stream window");
    req.end(
      grpcFrame(Buffer.concat([Buffer.from([0x10]), varint(256 * 1024), Buffer.from([0x18]), varint(256)])),
    );
    req.pause();
    await blocked;
    // Proving that nothing more moves needs an observation window: with flow control broken, the 64 MiB would
    // be written well within it on loopback.
    await new Promise((r) => setTimeout(r, 300));
    const sent = backend.sentBytes() - before;
    assert.ok(sent < 12 * MiB, `the backend wrote ${sent} bytes into a stream nobody reads`);
    let received = 0;
    req.on("data", (d: Buffer) => {
      received += d.length;
    });
    req.resume();
    await onceWithin(req, "end", "the end of the raw response");
    session.close();
    // 256 messages of 256 KiB (+ protobuf framing) arrived once the reader read.
    assert.ok(received > 256 * 256 * 1024, `received ${received} bytes`);
  });

  it("client cancel resets the upstream stream", async () => {
    const before = backend.calls.length;
    const call = serverStream(client, { responseCount: 1000, responseSize: 10, intervalMs: 20 });
    call.on("error", () => {});
    await onceWithin(call, "data", "the first reply of the stream");
    call.cancel();
    await until(() => backend.calls[before]?.end === "cancelled", "the backend to see the cancel");
    await until(() => relay.calls.some((c) => c.grpcStatus === 1), "the relay to report CANCELLED");
  });

  it("the client's deadline cancels the upstream stream", async () => {
    const before = backend.calls.length;
    const r = await unary(client, "Unary", { delayMs: 2000 }, { timeoutMs: 150 });
    assert.equal(r.code, 4);
    await until(() => backend.calls[before]?.end === "cancelled", "the backend to see the cancel");
  });
});

describe("relay: gateway-enforced deadlines and upstream failures", { timeout: 120_000 }, () => {
  let backend: Backend;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let resetter: net.Server;
  const clusters = (addrs: Record<string, string>) => Object.entries(addrs).map(([n, a]) => cluster(n, [a]));
  before(async () => {
    backend = await startBackend({ name: "b1" });
    resetter = await startFrameBackend();
    const rport = (resetter.address() as net.AddressInfo).port;
    const cs = clusters({ tester: backend.address, resetter: `127.0.0.1:${rport}`, closed: "127.0.0.1:1" });
    relay = await startRelay(
      table(
        [
          {
            routes: [
              { name: "reset", match: exact(TESTER_SERVICE, "Bidi"), backends: [{ cluster: cs[1]!.name }] },
              {
                name: "closed",
                match: exact(TESTER_SERVICE, "ClientStream"),
                backends: [{ cluster: cs[2]!.name }],
              },
              { name: "tester", match: exact(TESTER_SERVICE), backends: [{ cluster: cs[0]!.name }] },
            ],
          },
        ],
        cs,
      ),
      {},
      { connectTimeoutMs: 2000 },
    );
  });
  after(async () => {
    await relay.dp.close(0);
    await backend.close();
    resetter.close();
  });

  it("grpc-timeout is enforced by the gateway (DEADLINE_EXCEEDED) and cancels the upstream", async () => {
    const before = backend.calls.length;
    // Request { delay_ms: 2000 } (field 4, varint), and a client that never gives up by itself.
    const body = grpcFrame(Buffer.concat([Buffer.from([0x20]), varint(2000)]));
    const r = await rawCall(
      relay.target(),
      { ":path": `/${TESTER_SERVICE}/Unary`, "grpc-timeout": "100m" },
      body,
    );
    assert.equal(r.headers[":status"], 200);
    const status = r.trailers["grpc-status"] ?? r.headers["grpc-status"];
    assert.equal(status, "4");
    assert.match(String(r.trailers["grpc-message"] ?? r.headers["grpc-message"]), /deadline/);
    await until(() => backend.calls[before]?.end === "cancelled", "the backend to see the cancel");
  });

  const resets: { name: string; rst: number; code: number }[] = [
    { name: "CANCEL", rst: http2.constants.NGHTTP2_CANCEL, code: 1 },
    { name: "ENHANCE_YOUR_CALM", rst: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, code: 8 },
    { name: "INTERNAL_ERROR", rst: http2.constants.NGHTTP2_INTERNAL_ERROR, code: 13 },
  ];
  for (const c of resets) {
    it(`an upstream RST_STREAM ${c.name} before the response ends the call with code ${c.code}`, async () => {
      const client = testerClient(relay.target());
      const call = bidi(client, { metadata: { "x-rst": String(c.rst) } });
      const done = collect(call);
      call.write({ payload: Buffer.alloc(1) });
      const r = await done;
      closeAll(client);
      assert.equal(r.code, c.code, r.details);
    });
    it(`an upstream RST_STREAM ${c.name} after the response began ends the call with code ${c.code}`, async () => {
      const client = testerClient(relay.target());
      const call = bidi(client, { metadata: { "x-rst": String(c.rst), "x-respond-first": "1" } });
      const done = collect(call);
      call.on("metadata", () => call.write({ payload: Buffer.alloc(1) }));
      call.write({ payload: Buffer.alloc(1) });
      const r = await done;
      closeAll(client);
      assert.equal(r.code, c.code, r.details);
    });
  }

  it("an answer complete before the request ends: the client gets it, then RST_STREAM(NO_ERROR)", async () => {
    const client = testerClient(relay.target());
    const call = bidi(client, { metadata: { "x-answer-early": "1" } });
    const done = collect(call);
    call.write({ payload: Buffer.alloc(1) });
    const r = await done;
    closeAll(client);
    assert.equal(r.code, 0, r.details);

    // A client that never ends its request: the reset ends the stream for it.
    const raw = await Promise.race([
      rawCall(relay.target(), { ":path": `/${TESTER_SERVICE}/Bidi`, "x-answer-early": "1" }, null),
      new Promise<"open">((res) => setTimeout(() => res("open"), 5000).unref()),
    ]);
    assert.notEqual(raw, "open", "the stream was left open");
    if (raw === "open") return;
    assert.equal(raw.headers[":status"], 200);
    assert.equal(raw.trailers["grpc-status"], "0");
    assert.equal(raw.rst, http2.constants.NGHTTP2_NO_ERROR);
  });

  it("a non-gRPC upstream answer is mapped by the HTTP-to-gRPC table", async () => {
    const client = testerClient(relay.target());
    const call = bidi(client, { metadata: { "x-http-status": "503" } });
    const done = collect(call);
    call.end();
    const r = await done;
    closeAll(client);
    assert.equal(r.code, 14, r.details);
    assert.match(r.details, /HTTP 503/);
  });

  it("an unreachable endpoint answers UNAVAILABLE saying why", async () => {
    const client = testerClient(relay.target());
    const r = await clientStream(client, [{ payload: Buffer.alloc(1) }]);
    closeAll(client);
    assert.equal(r.code, 14);
    assert.match(r.details, /cannot connect to upstream 127\.0\.0\.1:1/);
  });
});

describe("relay: upstream killed mid-stream", { timeout: 120_000 }, () => {
  it("ends the client's call with UNAVAILABLE", async () => {
    const backend = await startBackend({ name: "doomed" });
    const c = cluster("tester", [backend.address]);
    const relay = await startRelay(testerTable(c, "tester"));
    const client = testerClient(relay.target());
    const call = serverStream(client, { responseCount: 1000, responseSize: 10, intervalMs: 20 });
    const done = collect(call);
    await onceWithin(call, "data", "the first reply of the stream");
    backend.kill();
    const r = await done;
    closeAll(client);
    await relay.dp.close(0);
    assert.equal(r.code, 14, r.details);
    const info: CallInfo | undefined = relay.calls.at(-1);
    assert.equal(info?.grpcStatus, 14);
  });
});
