/**
 * HTTP/2 byte streams for the connection fuzzer: what a client sends a server connection (preface, SETTINGS,
 * requests as HEADERS and CONTINUATION with real HPACK blocks, DATA with and without padding, trailers,
 * PRIORITY, RST_STREAM, PING, GOAWAY, WINDOW_UPDATE, unknown types, floods) and what a server sends a client
 * connection; then mutations (bit flips, length fields, truncation, duplication, reordering, ids and flags)
 * and the points where the socket's reads cut the bytes.
 */
import {
  DEFAULT_MAX_FRAME_SIZE,
  Flag,
  FRAME_HEADER_LENGTH,
  FrameType,
  PREFACE,
  Setting,
} from "../../src/dataplane/relay/frames.js";
import { HpackEncoder } from "../../src/dataplane/relay/hpack.js";
import { genFieldList } from "./hpack-gen.js";
import type { Rng } from "./rng.js";

export interface GenFrame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

/** The frames' bytes, and where each frame starts (for length-field mutations and the shrinker). */
export function serialize(prefix: Buffer, frames: readonly GenFrame[]): { bytes: Buffer; starts: number[] } {
  const parts: Buffer[] = [prefix];
  const starts: number[] = [];
  let at = prefix.length;
  for (const f of frames) {
    const h = Buffer.alloc(FRAME_HEADER_LENGTH);
    h.writeUIntBE(f.payload.length, 0, 3);
    h[3] = f.type;
    h[4] = f.flags;
    h.writeUInt32BE(f.id >>> 0, 5);
    parts.push(h, f.payload);
    starts.push(at);
    at += FRAME_HEADER_LENGTH + f.payload.length;
  }
  return { bytes: Buffer.concat(parts), starts };
}

/** Frame starts found by walking the 9-byte headers from `from` (after a mutation, a best effort). */
export function frameStarts(b: Buffer, from: number): number[] {
  const starts: number[] = [];
  let p = from;
  while (b.length - p >= FRAME_HEADER_LENGTH) {
    starts.push(p);
    p += FRAME_HEADER_LENGTH + b.readUIntBE(p, 3);
  }
  return starts;
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};

function genSettings(rng: Rng): Buffer {
  const ids = [
    Setting.HEADER_TABLE_SIZE,
    Setting.ENABLE_PUSH,
    Setting.MAX_CONCURRENT_STREAMS,
    Setting.INITIAL_WINDOW_SIZE,
    Setting.MAX_FRAME_SIZE,
    Setting.MAX_HEADER_LIST_SIZE,
  ];
  const n = rng.size(7);
  const b = Buffer.alloc(n * 6);
  for (let i = 0; i < n; i++) {
    const id = rng.chance(0.9) ? rng.pick(ids) : rng.int(0x10000);
    const v = rng.weighted([
      [
        4,
        id === Setting.INITIAL_WINDOW_SIZE
          ? rng.size(1 << 20)
          : id === Setting.MAX_FRAME_SIZE
            ? rng.range(16384, 1 << 20)
            : rng.size(5000),
      ],
      [1, id === Setting.ENABLE_PUSH ? rng.int(2) : 4096],
      [1, rng.u32Interesting()],
    ] as const);
    b.writeUInt16BE(id, i * 6);
    b.writeUInt32BE(v >>> 0, i * 6 + 2);
  }
  return b;
}

/** A header block as HEADERS (maybe padded, maybe with priority) and CONTINUATION frames. */
function pushBlock(rng: Rng, frames: GenFrame[], id: number, block: Buffer, endStream: boolean): void {
  const pieces: Buffer[] = [];
  let rest = block;
  const cuts = rng.chance(0.7) ? 0 : rng.range(1, 4);
  for (let i = 0; i < cuts && rest.length > 1; i++) {
    const at = rng.range(1, rest.length - 1);
    pieces.push(rest.subarray(0, at));
    rest = rest.subarray(at);
  }
  pieces.push(rest);
  for (let i = 0; i < pieces.length; i++) {
    const last = i === pieces.length - 1;
    let flags = last ? Flag.END_HEADERS : 0;
    let payload = pieces[i]!;
    if (i === 0) {
      if (endStream) flags |= Flag.END_STREAM;
      if (rng.chance(0.15)) {
        flags |= Flag.PRIORITY;
        payload = Buffer.concat([u32(rng.u32Interesting()), Buffer.from([rng.int(256)]), payload]);
      }
      if (rng.chance(0.15)) {
        flags |= Flag.PADDED;
        const pad = rng.size(64);
        payload = Buffer.concat([Buffer.from([pad]), payload, Buffer.alloc(pad)]);
      }
    }
    frames.push({ type: i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION, flags, id, payload });
  }
}

