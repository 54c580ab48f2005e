/**
 * HPACK (RFC 7541): header compression for the relay's HTTP/2 connections.
 *
 * Header lists are flat string arrays `[name0, value0, name1, value1, ...]` (names lowercase, values latin1):
 * no object per field, and the relay forwards them in order.
 */
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from "./huffman.js";
import { nameProblem, valueProblem } from "./validate.js";

/** The static table (RFC 7541 Appendix A); index 1 is `STATIC_TABLE[0]`. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

const STATIC_LEN = STATIC_TABLE.length;
/** RFC 7541 section 4.1: each entry costs its name and value lengths plus 32. */
const ENTRY_OVERHEAD = 32;

/** Static index of a name (first entry with that name), and of exact name -> value pairs. */
const STATIC_NAME = new Map<string, number>();
const STATIC_PAIR = new Map<string, Map<string, number>>();
for (let i = 0; i < STATIC_LEN; i++) {
  const [n, v] = STATIC_TABLE[i]!;
  if (!STATIC_NAME.has(n)) STATIC_NAME.set(n, i + 1);
  if (v === "") continue;
  let byValue = STATIC_PAIR.get(n);
  if (byValue === undefined) {
    byValue = new Map();
    STATIC_PAIR.set(n, byValue);
  }
  byValue.set(v, i + 1);
}

/** A malformed header block: the connection must end with COMPRESSION_ERROR (RFC 7540 section 4.3). */
export class HpackError extends Error {
  override readonly name = "HpackError";
}

/** Result of decoding one header block. */
export interface DecodedHeaders {
  /** Flat `[name, value, ...]` list in wire order. */
  fields: string[];
  /**
   * Set when the list is larger than the decoder's `maxHeaderListSize` (RFC 7540 section 6.5.2 counting):
   * the block was still decoded (the dynamic table must stay in step) but `fields` is empty.
   */
  oversized: boolean;
  /**
   * Why a field of the block is malformed (RFC 9113 section 8.2.1: a name not lowercase token characters, a
   * value with NUL, CR or LF or with leading or trailing whitespace), or "". Each literal is checked once as
   * it is decoded; indexed fields were checked when they entered the table.
   */
  malformed: string;
}

/**
 * Decoder side of one connection (one dynamic table). Throws `HpackError` on malformed input.
 */
export class HpackDecoder {
  /** Dynamic table as a ring, newest last: names and values. */
  private names: string[] = [];
  private values: string[] = [];
  /** Entries whose name or value is malformed (kept to stay in step), and how many there are. */
  private bad: boolean[] = [];
  private badCount = 0;
  private size = 0;
  /** The limit we advertised in SETTINGS_HEADER_TABLE_SIZE; table size updates may not exceed it. */
  private maxSize: number;
  private limit: number;

  /**
   * @param maxTableSize our SETTINGS_HEADER_TABLE_SIZE (default 4096).
   * @param maxHeaderListSize largest decoded header list accepted, in RFC 7540 bytes (default 64 KiB).
   */
  constructor(maxTableSize = 4096, maxHeaderListSize = 65536) {
    this.maxSize = maxTableSize;
    this.limit = maxTableSize;
    this.maxHeaderListSize = maxHeaderListSize;
  }

  readonly maxHeaderListSize: number;

  /** Current dynamic table size in RFC 7541 bytes (for tests). */
  get tableSize(): number {
    return this.size;
  }

