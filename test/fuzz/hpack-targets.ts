/**
 * HPACK fuzz targets: the relay's decoder against the reference decoder (and its own invariants), the
 * Huffman decoder against the bit-by-bit one, and the encoder's output through a strict reference decoder.
 */
import {
  type DecodedHeaders,
  HpackDecoder,
  HpackEncoder,
  HpackError,
} from "../../src/dataplane/relay/hpack.js";
import { huffmanDecode } from "../../src/dataplane/relay/huffman.js";
import { genFieldList, genHuffmanInput, genRawBlock, mutateBlock } from "./hpack-gen.js";
import { ReferenceDecoder, type ReferenceResult, referenceHuffmanDecode } from "./hpack-reference.js";
import type { Rng } from "./rng.js";
import { chunkRemovals, type Failure, type FuzzTarget } from "./runner.js";

const ENTRY_OVERHEAD = 32;

// ------------------------------------------------------------------------------------------------- decoder

export interface DecoderCase {
  /** The decoder's SETTINGS_HEADER_TABLE_SIZE and header list limit. */
  maxTableSize: number;
  maxListSize: number;
  /** Blocks decoded in order by one decoder. */
  blocks: Buffer[];
  /** What each block must decode to: set for encoder blocks while every block before was one, unchanged. */
  expect: (string[] | null)[];
  /** 0xff bytes around each block in the buffer handed to `decode`: it must not read outside its range. */
  pad: number;
}

function genDecoderCase(rng: Rng): DecoderCase {
  const maxTableSize = rng.weighted([
    [6, 4096],
    [1, 0],
    [1, 64],
    [1, 256],
    [1, 8192],
  ] as const);
  const maxListSize = rng.weighted([
    [4, 65536],
    [2, rng.int(200)],
    [1, 1000],
    [1, 4096],
  ] as const);
  const enc = new HpackEncoder();
  if (maxTableSize < 4096) enc.setMaxTableSize(maxTableSize);
  const blocks: Buffer[] = [];
  const expect: (string[] | null)[] = [];
  let inSync = true;
  const n = rng.range(1, 6);
  for (let i = 0; i < n; i++) {
    const kind = rng.weighted([
      [5, "encoder"],
      [3, "raw"],
      [1, "random"],
    ] as const);
    let block: Buffer;
    let fields: string[] | null = null;
    if (kind === "encoder") {
      if (rng.chance(0.1)) enc.setMaxTableSize(rng.int(Math.min(maxTableSize, 4096) + 1));
      fields = genFieldList(rng, true);
      block = enc.encode(fields);
    } else if (kind === "raw") {
      block = genRawBlock(rng, maxTableSize);
    } else {
      block = rng.bytes(rng.size(200));
    }
    if (kind !== "encoder" || rng.chance(0.3)) {
      if (kind !== "random" && rng.chance(0.5)) block = mutateBlock(rng, block);
      inSync = false;
    }
    blocks.push(block);
    expect.push(inSync ? fields : null);
  }
  return { maxTableSize, maxListSize, blocks, expect, pad: rng.chance(0.3) ? rng.range(1, 8) : 0 };
}

function listSize(fields: readonly string[]): number {
  let n = 0;
  for (const f of fields) n += f.length;
  return n + (fields.length / 2) * ENTRY_OVERHEAD;
}

function show(r: ReferenceResult | DecodedHeaders): string {
  const s = JSON.stringify(r);
  return s.length > 300 ? `${s.slice(0, 300)}...` : s;
}