/** DATA frames carrying `size` bytes (at most 16 KiB each), maybe padded, the last maybe with END_STREAM. */
function pushData(rng: Rng, frames: GenFrame[], id: number, size: number, endStream: boolean): void {
  let left = size;
  do {
    const padded = rng.chance(0.2);
    const pad = padded ? rng.size(255) : 0;
    const room = DEFAULT_MAX_FRAME_SIZE - (padded ? 1 + pad : 0);
    const n = Math.min(left, room);
    left -= n;
    const body = Buffer.alloc(n, id & 0xff);
    const payload = padded ? Buffer.concat([Buffer.from([pad]), body, Buffer.alloc(pad)]) : body;
    // Now and then a pad length the frame cannot hold.
    if (padded && rng.chance(0.03)) payload[0] = Math.min(255, payload.length - rng.int(2));
    const flags = (padded ? Flag.PADDED : 0) | (left === 0 && endStream ? Flag.END_STREAM : 0);
    frames.push({ type: FrameType.DATA, flags, id, payload });
  } while (left > 0);
}

/** Control frames either side may send (and some it must not). */
function pushControl(rng: Rng, frames: GenFrame[], someId: () => number): void {
  const kind = rng.weighted([
    [3, "ping"],
    [2, "settings"],
    [1, "settings-ack"],
    [4, "window"],
    [2, "rst"],
    [1, "priority"],
    [1, "goaway"],
    [1, "unknown"],
    [0.3, "push"],
    [0.5, "flood"],
  ] as const);
  switch (kind) {
    case "ping":
      frames.push({
        type: FrameType.PING,
        flags: rng.chance(0.2) ? Flag.ACK : 0,
        id: 0,
        payload: rng.bytes(8),
      });
      return;
    case "settings":
      frames.push({ type: FrameType.SETTINGS, flags: 0, id: 0, payload: genSettings(rng) });
      return;
    case "settings-ack":
      frames.push({ type: FrameType.SETTINGS, flags: Flag.ACK, id: 0, payload: Buffer.alloc(0) });
      return;
    case "window": {
      const inc = rng.weighted([
        [4, rng.size(1 << 20)],
        [1, rng.u32Interesting()],
      ] as const);
      frames.push({
        type: FrameType.WINDOW_UPDATE,
        flags: 0,
        id: rng.chance(0.4) ? 0 : someId(),
        payload: u32(inc),
      });
      return;
    }
    case "rst":
      frames.push({ type: FrameType.RST_STREAM, flags: 0, id: someId(), payload: u32(rng.size(15)) });
      return;
    case "priority":
      frames.push({ type: FrameType.PRIORITY, flags: 0, id: someId(), payload: rng.bytes(5) });
      return;
    case "goaway":
      frames.push({
        type: FrameType.GOAWAY,
        flags: 0,
        id: 0,
        payload: Buffer.concat([
          u32(rng.chance(0.5) ? someId() : rng.u32Interesting()),
          u32(rng.size(15)),
          rng.bytes(rng.size(20)),
        ]),
      });
      return;
    case "unknown":
      frames.push({
        type: rng.range(0x0a, 0xff),
        flags: rng.int(256),
        id: rng.chance(0.5) ? 0 : someId(),
        payload: rng.bytes(rng.size(100)),
      });
      return;
    case "push":
      frames.push({
        type: FrameType.PUSH_PROMISE,
        flags: Flag.END_HEADERS,
        id: someId(),
        payload: Buffer.concat([u32(2), Buffer.from([0x88])]),
      });
      return;
    default: {
      const n = rng.range(10, 300);
      const type = rng.pick([
        FrameType.PING,
        FrameType.SETTINGS,
        FrameType.WINDOW_UPDATE,
        FrameType.RST_STREAM,
        0x20,
      ]);
      for (let i = 0; i < n; i++) {
        const payload =
          type === FrameType.PING ? Buffer.alloc(8) : type === FrameType.SETTINGS ? Buffer.alloc(0) : u32(1);
        const id = type === FrameType.RST_STREAM ? someId() : 0;
        frames.push({ type, flags: 0, id, payload });
      }
    }
  }
}