  /** Decodes one complete header block (`buf[start, end)`). */
  decode(buf: Buffer, start: number, end: number): DecodedHeaders {
    const fields: string[] = [];
    let listSize = 0;
    let oversized = false;
    let malformed = "";
    let p = start;
    let fieldsSeen = false;
    while (p < end) {
      const b = buf[p]!;
      let name: string;
      let value: string;
      if (b & 0x80) {
        // Indexed field (section 6.1).
        const idx = this.readInt(buf, p, end, 7);
        p = this.pos;
        if (idx === 0) throw new HpackError("indexed field with index 0");
        if (idx <= STATIC_LEN) {
          const e = STATIC_TABLE[idx - 1]!;
          name = e[0];
          value = e[1];
        } else {
          const d = this.names.length - (idx - STATIC_LEN);
          if (d < 0) throw new HpackError(`index ${idx} beyond the dynamic table`);
          name = this.names[d]!;
          value = this.values[d]!;
          if (this.badCount > 0 && this.bad[d] && malformed === "")
            malformed = nameProblem(name) || valueProblem(name, value);
        }
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update (section 6.3): only before the first field of a block.
        if (fieldsSeen) throw new HpackError("table size update after a field");
        const n = this.readInt(buf, p, end, 5);
        p = this.pos;
        if (n > this.maxSize) throw new HpackError(`table size update ${n} above the limit ${this.maxSize}`);
        this.limit = n;
        this.evict(0);
        continue;
      } else {
        // Literal (section 6.2): with incremental indexing (01), without (0000) or never indexed (0001).
        const incremental = (b & 0xc0) === 0x40;
        const idx = this.readInt(buf, p, end, incremental ? 6 : 4);
        p = this.pos;
        let problem = "";
        if (idx === 0) {
          name = this.readString(buf, p, end);
          p = this.pos;
          problem = nameProblem(name);
        } else if (idx <= STATIC_LEN) {
          name = STATIC_TABLE[idx - 1]![0];
        } else {
          const d = this.names.length - (idx - STATIC_LEN);
          if (d < 0) throw new HpackError(`name index ${idx} beyond the dynamic table`);
          name = this.names[d]!;
          if (this.badCount > 0 && this.bad[d]) problem = nameProblem(name);
        }
        value = this.readString(buf, p, end);
        p = this.pos;
        if (problem === "") problem = valueProblem(name, value);
        if (problem !== "" && malformed === "") malformed = problem;
        if (incremental) this.add(name, value, problem !== "");
      }
      fieldsSeen = true;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > this.maxHeaderListSize) oversized = true;
      if (!oversized) fields.push(name, value);
    }
    if (oversized) fields.length = 0;
    return { fields, oversized, malformed };
  }

  /** Position after the last `readInt` / `readString`. */
  private pos = 0;

  private readInt(buf: Buffer, p: number, end: number, prefix: number): number {
    const max = (1 << prefix) - 1;
    let v = buf[p++]! & max;
    if (v < max) {
      this.pos = p;
      return v;
    }
    let m = 0;
    for (;;) {
      if (p >= end) throw new HpackError("truncated integer");
      const b = buf[p++]!;
      v += (b & 0x7f) * 2 ** m;
      m += 7;
      if ((b & 0x80) === 0) break;
      // Nothing on the wire is larger than 2^31; refuse longer encodings before they overflow.
      if (m > 28) throw new HpackError("integer too large");
    }
    if (v > 0x7fffffff) throw new HpackError("integer too large");
    this.pos = p;
    return v;
  }

  private readString(buf: Buffer, p: number, end: number): string {
    if (p >= end) throw new HpackError("truncated string");
    const huffman = (buf[p]! & 0x80) !== 0;
    const len = this.readInt(buf, p, end, 7);
    p = this.pos;
    if (len > end - p) throw new HpackError("string longer than the block");
    this.pos = p + len;
    if (!huffman) return buf.toString("latin1", p, p + len);
    const s = huffmanDecode(buf, p, p + len);
    if (s === undefined) throw new HpackError("invalid Huffman code");
    return s;
  }

  private add(name: string, value: string, bad: boolean): void {
    const n = name.length + value.length + ENTRY_OVERHEAD;
    if (n > this.limit) {
      // Section 4.4: an entry larger than the table empties it and is not added.
      this.names.length = 0;
      this.values.length = 0;
      this.bad.length = 0;
      this.badCount = 0;
      this.size = 0;
      return;
    }
    this.evict(n);
    this.names.push(name);
    this.values.push(value);
    this.bad.push(bad);
    if (bad) this.badCount++;
    this.size += n;
  }

  /** Evicts oldest entries until `extra` more bytes fit. */
  private evict(extra: number): void {
    let drop = 0;
    while (this.size + extra > this.limit && drop < this.names.length) {
      this.size -= this.names[drop]!.length + this.values[drop]!.length + ENTRY_OVERHEAD;
      if (this.bad[drop]) this.badCount--;
      drop++;
    }
    if (drop > 0) {
      this.names.splice(0, drop);
      this.values.splice(0, drop);
      this.bad.splice(0, drop);
    }
  }
}

