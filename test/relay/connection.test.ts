import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { describe, it } from "node:test";
import { type ConnectionHandler, H2Connection, type H2Stream } from "../../src/dataplane/relay/connection.js";
import { Flag, FrameType, frame, PREFACE, settingsFrame } from "../../src/dataplane/relay/frames.js";
import { HpackDecoder, HpackEncoder } from "../../src/dataplane/relay/hpack.js";

/** The request header list the tests' clients send. */
const REQUEST = [":method", "POST", ":scheme", "http", ":path", "/s/m", ":authority", "a"];

/** Just enough of a net.Socket for H2Connection: records writes, lets the test push reads. */
class FakeSocket extends EventEmitter {
  written: Buffer[] = [];
  writableLength = 0;
  destroyed = false;
  setNoDelay(): void {}
  cork(): void {}
  uncork(): void {}
  write(b: Buffer): boolean {
    this.written.push(Buffer.from(b));
    return true;
  }
  end(): void {
    this.destroyed = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

/** Records what the connection reports, as comparable strings. */
function recorder(events: string[]): ConnectionHandler {
  return {
    onHeaders(_c, st, fields, end) {
      events.push(`headers ${st.id} ${fields.join(",")} end=${end}`);
    },
    onData(c, st, data, end) {
      // A frame's payload may arrive in pieces (reads cut it): join pieces of the same stream in a row.
      const last = events.at(-1);
      const prefix = `data ${st.id} `;
      if (last?.startsWith(prefix) && last.endsWith(" end=false")) {
        events[events.length - 1] =
          `${last.slice(0, -" end=false".length)}${data.toString("hex")} end=${end}`;
      } else {
        events.push(`${prefix}${data.toString("hex")} end=${end}`);
      }
      c.consume(st, data.length);
    },
    onReset(_c, st, code) {
      events.push(`reset ${st.id} ${code}`);
    },
    onDataReleased() {},
    onReady() {
      events.push("ready");
    },
    onGoaway(_c, last, code) {
      events.push(`goaway ${last} ${code}`);
    },
    onClose() {},
  };
}

/** A client's byte stream: preface, SETTINGS, two requests with padded DATA, CONTINUATION, PING, RST. */
function clientBytes(): Buffer {
  const enc = new HpackEncoder();
  const req = (path: string) =>
    enc.encode([":method", "POST", ":scheme", "http", ":path", path, ":authority", "a", "te", "trailers"]);
  const b1 = req("/s/m");
  const b3 = req("/s/n");
  const padded = Buffer.concat([Buffer.from([3]), Buffer.from("hello"), Buffer.alloc(3)]);
  return Buffer.concat([
    PREFACE,
    settingsFrame([[4, 100000]]),
    frame(FrameType.HEADERS, 0, 1, b1.subarray(0, 4)),
    frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, b1.subarray(4)),
    frame(FrameType.DATA, Flag.PADDED, 1, padded),
    frame(FrameType.HEADERS, Flag.END_HEADERS, 3, b3),
    frame(FrameType.DATA, 0, 3, Buffer.from("abcdefghij")),
    frame(FrameType.PING, 0, 0, Buffer.alloc(8, 7)),
    frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from("!")),
    frame(FrameType.RST_STREAM, 0, 3, Buffer.from([0, 0, 0, 8])),
  ]);
}

function run(pieces: Buffer[]): { events: string[] } {
  const events: string[] = [];
  const sock = new FakeSocket();
  new H2Connection(sock as unknown as Socket, true, recorder(events));
  for (const p of pieces) sock.emit("data", p);
  return { events };
}

describe("H2Connection framing", { timeout: 120_000 }, () => {
  const bytes = clientBytes();
  const expected = run([bytes]).events;

  it("reports the frames of a client's byte stream", () => {
    assert.deepEqual(expected, [
      "ready",
      "headers 1 :method,POST,:scheme,http,:path,/s/m,:authority,a,te,trailers end=false",
      "data 1 68656c6c6f end=false",
      "headers 3 :method,POST,:scheme,http,:path,/s/n,:authority,a,te,trailers end=false",
      `data 3 ${Buffer.from("abcdefghij").toString("hex")} end=false`,
      "data 1 21 end=true",
      "reset 3 8",
    ]);
  });

  it("reports the same events however the reads split the bytes", () => {
    for (let cut = 1; cut < bytes.length; cut++) {
      const got = run([bytes.subarray(0, cut), bytes.subarray(cut)]).events;
      assert.deepEqual(got, expected, `split at ${cut}`);
    }
  });

  it("reports the same events when every byte is a read of its own", () => {
    const pieces: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) pieces.push(bytes.subarray(i, i + 1));
    assert.deepEqual(run(pieces).events, expected);
  });
});

