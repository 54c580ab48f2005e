import assert from "node:assert/strict";
import { once } from "node:events";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { type ConnectionHandler, H2Connection } from "../../src/dataplane/relay/connection.js";
import {
  ErrorCode,
  Flag,
  FrameType,
  frame,
  goawayFrame,
  PREFACE,
  settingsFrame,
  windowUpdateFrame,
} from "../../src/dataplane/relay/frames.js";
import { HpackDecoder, HpackEncoder } from "../../src/dataplane/relay/hpack.js";
import {
  type Backend,
  bidi,
  closeAll,
  onceWithin,
  startBackend,
  TESTER_SERVICE,
  testerClient,
  unary,
} from "../helpers/index.js";
import { cluster, startRelay, testerTable } from "./fixture.js";

interface Frame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

/** A hand-driven HTTP/2 client: sends raw bytes, collects the frames the relay answers until it closes. */
class RawClient {
  readonly frames: Frame[] = [];
  private buf = Buffer.alloc(0);
  readonly closed: Promise<void>;
  constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 9) {
        const len = this.buf.readUIntBE(0, 3);
        if (this.buf.length < 9 + len) break;
        this.frames.push({
          type: this.buf[3]!,
          flags: this.buf[4]!,
          id: this.buf.readUInt32BE(5) & 0x7fffffff,
          payload: this.buf.subarray(9, 9 + len),
        });
        this.buf = this.buf.subarray(9 + len);
      }
    });
    socket.on("error", () => {});
    this.closed = new Promise((resolve) => socket.on("close", () => resolve()));
  }
  static async open(port: number, preface = true): Promise<RawClient> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    const c = new RawClient(socket);
    if (preface) socket.write(Buffer.concat([PREFACE, settingsFrame([])]));
    return c;
  }
  goawayCode(): number | undefined {
    const g = this.frames.find((f) => f.type === FrameType.GOAWAY);
    return g?.payload.readUInt32BE(4);
  }
}

function headersFrame(id: number, block: Buffer, flags: number = Flag.END_HEADERS): Buffer {
  return frame(FrameType.HEADERS, flags, id, block);
}

function request(enc: HpackEncoder, extra: string[] = []): Buffer {
  return enc.encode([
    ":method",
    "POST",
    ":scheme",
    "http",
    ":path",
    `/${TESTER_SERVICE}/Unary`,
    ":authority",
    "x",
    "content-type",
    "application/grpc",
    "te",
    "trailers",
    ...extra,
  ]);
}