/**
 * Headers whose values change per call: indexing them would only churn the peer's table (`date` changes once
 * a second, so it is indexed). `authorization` stays out of the table so it cannot be probed by size.
 */
const NEVER_INDEX = new Set(["grpc-timeout", "content-length", "grpc-message", "authorization"]);
/** Values longer than this are sent literally without indexing (they would evict everything else). */
const MAX_INDEXED_VALUE = 256;

/**
 * Encoder side of one connection. Indexes repeated fields in the dynamic table (a gRPC call's headers are
 * mostly the same from call to call, so the second call's block is a few bytes), Huffman-codes strings when
 * that is shorter.
 */
export class HpackEncoder {
  /** Dynamic table entries: name -> value -> insertion number (nested maps: no key string per field). */
  private pairs = new Map<string, Map<string, number>>();
  private byName = new Map<string, number>();
  /** Entries in insertion order; entry k has insertion number `base + k`. */
  private names: string[] = [];
  private values: string[] = [];
  private sizes: number[] = [];
  private base = 0;
  private size = 0;
  private limit = 4096;
  /** Set when the peer changed SETTINGS_HEADER_TABLE_SIZE: the next block starts with a size update. */
  private pendingSizeUpdate = -1;
  /**
   * The smallest size set since the last block. When it is below `pendingSizeUpdate` (lowered, then raised
   * again) it is signalled first (RFC 7541 section 4.2): a decoder that shrank its table expects an update no
   * larger than that, and nghttp2 refuses the block otherwise.
   */
  private pendingMinSize = -1;
  // Allocated at the first block: an idle connection never encodes one, and 4 KiB each adds up over thousands.
  private out = Buffer.alloc(0);
  /** Bumped whenever the dynamic table changes: encodings remembered under another version are stale. */
  private version = 0;
  /**
   * The last few header lists that encoded without changing the table, and their bytes: a connection sends
   * the same lists call after call (request headers, response headers, trailers), made of the same strings,
   * and comparing them is cheaper than looking every field up again.
   */
  private memo: { fields: string[]; bytes: Buffer; version: number }[] = [];
  private memoNext = 0;

  /** Applies the peer's SETTINGS_HEADER_TABLE_SIZE. We never use more than 4096. */
  setMaxTableSize(n: number): void {
    const next = Math.min(n, 4096);
    if (next === this.limit) return;
    this.limit = next;
    this.version++;
    this.evict(0);
    this.pendingMinSize = this.pendingSizeUpdate < 0 ? next : Math.min(this.pendingMinSize, next);
    this.pendingSizeUpdate = next;
  }

  /** Encodes a flat `[name, value, ...]` list into a fresh Buffer (the header block fragment). */
  encode(fields: readonly string[]): Buffer {
    return Buffer.from(this.encodeView(fields));
  }

  /** Like `encode`, into the encoder's own buffer: the result is valid until the next call. */
  encodeView(fields: readonly string[]): Buffer {
    const memo = this.memo;
    for (let m = 0; m < memo.length; m++) {
      const e = memo[m]!;
      if (e.version === this.version && sameFields(e.fields, fields)) return e.bytes;
    }
    const version = this.version;
    // A block that starts with a table size update is sent once, not remembered.
    const sizeUpdate = this.pendingSizeUpdate >= 0;
    const out = this.encodeFields(fields);
    if (this.version === version && !sizeUpdate) {
      const e = { fields: fields.slice(), bytes: Buffer.from(out), version };
      if (memo.length < MEMO_ENTRIES) memo.push(e);
      else memo[this.memoNext] = e;
      this.memoNext = (this.memoNext + 1) % MEMO_ENTRIES;
    }
    return out;
  }

