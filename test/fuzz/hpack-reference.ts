/**
 * A second HPACK decoder (RFC 7541) for differential fuzzing: written for clarity, not speed. Huffman codes
 * are decoded bit by bit from a code table recovered from the relay's encoder (whose output the RFC 7541
 * Appendix C vectors pin in test/relay/hpack.test.ts), so the relay decoder's byte-at-a-time state machine,
 * its padding and EOS checks, its integer limits and its dynamic table are all checked against independent
 * code.
 *
 * Implementation limits shared with the relay decoder (RFC 7541 section 5.1 lets a decoder refuse integers
 * beyond its limits): an integer takes at most 5 bytes after its prefix and is at most 2^31 - 1.
 */
import { STATIC_TABLE } from "../../src/dataplane/relay/hpack.js";
import { huffmanEncode, huffmanEncodedLength } from "../../src/dataplane/relay/huffman.js";

/** RFC 7541 Appendix B: EOS is 30 one bits. */
const EOS_LENGTH = 30;
const EOS_CODE = 0x3fffffff;
const ENTRY_OVERHEAD = 32;
const MAX_INT = 0x7fffffff;
const MAX_INT_BYTES = 5;

/** Symbol by code, per code length: recovered from the encoder, one symbol at a time. */
const SYMBOLS = new Map<number, Map<number, number>>();
for (let sym = 0; sym < 256; sym++) {
  const ch = String.fromCharCode(sym);
  // Eight copies fill a whole number of bytes: the byte count is the code length in bits.
  const len = huffmanEncodedLength(ch.repeat(8));
  const out = Buffer.alloc(8);
  huffmanEncode(ch, out, 0);
  let code = 0;
  for (let i = 0; i < len; i++) code = code * 2 + ((out[i >>> 3]! >>> (7 - (i & 7))) & 1);
  let byCode = SYMBOLS.get(len);
  if (byCode === undefined) {
    byCode = new Map();
    SYMBOLS.set(len, byCode);
  }
  byCode.set(code, sym);
}

/** Decodes Huffman-coded bytes; undefined when they are not a valid coding (RFC 7541 section 5.2). */
export function referenceHuffmanDecode(b: Buffer, start = 0, end = b.length): string | undefined {
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (let i = start; i < end; i++) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((b[i]! >>> bit) & 1);
      len++;
      if (len === EOS_LENGTH && code === EOS_CODE) return undefined;
      const sym = SYMBOLS.get(len)?.get(code);
      if (sym !== undefined) {
        out.push(sym);
        code = 0;
        len = 0;
      } else if (len > EOS_LENGTH) {
        return undefined;
      }
    }
  }
  // Padding: at most 7 bits, all ones (the most significant bits of EOS).
  if (len > 7 || code !== 2 ** len - 1) return undefined;
  return Buffer.from(out).toString("latin1");
}

export type ReferenceResult =
  | { ok: true; fields: string[]; oversized: boolean }
  | { ok: false; error: string };

class Malformed extends Error {}

/** One connection's HPACK decoding context. */
export class ReferenceDecoder {
  /** Dynamic table, newest first. */
  entries: [string, string][] = [];
  size = 0;
  /** The current maximum (the last table size update, or the initial setting). */
  limit: number;
  /** The most a table size update may set: our SETTINGS_HEADER_TABLE_SIZE. */
  private settingsMax: number;
  /**
   * Strict RFC 7541 section 4.2 (as nghttp2 checks it): after we lowered our setting below the current
   * maximum, the next block must start with a size update no larger than the lowest value we announced.
   */
  private requiredUpdate = -1;

  constructor(
    maxTableSize: number,
    readonly maxHeaderListSize: number,
    private readonly strict = false,
  ) {
    this.limit = maxTableSize;
    this.settingsMax = maxTableSize;
  }

  /** We announced SETTINGS_HEADER_TABLE_SIZE `v` (and the peer acknowledged it). */
  announce(v: number): void {
    this.settingsMax = v;
    if (v < this.limit) {
      this.limit = v;
      this.evict(0);
      this.requiredUpdate = this.requiredUpdate < 0 ? v : Math.min(this.requiredUpdate, v);
    }
  }