describe("relay robustness: malformed input costs only that connection", { timeout: 120_000 }, () => {
  let backend: Backend;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let port: number;
  before(async () => {
    backend = await startBackend({ name: "b" });
    const c = cluster("b", [backend.address]);
    relay = await startRelay(testerTable(c), { connection: { maxHeaderListSize: 4096 } });
    port = relay.dp.boundPorts().get(8080)!;
  });
  after(async () => {
    await relay.dp.close(0);
    await backend.close();
  });

  const cases: { name: string; send: (enc: HpackEncoder) => Buffer; preface?: boolean; code: number }[] = [
    {
      name: "malformed HPACK (index 0)",
      send: () => headersFrame(1, Buffer.from([0x80])),
      code: ErrorCode.COMPRESSION_ERROR,
    },
    {
      name: "HPACK index beyond the tables",
      send: () => headersFrame(1, Buffer.from([0xff, 0x7f])),
      code: ErrorCode.COMPRESSION_ERROR,
    },
    {
      name: "a frame larger than SETTINGS_MAX_FRAME_SIZE",
      send: () => {
        const b = Buffer.alloc(9);
        b.writeUIntBE(20000, 0, 3);
        b[3] = FrameType.DATA;
        b.writeUInt32BE(1, 5);
        return b;
      },
      code: ErrorCode.FRAME_SIZE_ERROR,
    },
    {
      name: "DATA on stream 0",
      send: () => frame(FrameType.DATA, 0, 0, Buffer.alloc(4)),
      code: ErrorCode.PROTOCOL_ERROR,
    },
    {
      name: "HEADERS on an even stream",
      send: (e) => headersFrame(2, request(e)),
      code: ErrorCode.PROTOCOL_ERROR,
    },
    {
      name: "a PUSH_PROMISE from a client",
      send: () => frame(FrameType.PUSH_PROMISE, 4, 1, Buffer.alloc(4)),
      code: ErrorCode.PROTOCOL_ERROR,
    },
    {
      name: "a connection window overflow",
      send: () => Buffer.concat([windowUpdateFrame(0, 0x7fffffff), windowUpdateFrame(0, 0x7fffffff)]),
      code: ErrorCode.FLOW_CONTROL_ERROR,
    },
    {
      name: "a frame other than CONTINUATION inside a header block",
      send: (e) =>
        Buffer.concat([headersFrame(1, request(e), 0), frame(FrameType.PING, 0, 0, Buffer.alloc(8))]),
      code: ErrorCode.PROTOCOL_ERROR,
    },
    {
      name: "a CONTINUATION flood",
      send: () => {
        const parts = [headersFrame(1, Buffer.alloc(0), 0)];
        for (let i = 0; i < 10; i++)
          parts.push(frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16000, 0x40)));
        return Buffer.concat(parts);
      },
      code: ErrorCode.ENHANCE_YOUR_CALM,
    },
    {
      name: "a short SETTINGS frame",
      send: () => frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)),
      code: ErrorCode.FRAME_SIZE_ERROR,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: GOAWAY ${c.code}, and the relay keeps serving`, async () => {
      const raw = await RawClient.open(port, c.preface !== false);
      raw.socket.write(c.send(new HpackEncoder()));
      await raw.closed;
      assert.equal(raw.goawayCode(), c.code);
      const client = testerClient(`127.0.0.1:${port}`);
      const r = await unary(client, "Unary", {});
      closeAll(client);
      assert.equal(r.code, 0, r.details);
    });
  }

  it("not an HTTP/2 preface: taken for HTTP/1.1 (gRPC-Web's), answered and closed; the relay keeps serving", async () => {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => {});
    let got = "";
    socket.on("data", (d: Buffer) => {
      got += d.toString("latin1");
    });
    socket.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    await once(socket, "close", { signal: AbortSignal.timeout(10_000) });
    assert.match(got, /^HTTP\/1\.1 415 /);
    const client = testerClient(`127.0.0.1:${port}`);
    const r = await unary(client, "Unary", {});
    closeAll(client);
    assert.equal(r.code, 0, r.details);
  });

  it("a header list above SETTINGS_MAX_HEADER_LIST_SIZE gets RESOURCE_EXHAUSTED, the connection lives", async () => {
    const raw = await RawClient.open(port);
    const enc = new HpackEncoder();
    raw.socket.write(
      headersFrame(1, request(enc, ["x-big", "v".repeat(5000)]), Flag.END_HEADERS | Flag.END_STREAM),
    );
    raw.socket.write(headersFrame(3, request(enc), Flag.END_HEADERS));
    raw.socket.write(frame(FrameType.DATA, Flag.END_STREAM, 3, Buffer.alloc(5)));
    const dec = new HpackDecoder();
    const statusOf = (id: number): string | undefined => {
      for (const f of raw.frames) {
        if (f.type !== FrameType.HEADERS || f.id !== id) continue;
        const fields = dec.decode(f.payload, 0, f.payload.length).fields;
        const i = fields.indexOf("grpc-status");
        if (i >= 0) return fields[i + 1];
      }
      return undefined;
    };
    // Stream 3 is served by the backend; its trailers arrive after stream 1's answer.
    while (!raw.frames.some((f) => f.id === 3 && f.type === FrameType.HEADERS && f.flags & Flag.END_STREAM)) {
      await new Promise((r) => raw.socket.once("data", r));
    }
    assert.equal(statusOf(1), "8");
    assert.equal(statusOf(3), "0");
    assert.equal(raw.goawayCode(), undefined);
    raw.socket.destroy();
  });

  it("announces 100 concurrent streams, refuses the 101st, and takes a new one once a call ends", async () => {
    const raw = await RawClient.open(port);
    const until = async (done: () => boolean) => {
      while (!done()) await new Promise((r) => raw.socket.once("data", r));
    };
    const settings = () => raw.frames.find((f) => f.type === FrameType.SETTINGS && !(f.flags & Flag.ACK));
    await until(() => settings() !== undefined);
    const p = settings()!.payload;
    const values = new Map<number, number>();
    for (let i = 0; i + 6 <= p.length; i += 6) values.set(p.readUInt16BE(i), p.readUInt32BE(i + 2));
    assert.equal(values.get(0x3), 100);
    // 101 calls whose requests stay open: the last one is over the limit.
    const enc = new HpackEncoder();
    for (let id = 1; id <= 201; id += 2) raw.socket.write(headersFrame(id, request(enc)));
    const reset = (id: number) => raw.frames.find((f) => f.type === FrameType.RST_STREAM && f.id === id);
    await until(() => reset(201) !== undefined);
    assert.equal(reset(201)?.payload.readUInt32BE(0), ErrorCode.REFUSED_STREAM);
    assert.equal(raw.frames.filter((f) => f.type === FrameType.RST_STREAM).length, 1);
    // One call ends: its slot takes the next stream.
    const ended = (id: number) =>
      raw.frames.some((f) => f.type === FrameType.HEADERS && f.id === id && f.flags & Flag.END_STREAM);
    raw.socket.write(frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.alloc(5)));
    await until(() => ended(1));
    raw.socket.write(headersFrame(203, request(enc)));
    raw.socket.write(frame(FrameType.DATA, Flag.END_STREAM, 203, Buffer.alloc(5)));
    await until(() => ended(203));
    assert.equal(reset(203), undefined);
    assert.equal(raw.goawayCode(), undefined);
    raw.socket.destroy();
  });
});

describe("relay: upstream header limits", { timeout: 120_000 }, () => {
  it("response headers above SETTINGS_MAX_HEADER_LIST_SIZE end the call with INTERNAL, saying why", async () => {
    const backend = await startBackend({ name: "chatty", headers: { "x-big": "v".repeat(5000) } });
    const c = cluster("chatty", [backend.address]);
    const relay = await startRelay(testerTable(c), { connection: { maxHeaderListSize: 4096 } });
    const client = testerClient(relay.target());
    const r = await unary(client, "Unary", {});
    closeAll(client);
    await relay.dp.close(0);
    await backend.close();
    assert.equal(r.code, 13);
    assert.match(r.details, /header list above 4096 bytes/);
  });
});

describe("relay upstream pools", { timeout: 120_000 }, () => {
  it("respects the backend's SETTINGS_MAX_CONCURRENT_STREAMS by opening more connections", async () => {
    const backend = await startBackend({
      name: "narrow",
      serverOptions: { "grpc.max_concurrent_streams": 2 },
    });
    const c = cluster("narrow", [backend.address]);
    const relay = await startRelay(testerTable(c));
    const client = testerClient(relay.target());
    const calls = Array.from({ length: 8 }, () => unary(client, "Unary", { delayMs: 100 }));
    const results = await Promise.all(calls);
    const sessions = relay.dp.stats().upstreamSessions;
    closeAll(client);
    await relay.dp.close(0);
    await backend.close();
    assert.deepEqual(
      results.map((r) => r.code),
      Array(8).fill(0),
    );
    assert.ok(sessions >= 4, `${sessions} upstream sessions for 8 concurrent calls at 2 streams each`);
  });
});

describe("relay upstream pools: streams per connection", { timeout: 120_000 }, () => {
  // Calls held open one after another (each answered once before the next starts), so every call finds the
  // ones before it still open on the pool's connections.
  const cases: {
    name: string;
    streamsPerConnection?: number;
    calls: number;
    peers: (n: number) => boolean;
  }[] = [
    { name: "default (32): 8 calls share one connection", calls: 8, peers: (n) => n === 1 },
    {
      name: "2 per connection: 8 calls spread over more connections",
      streamsPerConnection: 2,
      calls: 8,
      peers: (n) => n >= 2,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const backend = await startBackend({ name: "wide" });
      const cl = cluster("wide", [backend.address]);
      const relay = await startRelay(
        testerTable(cl),
        {},
        c.streamsPerConnection === undefined ? {} : { streamsPerConnection: c.streamsPerConnection },
      );
      const client = testerClient(relay.target());
      const held: ReturnType<typeof bidi>[] = [];
      try {
        for (let i = 0; i < c.calls; i++) {
          const call = bidi(client);
          call.on("error", () => {});
          held.push(call);
          call.write({});
          await onceWithin(call, "data", "the first reply of the held-open call");
        }
        const perPeer = new Map<string, number>();
        for (const seen of backend.calls) perPeer.set(seen.peer, (perPeer.get(seen.peer) ?? 0) + 1);
        assert.equal(backend.active(), c.calls);
        assert.ok(
          c.peers(perPeer.size),
          `calls per upstream connection: ${JSON.stringify([...perPeer.values()])}`,
        );
        for (const call of held) call.end();
        await Promise.all(held.map((call) => once(call, "status")));
      } finally {
        closeAll(client);
        await relay.dp.close(0);
        await backend.close();
      }
    });
  }
});

describe("relay upstream pools: an endpoint that refuses more connections", { timeout: 120_000 }, () => {
  it("keeps its share of the calls on the connection it has (not set aside)", async () => {
    const x = await startBackend({ name: "x" });
    const y = await startBackend({ name: "y" });
    // In front of x: the first connection goes through, every later one is closed at once.
    let admitted = false;
    const refused: number[] = [];
    const gate = net.createServer((s) => {
      s.on("error", () => {});
      if (admitted) {
        refused.push(1);
        s.destroy();
        return;
      }
      admitted = true;
      const up = net.connect(x.port, "127.0.0.1");
      up.on("error", () => s.destroy());
      s.pipe(up).pipe(s);
    });
    await new Promise<void>((r) => gate.listen(0, "127.0.0.1", r));
    const gatePort = (gate.address() as net.AddressInfo).port;
    const cl = cluster("xy", [`127.0.0.1:${gatePort}`, y.address]);
    const relay = await startRelay(testerTable(cl), {}, { streamsPerConnection: 1 });
    const client = testerClient(relay.target());
    const held: ReturnType<typeof bidi>[] = [];
    try {
      // Round-robin: calls alternate between x and y. Each call on x finds x's one connection busy and
      // asks for another, which the gate refuses.
      for (let i = 0; i < 12; i++) {
        const call = bidi(client);
        call.on("error", () => {});
        held.push(call);
        call.write({});
        await onceWithin(call, "data", "the first reply of the held-open call");
      }
      assert.deepEqual(
        { x: x.active(), y: y.active() },
        { x: 6, y: 6 },
        "a refused extra connection must not set x aside",
      );
      // Five calls on x found its connection busy; after the first refusal the pool waits (1 s) before asking
      // again, rather than once per call.
      assert.ok(refused.length >= 1 && refused.length <= 2, `${refused.length} connections refused`);
      for (const call of held) call.end();
      await Promise.all(held.map((call) => once(call, "status")));
    } finally {
      closeAll(client);
      await relay.dp.close(0);
      await new Promise((r) => gate.close(r));
      await x.close();
      await y.close();
    }
  });
});

describe("relay upstream GOAWAY", { timeout: 120_000 }, () => {
  it("replays a stream the backend never processed (above GOAWAY's last stream id) on a new connection", async () => {
    // A backend that answers stream 1 of each connection and refuses anything later with GOAWAY(last = 1).
    let goaways = 0;
    const handler: ConnectionHandler = {
      onHeaders(c, st) {
        if (st.id > 1) {
          goaways++;
          c.socket.write(goawayFrame(1, ErrorCode.NO_ERROR));
          return;
        }
        c.writeHeaders(st, [":status", "200", "content-type", "application/grpc"], false);
        c.writeData(st, Buffer.alloc(5), false);
        c.writeHeaders(st, ["grpc-status", "0"], true);
      },
      onData(c, st, data) {
        c.consume(st, data.length);
      },
      onReset() {},
      onDataReleased() {},
      onReady() {},
      onGoaway() {},
      onClose() {},
    };
    const server = net.createServer((sock) => new H2Connection(sock, true, handler));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const c = cluster("g", [`127.0.0.1:${(server.address() as net.AddressInfo).port}`]);
    const relay = await startRelay(testerTable(c));
    const client = testerClient(relay.target());
    const first = await unary(client, "Unary", { payload: Buffer.alloc(10) });
    const second = await unary(client, "Unary", { payload: Buffer.alloc(10) });
    closeAll(client);
    await relay.dp.close(0);
    server.close();
    assert.equal(first.code, 0, first.details);
    assert.equal(second.code, 0, second.details);
    assert.equal(goaways, 1);
  });
});