describe("H2Connection flow control", { timeout: 120_000 }, () => {
  it("sends DATA only within the peer's windows and the rest when WINDOW_UPDATE arrives", async () => {
    const events: string[] = [];
    const sock = new FakeSocket();
    const sent: number[] = [];
    const handler = recorder(events);
    handler.onDataReleased = (_c, _st, n) => sent.push(n);
    let stream: H2Stream | undefined;
    handler.onHeaders = (c, st) => {
      stream = st;
      c.writeHeaders(st, [":status", "200"], false);
      c.writeData(st, Buffer.alloc(100_000, 1), true);
    };
    const conn = new H2Connection(sock as unknown as Socket, true, handler);
    const enc = new HpackEncoder();
    const block = enc.encode(REQUEST);
    // Default windows: 65535 for the stream and the connection.
    sock.emit(
      "data",
      Buffer.concat([PREFACE, settingsFrame([]), frame(FrameType.HEADERS, Flag.END_HEADERS, 1, block)]),
    );
    assert.equal(
      sent.reduce((a, b) => a + b, 0),
      65535,
    );
    const more = Buffer.alloc(4);
    more.writeUInt32BE(100_000);
    sock.emit(
      "data",
      Buffer.concat([frame(FrameType.WINDOW_UPDATE, 0, 0, more), frame(FrameType.WINDOW_UPDATE, 0, 1, more)]),
    );
    assert.equal(
      sent.reduce((a, b) => a + b, 0),
      100_000,
    );
    assert.equal(stream?.localEnded, true);
    conn.flush();
    const out = Buffer.concat(sock.written);
    // The last DATA frame carries END_STREAM.
    let p = 0;
    let lastData: { flags: number } | undefined;
    while (p + 9 <= out.length) {
      const len = out.readUIntBE(p, 3);
      if (out[p + 3] === FrameType.DATA) lastData = { flags: out[p + 4]! };
      p += 9 + len;
    }
    assert.equal(lastData?.flags, Flag.END_STREAM);
  });
});

describe("H2Connection DATA framing", { timeout: 120_000 }, () => {
  it("joins queued pieces into full frames behind one header each, within the window, without losing a byte", () => {
    const events: string[] = [];
    const sock = new FakeSocket();
    const handler = recorder(events);
    const sizes = [3, 5000, 20_000, 7, 1, 30_000, 9000];
    const pieces = sizes.map((n, i) => Buffer.alloc(n, i + 1));
    handler.onHeaders = (c, st) => {
      c.writeHeaders(st, [":status", "200"], false);
      for (let i = 0; i < pieces.length; i++) c.writeData(st, pieces[i]!, i === pieces.length - 1);
    };
    const conn = new H2Connection(sock as unknown as Socket, true, handler);
    const block = new HpackEncoder().encode(REQUEST);
    // The stream's window is 0 until WINDOW_UPDATE, so the pieces queue; 50,000 bytes of window stop them in
    // the middle of one, and a second WINDOW_UPDATE lets the rest go.
    sock.emit(
      "data",
      Buffer.concat([PREFACE, settingsFrame([[4, 0]]), frame(FrameType.HEADERS, Flag.END_HEADERS, 1, block)]),
    );
    const inc = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return frame(FrameType.WINDOW_UPDATE, 0, 1, b);
    };
    sock.emit("data", inc(50_000));
    sock.emit("data", inc(100_000));
    conn.flush();
    const out = Buffer.concat(sock.written);
    const payloads: Buffer[] = [];
    const flags: number[] = [];
    let p = 0;
    while (p + 9 <= out.length) {
      const len = out.readUIntBE(p, 3);
      if (out[p + 3] === FrameType.DATA) {
        assert.ok(len <= 16_384, `DATA frame of ${len} bytes`);
        payloads.push(out.subarray(p + 9, p + 9 + len));
        flags.push(out[p + 4]!);
      }
      p += 9 + len;
    }
    assert.equal(p, out.length);
    assert.deepEqual(Buffer.concat(payloads), Buffer.concat(pieces));
    // 50,000 bytes in frames of 16,384 (the last cut by the window), then the remaining 14,011 bytes.
    assert.deepEqual(
      payloads.map((b) => b.length),
      [16_384, 16_384, 16_384, 848, 14_011],
    );
    assert.deepEqual(flags, [0, 0, 0, 0, Flag.END_STREAM]);
  });
});