const REQUEST = [
  ":method",
  "POST",
  ":scheme",
  "http",
  ":path",
  "/pkg.Svc/Method",
  ":authority",
  "a",
  "content-type",
  "application/grpc",
  "te",
  "trailers",
];

/** What a client sends (the input of a server connection), before mutation. */
export function genClientFrames(rng: Rng): GenFrame[] {
  const enc = new HpackEncoder();
  const frames: GenFrame[] = [];
  if (rng.chance(0.95)) frames.push({ type: FrameType.SETTINGS, flags: 0, id: 0, payload: genSettings(rng) });
  let nextId = 1;
  const open: number[] = [];
  const someId = () =>
    open.length > 0 && rng.chance(0.8)
      ? rng.pick(open)
      : rng.chance(0.5)
        ? rng.range(1, nextId + 4)
        : rng.u32Interesting() & 0x7fffffff;
  const steps = rng.size(40) + 1;
  for (let s = 0; s < steps; s++) {
    const op = rng.weighted([
      [4, "request"],
      [4, "data"],
      [1, "trailers"],
      [4, "control"],
    ] as const);
    if (op === "request") {
      const id = rng.chance(0.9) ? nextId : rng.chance(0.5) ? nextId + 1 : someId();
      if (id >= nextId) nextId = id + 2 - (id & 1 ? 0 : 1);
      const fields = rng.chance(0.7)
        ? REQUEST.concat(genFieldList(rng).slice(0, 8))
        : genFieldList(rng, true);
      const endStream = rng.chance(0.3);
      pushBlock(rng, frames, id, enc.encode(fields), endStream);
      if (!endStream) open.push(id);
    } else if (op === "data" || op === "trailers") {
      const id = someId();
      const end = op === "trailers" || rng.chance(0.3);
      if (op === "data")
        pushData(rng, frames, id, rng.chance(0.1) ? rng.range(30_000, 200_000) : rng.size(20_000), end);
      else pushBlock(rng, frames, id, enc.encode(["x-trailer", "1"]), true);
      const k = open.indexOf(id);
      if (end && k >= 0) open.splice(k, 1);
    } else {
      pushControl(rng, frames, someId);
    }
  }
  return frames;
}

/** What a server sends (the input of a client connection that opened `streams` streams), before mutation. */
export function genServerFrames(rng: Rng, streams: number): GenFrame[] {
  const enc = new HpackEncoder();
  const frames: GenFrame[] = [];
  if (rng.chance(0.95)) frames.push({ type: FrameType.SETTINGS, flags: 0, id: 0, payload: genSettings(rng) });
  const someId = () =>
    rng.chance(0.85)
      ? 1 + 2 * rng.int(Math.max(1, streams + 1))
      : rng.chance(0.5)
        ? 2 * rng.range(1, 4)
        : rng.u32Interesting() & 0x7fffffff;
  const steps = rng.size(40) + 1;
  for (let s = 0; s < steps; s++) {
    const op = rng.weighted([
      [3, "headers"],
      [3, "data"],
      [2, "trailers"],
      [1, "trailers-only"],
      [4, "control"],
    ] as const);
    const id = someId();
    if (op === "headers")
      pushBlock(rng, frames, id, enc.encode([":status", "200", "content-type", "application/grpc"]), false);
    else if (op === "data")
      pushData(
        rng,
        frames,
        id,
        rng.chance(0.1) ? rng.range(30_000, 200_000) : rng.size(20_000),
        rng.chance(0.2),
      );
    else if (op === "trailers")
      pushBlock(rng, frames, id, enc.encode(["grpc-status", "0", "grpc-message", "ok"]), true);
    else if (op === "trailers-only")
      pushBlock(rng, frames, id, enc.encode([":status", "200", "grpc-status", "14"]), true);
    else pushControl(rng, frames, someId);
  }
  return frames;
}