/** Decodes the case's blocks with the relay decoder and the reference; the first difference or broken rule. */
export function runDecoderCase(c: DecoderCase): Failure | null {
  const dec = new HpackDecoder(c.maxTableSize, c.maxListSize);
  const ref = new ReferenceDecoder(c.maxTableSize, c.maxListSize);
  const fill = Buffer.alloc(c.pad, 0xff);
  for (let i = 0; i < c.blocks.length; i++) {
    const block = c.blocks[i]!;
    const buf = c.pad > 0 ? Buffer.concat([fill, block, fill]) : block;
    const start = c.pad;
    const end = c.pad + block.length;
    let got: DecodedHeaders | undefined;
    let err: unknown;
    try {
      got = dec.decode(buf, start, end);
    } catch (e: unknown) {
      if (!(e instanceof HpackError))
        return { kind: "threw-non-HpackError", detail: `block ${i}: ${e instanceof Error ? e.stack : e}` };
      err = e;
    }
    const want = ref.decode(buf, start, end);
    if (got === undefined) {
      if (want.ok)
        return {
          kind: "reference-disagrees",
          detail: `block ${i}: the decoder refused it (${(err as Error).message}), the reference decoded ${show(want)}`,
        };
      // A COMPRESSION_ERROR ends the connection, so the decoder is not used again; still, it stays usable:
      // its table is the reference's, and the next blocks decode as the reference decodes them.
      if (dec.tableSize !== ref.size)
        return {
          kind: "table-size",
          detail: `after the error in block ${i}: ${dec.tableSize} vs ${ref.size}`,
        };
      continue;
    }
    if (!want.ok)
      return {
        kind: "reference-disagrees",
        detail: `block ${i}: the decoder returned ${show(got)}, the reference refused it (${want.error})`,
      };
    const shape = checkShape(got, c.maxListSize);
    if (shape !== null) return { kind: "result-shape", detail: `block ${i}: ${shape}` };
    if (got.oversized !== want.oversized || !sameList(got.fields, want.fields))
      return {
        kind: "reference-disagrees",
        detail: `block ${i}: decoder ${show(got)}, reference ${show(want)}`,
      };
    if (dec.tableSize !== ref.size || dec.tableSize > ref.limit)
      return {
        kind: "table-size",
        detail: `block ${i}: table ${dec.tableSize} bytes, reference ${ref.size} (limit ${ref.limit})`,
      };
    const expected = c.expect[i];
    if (expected !== null && expected !== undefined && !got.oversized && !sameList(got.fields, expected))
      return {
        kind: "round-trip",
        detail: `block ${i}: encoded ${show({ fields: expected, oversized: false, malformed: "" })}`,
      };
  }
  return null;
}