/** The frames in a server's output: type, flags, stream id and payload. */
function framesOf(out: Buffer): { type: number; flags: number; id: number; payload: Buffer }[] {
  const frames: { type: number; flags: number; id: number; payload: Buffer }[] = [];
  let p = 0;
  while (p + 9 <= out.length) {
    const len = out.readUIntBE(p, 3);
    frames.push({
      type: out[p + 3]!,
      flags: out[p + 4]!,
      id: out.readUInt32BE(p + 5) & 0x7fffffff,
      payload: out.subarray(p + 9, p + 9 + len),
    });
    p += 9 + len;
  }
  return frames;
}

describe("H2Connection: a response that ends before its request", { timeout: 120_000 }, () => {
  const cases = [
    { name: "response fits the window", body: 100, windowUpdate: false },
    { name: "trailers held behind DATA waiting for window", body: 70_000, windowUpdate: true },
  ];
  for (const c of cases) {
    it(`resets the request with NO_ERROR once the response is out, and ignores the client's late frames (${c.name})`, () => {
      const events: string[] = [];
      const sock = new FakeSocket();
      const handler = recorder(events);
      let stream: H2Stream | undefined;
      const inner = handler.onHeaders;
      handler.onHeaders = (conn, st, fields, end, oversized, malformed) => {
        inner(conn, st, fields, end, oversized, malformed);
        if (stream !== undefined) return;
        stream = st;
        conn.writeHeaders(st, [":status", "200", "content-type", "application/grpc"], false);
        conn.writeData(st, Buffer.alloc(c.body, 1), false);
        conn.writeHeaders(st, ["grpc-status", "0"], true);
      };
      const conn = new H2Connection(sock as unknown as Socket, true, handler);
      const enc = new HpackEncoder();
      const block = enc.encode(REQUEST);
      sock.emit(
        "data",
        Buffer.concat([PREFACE, settingsFrame([]), frame(FrameType.HEADERS, Flag.END_HEADERS, 1, block)]),
      );
      if (c.windowUpdate) {
        conn.flush();
        const before = framesOf(Buffer.concat(sock.written));
        assert.ok(!before.some((f) => f.type === FrameType.RST_STREAM), "no reset while the response waits");
        const more = Buffer.alloc(4);
        more.writeUInt32BE(100_000);
        sock.emit(
          "data",
          Buffer.concat([
            frame(FrameType.WINDOW_UPDATE, 0, 0, more),
            frame(FrameType.WINDOW_UPDATE, 0, 1, more),
          ]),
        );
      }
      conn.flush();
      const frames = framesOf(Buffer.concat(sock.written)).filter((f) => f.id === 1);
      const kinds = frames.map((f) => f.type);
      const trailers = kinds.lastIndexOf(FrameType.HEADERS);
      assert.equal(
        (frames[trailers]?.flags ?? 0) & Flag.END_STREAM,
        Flag.END_STREAM,
        "trailers end the stream",
      );
      assert.deepEqual(kinds.slice(trailers + 1), [FrameType.RST_STREAM], "then one RST_STREAM");
      assert.equal(frames.at(-1)?.payload.readUInt32BE(0), 0, "NO_ERROR");
      assert.equal(stream?.closed, true);
      assert.equal(conn.activeStreams, 0);

      // What the client had already sent: DATA, then trailers. Neither is an error nor reported.
      const written = sock.written.length;
      const late = enc.encode(["x-late", "1"]);
      sock.emit(
        "data",
        Buffer.concat([
          frame(FrameType.DATA, 0, 1, Buffer.alloc(10)),
          frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, late),
        ]),
      );
      conn.flush();
      const after = framesOf(Buffer.concat(sock.written.slice(written)));
      assert.ok(!after.some((f) => f.type === FrameType.GOAWAY), "the connection stays up");
      assert.equal(sock.destroyed, false);
      assert.deepEqual(
        events.filter((e) => !e.startsWith("headers 1 :method")),
        ["ready"],
        "nothing more is reported for the stream",
      );
    });
  }

  it("does not reset a stream whose request had ended", () => {
    const sock = new FakeSocket();
    const handler = recorder([]);
    handler.onHeaders = (conn, st) => {
      conn.writeHeaders(st, [":status", "200", "grpc-status", "0"], true);
    };
    const conn = new H2Connection(sock as unknown as Socket, true, handler);
    const block = new HpackEncoder().encode(REQUEST);
    sock.emit(
      "data",
      Buffer.concat([
        PREFACE,
        settingsFrame([]),
        frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, block),
      ]),
    );
    conn.flush();
    assert.ok(!framesOf(Buffer.concat(sock.written)).some((f) => f.type === FrameType.RST_STREAM));
    assert.equal(conn.activeStreams, 0);
  });
});

