/**
 * What the fuzzers found, one case each: the readable form of the input, the behaviour RFC 9113 asks for,
 * and the fuzzer's own minimal input replayed through the harness (every invariant of conn-harness.ts).
 */
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { describe, it } from "node:test";
import { type ConnectionHandler, H2Connection } from "../../src/dataplane/relay/connection.js";
import {
  ErrorCode,
  Flag,
  FrameType,
  frame,
  PREFACE,
  settingsFrame,
} from "../../src/dataplane/relay/frames.js";
import { HpackEncoder } from "../../src/dataplane/relay/hpack.js";
import { type ConnCase, runConnectionCase } from "./conn-harness.js";
import { DEFAULT_OPTS } from "./conn-target.js";
import { FakeSocket } from "./fake-socket.js";

const REQUEST = [":method", "POST", ":scheme", "http", ":path", "/s/m", ":authority", "a"];

/** A handler that records events and leaves every stream open: the relay while a call waits on its backend. */
function recorder(events: string[], onReady?: (c: H2Connection) => void): ConnectionHandler {
  return {
    onHeaders: (_c, st, _f, end) => events.push(`headers ${st.id} end=${end}`),
    onData: (c, st, data, end) => {
      events.push(`data ${st.id} ${data.length} end=${end}`);
      c.consume(st, data.length);
    },
    onReset: (_c, st, code) => events.push(`reset ${st.id} ${code}`),
    onDataReleased: () => {},
    onReady: (c) => onReady?.(c),
    onGoaway: (_c, last, code) => events.push(`goaway ${last} ${code}`),
    onClose: () => events.push("close"),
  };
}

interface Written {
  type: number;
  id: number;
  /** The payload's first and second 32-bit words (-1 when it is shorter). */
  word: number;
  word2: number;
}

/** The frames a connection wrote. */
function written(sock: FakeSocket, client: boolean): Written[] {
  const out = Buffer.concat(sock.chunks).subarray(client ? PREFACE.length : 0);
  const frames: Written[] = [];
  for (let p = 0; p + 9 <= out.length; p += 9 + out.readUIntBE(p, 3)) {
    const len = out.readUIntBE(p, 3);
    frames.push({
      type: out[p + 3]!,
      id: out.readUInt32BE(p + 5) & 0x7fffffff,
      word: len >= 4 ? out.readUInt32BE(p + 9) : -1,
      word2: len >= 8 ? out.readUInt32BE(p + 13) : -1,
    });
  }
  return frames;
}

function replay(c: Omit<ConnCase, "opts"> & { opts?: ConnCase["opts"] }): void {
  const f = runConnectionCase({ opts: DEFAULT_OPTS, ...c });
  assert.equal(f, null, f === null ? "" : `${f.kind}: ${f.detail}`);
}

describe("fuzz findings: DATA on a stream the peer already ended", () => {
  it("server side: the request is reset with STREAM_CLOSED and the handler is told", () => {
    const events: string[] = [];
    const sock = new FakeSocket();
    const conn = new H2Connection(sock as unknown as Socket, true, recorder(events));
    const block = new HpackEncoder().encode(REQUEST);
    sock.emit(
      "data",
      Buffer.concat([
        PREFACE,
        settingsFrame([]),
        frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, block),
        frame(FrameType.DATA, 0, 1, Buffer.from("x")),
      ]),
    );
    conn.flush();
    assert.deepEqual(events, ["headers 1 end=true", `reset 1 ${ErrorCode.STREAM_CLOSED}`]);
    assert.ok(
      written(sock, false).some(
        (f) => f.type === FrameType.RST_STREAM && f.id === 1 && f.word === ErrorCode.STREAM_CLOSED,
      ),
      "RST_STREAM(STREAM_CLOSED) on stream 1",
    );
    assert.equal(conn.activeStreams, 0);
  });

  it("client side: the call is reset with STREAM_CLOSED and the handler is told", () => {
    const events: string[] = [];
    const sock = new FakeSocket();
    const conn = new H2Connection(
      sock as unknown as Socket,
      false,
      recorder(events, (c) => c.openStream(REQUEST, false, undefined)),
    );
    const block = new HpackEncoder().encode([":status", "200", "grpc-status", "0"]);
    sock.emit(
      "data",
      Buffer.concat([
        settingsFrame([]),
        frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, block),
        frame(FrameType.DATA, 0, 1, Buffer.from("x")),
      ]),
    );
    conn.flush();
    assert.deepEqual(events, ["headers 1 end=true", `reset 1 ${ErrorCode.STREAM_CLOSED}`]);
    assert.equal(conn.activeStreams, 0);
  });

  it("replays the fuzzer's minimal input", () => {
    replay({
      server: false,
      actSeed: 1387916591,
      openAtReady: 0,
      cuts: [9],
      bytes: Buffer.from(
        "00000004000000000000001f0109000000010540889acac8b21234da8f0130000c677270632d6d6573736167000000000000000309000000000165026f0000010904000000016b000001000000000001",
        "hex",
      ),
    });
  });
});