/** The result's own rules: a flat list of strings, within the limit, empty when oversized. */
function checkShape(r: DecodedHeaders, maxListSize: number): string | null {
  if (!Array.isArray(r.fields) || r.fields.length % 2 !== 0) return "fields is not a flat name/value list";
  if (r.fields.some((f) => typeof f !== "string")) return "a field is not a string";
  if (r.oversized && r.fields.length > 0) return "oversized with fields";
  if (!r.oversized && listSize(r.fields) > maxListSize)
    return `list of ${listSize(r.fields)} bytes above the limit ${maxListSize}`;
  return null;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function hex(b: Buffer): string {
  return b.toString("hex");
}

export const decoderTarget: FuzzTarget<DecoderCase> = {
  name: "hpack-decoder",
  defaultCases: 5000,
  generate: genDecoderCase,
  run: runDecoderCase,
  size: (c) => c.blocks.reduce((n, b) => n + b.length, 0),
  weight: (c) => c.blocks.reduce((n, b) => n + b.length, 0) * 16 + c.blocks.length + c.pad,
  describe: (c) =>
    [
      `maxTableSize ${c.maxTableSize}, maxHeaderListSize ${c.maxListSize}, pad ${c.pad}, blocks (hex):`,
      ...c.blocks.map((b, i) => `  ${i}: ${hex(b)}${c.expect[i] ? " (encoder block)" : ""}`),
    ].join("\n"),
  *shrinkCandidates(c) {
    // Expectations hold only while every block before is unchanged: drop those of changed blocks and later.
    const from = (i: number) => c.expect.map((e, k) => (k < i ? e : null));
    if (c.pad > 0) yield { ...c, pad: 0 };
    for (let i = c.blocks.length - 1; i >= 0; i--)
      yield { ...c, blocks: c.blocks.filter((_, k) => k !== i), expect: from(i).filter((_, k) => k !== i) };
    for (let i = 0; i < c.blocks.length; i++) {
      const b = c.blocks[i]!;
      for (const [s, e] of chunkRemovals(b.length)) {
        const blocks = c.blocks.slice();
        blocks[i] = Buffer.concat([b.subarray(0, s), b.subarray(e)]);
        yield { ...c, blocks, expect: from(i) };
      }
    }
  },
};

// ------------------------------------------------------------------------------------------------- Huffman

export function runHuffmanCase(b: Buffer): Failure | null {
  // Zero bytes around the input: reading past either end would change the padding check.
  const buf = Buffer.concat([Buffer.alloc(3), b, Buffer.alloc(3)]);
  const got = huffmanDecode(buf, 3, 3 + b.length);
  const want = referenceHuffmanDecode(b);
  if (got !== want)
    return {
      kind: "reference-disagrees",
      detail: `decoder ${JSON.stringify(got)}, reference ${JSON.stringify(want)}`,
    };
  return null;
}

export const huffmanTarget: FuzzTarget<Buffer> = {
  name: "huffman-decoder",
  defaultCases: 5000,
  generate: genHuffmanInput,
  run: runHuffmanCase,
  size: (b) => b.length,
  weight: (b) => b.length,
  describe: (b) => `input (hex): ${hex(b)}`,
  *shrinkCandidates(b) {
    for (const [s, e] of chunkRemovals(b.length)) yield Buffer.concat([b.subarray(0, s), b.subarray(e)]);
  },
};

// ------------------------------------------------------------------------------------------------- encoder

/** What the peer does: announce a SETTINGS_HEADER_TABLE_SIZE, or receive a header list we encode. */
export type EncoderOp = { settings: number } | { fields: string[] };

function genEncoderCase(rng: Rng): EncoderOp[] {
  const ops: EncoderOp[] = [];
  const n = rng.range(1, 12);
  let last: string[] = [];
  for (let i = 0; i < n; i++) {
    if (rng.chance(0.25)) {
      ops.push({
        settings: rng.weighted([
          [3, 0],
          [3, rng.int(4097)],
          [2, 4096],
          [1, 65536],
          [1, rng.u32Interesting()],
        ] as const),
      });
      continue;
    }
    // A connection sends the same lists call after call: repeat the last one often.
    last = rng.chance(0.3) && last.length > 0 ? last : genFieldList(rng);
    ops.push({ fields: last });
  }
  return ops;
}

/** Encodes the lists with one encoder and decodes them with a strict decoder that saw the same settings. */
export function runEncoderCase(ops: EncoderOp[]): Failure | null {
  const enc = new HpackEncoder();
  const ref = new ReferenceDecoder(4096, Number.POSITIVE_INFINITY, true);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if ("settings" in op) {
      enc.setMaxTableSize(op.settings);
      ref.announce(op.settings);
      continue;
    }
    const block = i % 2 === 0 ? enc.encode(op.fields) : Buffer.from(enc.encodeView(op.fields));
    const got = ref.decode(block);
    if (!got.ok) return { kind: "peer-refuses", detail: `op ${i}: ${got.error}; block ${hex(block)}` };
    if (!sameList(got.fields, op.fields))
      return { kind: "round-trip", detail: `op ${i}: decoded ${show(got)}; block ${hex(block)}` };
  }
  return null;
}

export const encoderTarget: FuzzTarget<EncoderOp[]> = {
  name: "hpack-encoder",
  defaultCases: 3000,
  generate: genEncoderCase,
  run: runEncoderCase,
  size: (ops) => ops.reduce((n, op) => n + ("fields" in op ? op.fields.join("").length : 4), 0),
  weight: (ops) =>
    ops.length * 1_000_000 + ops.reduce((n, op) => n + ("fields" in op ? op.fields.length : 0), 0),
  describe: (ops) => `ops: ${JSON.stringify(ops)}`,
  *shrinkCandidates(ops) {
    for (let i = ops.length - 1; i >= 0; i--) yield ops.filter((_, k) => k !== i);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (!("fields" in op)) continue;
      for (let f = 0; f < op.fields.length; f += 2) {
        const next = ops.slice();
        next[i] = { fields: op.fields.filter((_, k) => k !== f && k !== f + 1) };
        yield next;
      }
    }
  },
};
