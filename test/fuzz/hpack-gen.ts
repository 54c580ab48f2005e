/**
 * HPACK inputs for the fuzzers: header lists, blocks from the relay's encoder, hand-built blocks that use
 * every representation (including the ones the encoder never writes), and mutations of both: bad indexes,
 * huge and over-long integers, truncated strings, bad Huffman padding and EOS, table size updates in the
 * wrong place or above the limit.
 */
import { STATIC_TABLE, writeInt } from "../../src/dataplane/relay/hpack.js";
import { huffmanEncode, huffmanEncodedLength } from "../../src/dataplane/relay/huffman.js";
import type { Rng } from "./rng.js";

const NAMES = [
  ":method",
  ":scheme",
  ":path",
  ":authority",
  ":status",
  "content-type",
  "te",
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "grpc-status",
  "grpc-message",
  "user-agent",
  "authorization",
  "content-length",
  "x-request-id",
  "cookie",
  "x-bin",
];
const VALUES = [
  "POST",
  "http",
  "https",
  "/pkg.Svc/Method",
  "application/grpc",
  "trailers",
  "0",
  "1S",
  "gzip",
  "",
];

/** A latin1 string: printable most of the time, any octet sometimes. */
export function genString(rng: Rng, maxLen: number): string {
  const n = rng.size(maxLen);
  const any = rng.chance(0.2);
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(any ? rng.int(256) : rng.range(0x21, 0x7e));
  return s;
}

/** A flat `[name, value, ...]` header list; `big` allows values of tens of KiB. */
export function genFieldList(rng: Rng, big = false): string[] {
  const fields: string[] = [];
  const n = rng.size(24);
  for (let i = 0; i < n; i++) {
    const name = rng.chance(0.6)
      ? rng.pick(NAMES)
      : rng.chance(0.5)
        ? STATIC_TABLE[rng.int(STATIC_TABLE.length)]![0]
        : genString(rng, 40);
    const value = rng.chance(0.4)
      ? rng.pick(VALUES)
      : big && rng.chance(0.1)
        ? "v".repeat(rng.size(70_000))
        : genString(rng, 300);
    fields.push(name, value);
  }
  return fields;
}