describe("H2Connection output: frames written into shared buffers, payloads by reference", {
  timeout: 120_000,
}, () => {
  it("keeps every stream's frames whole and in order across buffer rollovers and large payloads", () => {
    const sock = new FakeSocket();
    const handler = recorder([]);
    const streams: H2Stream[] = [];
    handler.onHeaders = (_c, st) => {
      streams.push(st);
    };
    const conn = new H2Connection(sock as unknown as Socket, true, handler);
    const enc = new HpackEncoder();
    const window = Buffer.alloc(4);
    window.writeUInt32BE(10_000_000);
    const input: Buffer[] = [
      PREFACE,
      settingsFrame([[4, 1_000_000]]),
      frame(FrameType.WINDOW_UPDATE, 0, 0, window),
    ];
    for (let i = 0; i < 100; i++) {
      const block = enc.encode(REQUEST);
      input.push(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 2 * i + 1, block));
    }
    sock.emit("data", Buffer.concat(input));
    assert.equal(streams.length, 100);
    // Per stream: headers, a small payload, a large one (by reference), a small one, trailers; all queued in
    // one turn, so the small frames of 100 streams overflow one output buffer.
    const big = (i: number) => Buffer.alloc(5000, i);
    for (const [i, st] of streams.entries()) {
      conn.writeHeaders(st, [":status", "200", "x-stream", String(i)], false);
      conn.writeData(st, Buffer.alloc(100, 0xa0), false);
      conn.writeData(st, big(i), false);
      conn.writeData(st, Buffer.alloc(50, 0xb0), false);
      conn.writeHeaders(st, ["grpc-status", "0", "x-long", "v".repeat(i === 7 ? 40_000 : 1)], true);
    }
    conn.flush();
    const dec = new HpackDecoder();
    const got = new Map<number, { headers: string[][]; data: Buffer[]; ended: boolean }>();
    let block: Buffer[] = [];
    let blockId = 0;
    let blockEnd = false;
    for (const f of framesOf(Buffer.concat(sock.written))) {
      if (f.id === 0) continue;
      const g = got.get(f.id) ?? { headers: [], data: [], ended: false };
      got.set(f.id, g);
      assert.equal(g.ended, false, `a frame on stream ${f.id} after its end`);
      if (f.type === FrameType.HEADERS || f.type === FrameType.CONTINUATION) {
        if (f.type === FrameType.HEADERS) {
          block = [];
          blockId = f.id;
          blockEnd = (f.flags & Flag.END_STREAM) !== 0;
        } else {
          assert.equal(f.id, blockId, "CONTINUATION on the block's stream");
        }
        block.push(f.payload);
        if (f.flags & Flag.END_HEADERS) {
          const b = Buffer.concat(block);
          g.headers.push(dec.decode(b, 0, b.length).fields);
          if (blockEnd) g.ended = true;
        }
      } else if (f.type === FrameType.DATA) {
        g.data.push(f.payload);
      }
    }
    for (let i = 0; i < 100; i++) {
      const g = got.get(2 * i + 1);
      assert.ok(g, `stream ${2 * i + 1}`);
      assert.deepEqual(g.headers[0], [":status", "200", "x-stream", String(i)]);
      assert.deepEqual(g.headers[1]?.slice(0, 2), ["grpc-status", "0"]);
      assert.equal(g.headers[1]?.[3]?.length, i === 7 ? 40_000 : 1);
      assert.equal(g.ended, true);
      assert.ok(
        Buffer.concat(g.data).equals(
          Buffer.concat([Buffer.alloc(100, 0xa0), big(i), Buffer.alloc(50, 0xb0)]),
        ),
        `stream ${2 * i + 1}: DATA bytes in order`,
      );
    }
  });
});

describe("H2Connection: the peer's stream limit", { timeout: 120_000 }, () => {
  const cases = [
    {
      name: "no MAX_CONCURRENT_STREAMS: no limit",
      settings: [] as [number, number][],
      open: 300,
      capacity: true,
    },
    {
      name: "MAX_CONCURRENT_STREAMS 10",
      settings: [[3, 10]] as [number, number][],
      open: 10,
      capacity: false,
    },
    {
      name: "MAX_CONCURRENT_STREAMS 10, one below",
      settings: [[3, 10]] as [number, number][],
      open: 9,
      capacity: true,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const sock = new FakeSocket();
      const conn = new H2Connection(sock as unknown as Socket, false, recorder([]));
      assert.equal(conn.hasCapacity, false, "no stream before the peer's SETTINGS");
      sock.emit("data", settingsFrame(c.settings));
      for (let i = 0; i < c.open; i++)
        conn.openStream([":method", "POST", ":path", "/s/m"], false, undefined);
      assert.equal(conn.activeStreams, c.open);
      assert.equal(conn.hasCapacity, c.capacity);
    });
  }
});