  decode(b: Buffer, start = 0, end = b.length): ReferenceResult {
    try {
      return { ok: true, ...this.decodeBlock(b, start, end) };
    } catch (e: unknown) {
      if (e instanceof Malformed) return { ok: false, error: e.message };
      throw e;
    }
  }

  private decodeBlock(b: Buffer, start: number, end: number): { fields: string[]; oversized: boolean } {
    const r = { b, p: start, end };
    const fields: string[] = [];
    let listSize = 0;
    let oversized = false;
    let fieldSeen = false;
    let updates = 0;
    while (r.p < end) {
      const first = b[r.p]!;
      if ((first & 0xe0) === 0x20) {
        if (fieldSeen) throw new Malformed("size update after a field");
        const n = readInt(r, 5);
        if (n > this.settingsMax) throw new Malformed("size update above the setting");
        if (this.strict && updates === 0 && this.requiredUpdate >= 0 && n > this.requiredUpdate)
          throw new Malformed(`first size update ${n} above the lowest announced ${this.requiredUpdate}`);
        updates++;
        this.requiredUpdate = -1;
        this.limit = n;
        this.evict(0);
        continue;
      }
      if (this.strict && this.requiredUpdate >= 0) throw new Malformed("size update expected");
      let name: string;
      let value: string;
      if (first & 0x80) {
        const idx = readInt(r, 7);
        [name, value] = this.lookup(idx);
      } else {
        const incremental = (first & 0xc0) === 0x40;
        const idx = readInt(r, incremental ? 6 : 4);
        name = idx === 0 ? readString(r) : this.lookup(idx)[0];
        value = readString(r);
        if (incremental) this.add(name, value);
      }
      fieldSeen = true;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > this.maxHeaderListSize) oversized = true;
      else fields.push(name, value);
    }
    return { fields: oversized ? [] : fields, oversized };
  }

  private lookup(idx: number): [string, string] {
    if (idx === 0) throw new Malformed("index 0");
    if (idx <= STATIC_TABLE.length) {
      const e = STATIC_TABLE[idx - 1]!;
      return [e[0], e[1]];
    }
    const e = this.entries[idx - STATIC_TABLE.length - 1];
    if (e === undefined) throw new Malformed(`index ${idx} beyond the dynamic table`);
    return e;
  }

  private add(name: string, value: string): void {
    const n = name.length + value.length + ENTRY_OVERHEAD;
    if (n > this.limit) {
      this.entries = [];
      this.size = 0;
      return;
    }
    this.evict(n);
    this.entries.unshift([name, value]);
    this.size += n;
  }

  private evict(room: number): void {
    while (this.size + room > this.limit && this.entries.length > 0) {
      const [n, v] = this.entries.pop()!;
      this.size -= n.length + v.length + ENTRY_OVERHEAD;
    }
  }
}

interface Cursor {
  b: Buffer;
  p: number;
  end: number;
}

function readInt(r: Cursor, prefix: number): number {
  const max = 2 ** prefix - 1;
  let v = r.b[r.p++]! & max;
  if (v < max) return v;
  for (let i = 0; ; i++) {
    if (i === MAX_INT_BYTES) throw new Malformed("integer encoding too long");
    if (r.p >= r.end) throw new Malformed("truncated integer");
    const byte = r.b[r.p++]!;
    v += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) break;
  }
  if (v > MAX_INT) throw new Malformed("integer too large");
  return v;
}

function readString(r: Cursor): string {
  if (r.p >= r.end) throw new Malformed("truncated string");
  const huffman = (r.b[r.p]! & 0x80) !== 0;
  const len = readInt(r, 7);
  if (len > r.end - r.p) throw new Malformed("string longer than the block");
  const s = r.p;
  r.p += len;
  if (!huffman) return r.b.toString("latin1", s, s + len);
  const d = referenceHuffmanDecode(r.b, s, s + len);
  if (d === undefined) throw new Malformed("invalid Huffman code");
  return d;
}