/** Writes HPACK primitives into a growing buffer. */
class BlockWriter {
  private parts: Buffer[] = [];
  int(prefix: number, flags: number, v: number): void {
    const b = Buffer.alloc(8);
    this.parts.push(b.subarray(0, writeInt(b, 0, prefix, flags, v)));
  }
  raw(b: Buffer): void {
    this.parts.push(b);
  }
  string(s: string, huffman: boolean): void {
    if (huffman) {
      const b = Buffer.alloc(huffmanEncodedLength(s));
      huffmanEncode(s, b, 0);
      this.int(7, 0x80, b.length);
      this.raw(b);
    } else {
      this.int(7, 0, s.length);
      this.raw(Buffer.from(s, "latin1"));
    }
  }
  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** An index: static, dynamic (maybe beyond the table), 0, or huge. */
function genIndex(rng: Rng): number {
  return rng.weighted([
    [6, () => rng.range(1, STATIC_TABLE.length)],
    [4, () => STATIC_TABLE.length + 1 + rng.size(60)],
    [1, () => 0],
    [1, () => rng.u32Interesting() & 0x7fffffff],
  ] as const)();
}

/** A hand-built block: any mix of the representations of RFC 7541 section 6. */
export function genRawBlock(rng: Rng, maxTableSize: number): Buffer {
  const w = new BlockWriter();
  if (rng.chance(0.2)) {
    const updates = rng.range(1, 3);
    for (let i = 0; i < updates; i++)
      w.int(5, 0x20, rng.chance(0.8) ? rng.int(maxTableSize + 1) : rng.u32Interesting() & 0x7fffffff);
  }
  const n = rng.size(16);
  for (let i = 0; i < n; i++) {
    const kind = rng.weighted([
      [5, "indexed"],
      [3, "incremental"],
      [2, "without"],
      [1, "never"],
      [1, "update"],
    ] as const);
    if (kind === "indexed") {
      w.int(7, 0x80, genIndex(rng));
      continue;
    }
    if (kind === "update") {
      w.int(5, 0x20, rng.int(maxTableSize + 1));
      continue;
    }
    const [prefix, flags] = kind === "incremental" ? [6, 0x40] : kind === "without" ? [4, 0x00] : [4, 0x10];
    const nameIdx = rng.chance(0.5) ? 0 : genIndex(rng);
    w.int(prefix, flags, nameIdx);
    if (nameIdx === 0) w.string(genString(rng, 30), rng.chance(0.5));
    w.string(genString(rng, rng.chance(0.05) ? 5000 : 200), rng.chance(0.5));
  }
  return w.done();
}

/** Byte sequences that break a block where they are put. */
function genPoison(rng: Rng): Buffer {
  return rng.pick([
    // Integers: continuation bytes that never end, a value past 2^31, an over-long encoding of a small value.
    () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    () => Buffer.from([0xff, 0x80, 0x80, 0x80, 0x80, 0x08]),
    () => Buffer.from([0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
    () => Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0x07]),
    // Huffman strings: EOS inside, padding of zeros, padding longer than 7 bits.
    () => Buffer.from([0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x81]),
    () => Buffer.from([0x00, 0x81, 0x00, 0x81]),
    () => Buffer.from([0x00, 0x82, 0x1f, 0xff, 0x81, 0xff]),
    // A string longer than what follows; table size updates (above any limit, or after a field).
    () => Buffer.from([0x00, 0x7f, 0x40]),
    () => Buffer.from([0x3f, 0xe1, 0xff, 0x03]),
    () => Buffer.from([0x82, 0x20]),
    () => Buffer.from([0x3f, 0xe1, 0x1f]),
    () => rng.bytes(rng.range(1, 8)),
  ] as const)();
}

/** Mutations of a block: bit flips, byte changes, truncation, poison inserted, ranges cut or repeated. */
export function mutateBlock(rng: Rng, b: Buffer): Buffer {
  let out = Buffer.from(b);
  const rounds = rng.range(1, 4);
  for (let r = 0; r < rounds; r++) {
    const at = rng.int(out.length + 1);
    switch (rng.int(7)) {
      case 0:
        if (out.length > 0) out[rng.int(out.length)]! ^= 1 << rng.int(8);
        break;
      case 1:
        if (out.length > 0)
          out[rng.int(out.length)] = rng.pick([0x00, 0x20, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xff]);
        break;
      case 2:
        out = out.subarray(0, rng.int(out.length + 1));
        break;
      case 3:
        out = Buffer.concat([out.subarray(0, at), genPoison(rng), out.subarray(at)]);
        break;
      case 4: {
        const end = at + rng.size(out.length - at);
        out = Buffer.concat([out.subarray(0, at), out.subarray(end)]);
        break;
      }
      case 5: {
        const end = at + rng.size(out.length - at);
        out = Buffer.concat([out.subarray(0, end), out.subarray(at, end), out.subarray(end)]);
        break;
      }
      default:
        out = Buffer.concat([out, rng.bytes(rng.size(16))]);
    }
  }
  return out;
}

/** Input for the Huffman decoder: a valid coding (maybe mutated) or random bytes. */
export function genHuffmanInput(rng: Rng): Buffer {
  if (rng.chance(0.2)) return rng.bytes(rng.size(64));
  const s = genString(rng, 100);
  const b = Buffer.alloc(huffmanEncodedLength(s));
  huffmanEncode(s, b, 0);
  if (rng.chance(0.3)) return b;
  let out = b;
  switch (rng.int(5)) {
    case 0:
      if (out.length > 0) out[rng.int(out.length)]! ^= 1 << rng.int(8);
      break;
    case 1:
      out = out.subarray(0, rng.int(out.length + 1));
      break;
    case 2:
      out = Buffer.concat([out, Buffer.from([rng.pick([0xff, 0x00, 0xfe, 0x7f])])]);
      break;
    case 3: {
      const at = rng.int(out.length + 1);
      out = Buffer.concat([out.subarray(0, at), Buffer.from([0xff, 0xff, 0xff, 0xfc]), out.subarray(at)]);
      break;
    }
    default:
      if (out.length > 0) out[out.length - 1] = out[out.length - 1]! & ~(1 << rng.int(8));
  }
  return out;
}