  private encodeFields(fields: readonly string[]): Buffer {
    let need = 16;
    for (let i = 0; i < fields.length; i++) need += fields[i]!.length + 10;
    if (this.out.length < need) this.out = Buffer.allocUnsafe(need * 2);
    const out = this.out;
    let o = 0;
    if (this.pendingSizeUpdate >= 0) {
      if (this.pendingMinSize < this.pendingSizeUpdate) o = writeInt(out, o, 5, 0x20, this.pendingMinSize);
      o = writeInt(out, o, 5, 0x20, this.pendingSizeUpdate);
      this.pendingSizeUpdate = -1;
    }
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      const st = STATIC_PAIR.get(name)?.get(value);
      if (st !== undefined) {
        o = writeInt(out, o, 7, 0x80, st);
        continue;
      }
      const dyn = this.pairs.get(name)?.get(value);
      if (dyn !== undefined) {
        o = writeInt(out, o, 7, 0x80, this.indexOf(dyn));
        continue;
      }
      const index = !NEVER_INDEX.has(name) && value.length <= MAX_INDEXED_VALUE;
      let nameIdx = STATIC_NAME.get(name) ?? 0;
      if (nameIdx === 0) {
        const dn = this.byName.get(name);
        if (dn !== undefined) nameIdx = this.indexOf(dn);
      }
      o = index ? writeInt(out, o, 6, 0x40, nameIdx) : writeInt(out, o, 4, 0x00, nameIdx);
      if (nameIdx === 0) o = writeString(out, o, name, index);
      // A value sent once is written raw: Huffman would save a few bytes of loopback traffic at a CPU cost.
      o = writeString(out, o, value, index);
      if (index) this.add(name, value, name.length + value.length + ENTRY_OVERHEAD);
    }
    return out.subarray(0, o);
  }

  /** HPACK index of the entry with insertion number `ins` (newest entry is 62). */
  private indexOf(ins: number): number {
    return STATIC_LEN + (this.base + this.names.length - ins);
  }

  private add(name: string, value: string, n: number): void {
    if (n > this.limit) {
      this.evict(this.limit + 1);
      return;
    }
    this.evict(n);
    const ins = this.base + this.names.length;
    this.names.push(name);
    this.values.push(value);
    this.sizes.push(n);
    let byValue = this.pairs.get(name);
    if (byValue === undefined) {
      byValue = new Map();
      this.pairs.set(name, byValue);
    }
    byValue.set(value, ins);
    this.byName.set(name, ins);
    this.size += n;
    this.version++;
  }

  private evict(extra: number): void {
    let drop = 0;
    while (this.size + extra > this.limit && drop < this.names.length) {
      const ins = this.base + drop;
      const name = this.names[drop]!;
      const byValue = this.pairs.get(name);
      if (byValue !== undefined && byValue.get(this.values[drop]!) === ins) {
        byValue.delete(this.values[drop]!);
        if (byValue.size === 0) this.pairs.delete(name);
      }
      if (this.byName.get(name) === ins) this.byName.delete(name);
      this.size -= this.sizes[drop]!;
      drop++;
    }
    if (drop > 0) {
      this.version++;
      this.names.splice(0, drop);
      this.values.splice(0, drop);
      this.sizes.splice(0, drop);
      this.base += drop;
    }
  }
}

/** Header lists an encoder remembers the bytes of. */
const MEMO_ENTRIES = 4;

function sameFields(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Writes an HPACK integer with an N-bit prefix (section 5.1); `flags` fills the high bits of the first byte. */
export function writeInt(out: Buffer, o: number, prefix: number, flags: number, v: number): number {
  const max = (1 << prefix) - 1;
  if (v < max) {
    out[o++] = flags | v;
    return o;
  }
  out[o++] = flags | max;
  v -= max;
  while (v >= 128) {
    out[o++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[o++] = v;
  return o;
}

function writeString(out: Buffer, o: number, s: string, huffman: boolean): number {
  const h = huffman ? huffmanEncodedLength(s) : s.length;
  if (h < s.length) {
    o = writeInt(out, o, 7, 0x80, h);
    return huffmanEncode(s, out, o);
  }
  o = writeInt(out, o, 7, 0, s.length);
  return o + out.write(s, o, "latin1");
}