/** Frame-level mutations: duplicate, drop, swap, or change the type, flags or stream of a frame. */
export function mutateFrames(rng: Rng, frames: GenFrame[]): GenFrame[] {
  const out = frames.slice();
  const rounds = rng.range(1, 3);
  for (let r = 0; r < rounds && out.length > 0; r++) {
    const i = rng.int(out.length);
    const f = out[i]!;
    switch (rng.int(6)) {
      case 0:
        out.splice(i, 0, f);
        break;
      case 1:
        out.splice(i, 1);
        break;
      case 2: {
        const j = rng.int(out.length);
        out[i] = out[j]!;
        out[j] = f;
        break;
      }
      case 3:
        out[i] = { ...f, flags: f.flags ^ (1 << rng.int(8)) };
        break;
      case 4:
        out[i] = {
          ...f,
          id: rng.pick([0, f.id + 2, f.id + 1, Math.max(1, f.id - 2), rng.u32Interesting() & 0x7fffffff]),
        };
        break;
      default:
        out[i] = { ...f, type: rng.int(11) };
    }
  }
  return out;
}

/** Byte-level mutations of a serialized stream (`starts`: frame starts, for length-field changes). */
export function mutateBytes(rng: Rng, bytes: Buffer, starts: readonly number[]): Buffer {
  let out = Buffer.from(bytes);
  const rounds = rng.range(1, 3);
  for (let r = 0; r < rounds && out.length > 0; r++) {
    switch (rng.int(5)) {
      case 0:
        out[rng.int(out.length)]! ^= 1 << rng.int(8);
        break;
      case 1: {
        const s = starts.length > 0 ? rng.pick(starts) : 0;
        if (s + 3 > out.length) break;
        const len = out.readUIntBE(s, 3);
        const next = rng.pick([0, len + 1, Math.max(0, len - 1), 16384, 16385, 0xffffff, rng.int(1 << 15)]);
        out.writeUIntBE(next & 0xffffff, s, 3);
        break;
      }
      case 2:
        out = out.subarray(0, rng.int(out.length + 1));
        break;
      case 3: {
        const at = rng.int(out.length + 1);
        out = Buffer.concat([out.subarray(0, at), rng.bytes(rng.size(20)), out.subarray(at)]);
        break;
      }
      default: {
        const at = rng.int(out.length);
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + rng.size(out.length - at))]);
      }
    }
  }
  return out;
}

/** Where the socket's reads cut the bytes: one read, random cuts, every byte, or near frame boundaries. */
export function genCuts(rng: Rng, length: number, starts: readonly number[]): number[] {
  const mode = rng.weighted([
    [2, "one"],
    [5, "random"],
    [length <= 3000 ? 1 : 0, "bytes"],
    [2, "frames"],
  ] as const);
  let cuts: number[] = [];
  if (mode === "random") {
    const n = rng.range(1, 20);
    for (let i = 0; i < n; i++) cuts.push(rng.range(1, length - 1));
  } else if (mode === "bytes") {
    for (let i = 1; i < length; i++) cuts.push(i);
  } else if (mode === "frames") {
    for (const s of starts) if (rng.chance(0.5)) cuts.push(s + rng.range(-2, 10));
  }
  cuts = [...new Set(cuts.filter((c) => c > 0 && c < length))].sort((a, b) => a - b);
  return cuts;
}

/** The preface, or (rarely) a broken or partial one. */
export function genPreface(rng: Rng): Buffer {
  if (rng.chance(0.97)) return PREFACE;
  return rng.chance(0.5) ? PREFACE.subarray(0, rng.int(PREFACE.length)) : mutateBytes(rng, PREFACE, []);
}