describe("fuzz findings: a connection error after a graceful GOAWAY", () => {
  it("names no stream above the one the first GOAWAY named (RFC 9113 section 6.8)", () => {
    const events: string[] = [];
    const sock = new FakeSocket();
    const conn = new H2Connection(sock as unknown as Socket, true, recorder(events));
    sock.emit("data", Buffer.concat([PREFACE, settingsFrame([])]));
    conn.shutdown();
    // A request that crossed the GOAWAY (refused), then a frame larger than the frame size: a connection error.
    const block = new HpackEncoder().encode(REQUEST);
    const tooLarge = Buffer.alloc(9);
    tooLarge.writeUIntBE(20_000, 0, 3);
    sock.emit("data", Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS, 1, block), tooLarge]));
    conn.flush();
    const goaways = written(sock, false).filter((f) => f.type === FrameType.GOAWAY);
    assert.deepEqual(
      goaways.map((f) => f.word),
      [0, 0],
      "both GOAWAYs name stream 0: stream 1 was refused, never processed",
    );
    assert.ok(
      written(sock, false).some(
        (f) => f.type === FrameType.RST_STREAM && f.id === 1 && f.word === ErrorCode.REFUSED_STREAM,
      ),
      "stream 1 refused",
    );
    assert.deepEqual(events, []);
  });

  it("replays the fuzzer's minimal input", () => {
    replay({
      server: true,
      actSeed: 3998343994,
      openAtReady: 0,
      cuts: [147],
      bytes: Buffer.from(
        "505249202a20485454502f322e300d0a0d0a534d0d0a0d0a0000970100000000018386448c62beb32fbbb918d054ce793f4101615f8b1d75d0620d263d4c4d656440027465864d833505b11f661b43673735363e7c3a3c6f2547495c61744b7665676e2671673c573f0f0802315340889acac8b21234da8f45d2841d16a9a46c55fc1206356f87f5220675c9305edd312d6ddbbc4779a9dee36df4da0b9aa820605585bdbb5877044644d1fa7460872d4c0d50e95593810300000d0900000000010a4c8c49f85f408a9acac8b16a00000609000000000121e435537f860000060904000000014d833505b11f767676767676767676",
        "hex",
      ),
    });
  });
});

describe("fuzz findings: SETTINGS_INITIAL_WINDOW_SIZE that overflows a stream's window", () => {
  it("is a connection error FLOW_CONTROL_ERROR (RFC 9113 section 6.9.2)", () => {
    const events: string[] = [];
    const sock = new FakeSocket();
    const conn = new H2Connection(
      sock as unknown as Socket,
      false,
      recorder(events, (c) => c.openStream(REQUEST, false, undefined)),
    );
    const max = Buffer.alloc(4);
    max.writeUInt32BE(0x7fffffff);
    sock.emit(
      "data",
      Buffer.concat([
        settingsFrame([[4, 0]]),
        frame(FrameType.WINDOW_UPDATE, 0, 1, max),
        // Stream 1's window is now 2^31 - 1: one more byte of initial window overflows it.
        settingsFrame([[4, 1]]),
      ]),
    );
    conn.flush();
    const goaways = written(sock, true).filter((f) => f.type === FrameType.GOAWAY);
    assert.deepEqual(
      goaways.map((f) => f.word2),
      [ErrorCode.FLOW_CONTROL_ERROR],
    );
    assert.equal(conn.destroyed, true);
  });

  it("replays the fuzzer's minimal input", () => {
    replay({
      server: false,
      actSeed: 1335614998,
      openAtReady: 4,
      cuts: [],
      bytes: Buffer.from(
        "00000c040000000000000400000001000400000000000004080000000007ffffffff00001e040000000000000400076a9500050006989600030000100000038000000000030000014c",
        "hex",
      ),
    });
  });
});
