/**
 * HPACK Huffman coding (RFC 7541 section 5.2 and Appendix B).
 *
 * Decoding walks the input a byte at a time through a table built once at load: for every state of the code
 * tree (an internal node) and every input byte, the next state and the symbols completed on the way. This
 * costs 64 Ki entries (about 320 KiB) and keeps per-byte work to a few array reads.
 */

/** Code of each symbol 0..255 and EOS (256), right-aligned; the RFC 7541 Appendix B table. */
const CODES: readonly number[] = [
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7, 0xfffffe8, 0xffffea,
  0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec, 0xfffffed, 0xfffffee, 0xfffffef,
  0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3, 0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7,
  0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb, 0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa, 0x3fa,
  0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18, 0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x5c,
  0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc, 0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66,
  0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0,
  0x1ffc, 0x3ffc, 0x22, 0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26, 0x27, 0x6, 0x74, 0x75, 0x28, 0x29,
  0x2a, 0x7, 0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd,
  0xffffffc, 0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9, 0x3fffd6, 0x7fffda,
  0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf, 0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0,
  0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3, 0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6,
  0x7fffe7, 0xffffef, 0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde, 0x7fffea,
  0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec, 0x1fffe0, 0x1fffe1, 0x3fffe0,
  0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef, 0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5,
  0x3fffe6, 0x7ffff1, 0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec,
  0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed, 0x7fff2, 0x1fffe3,
  0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2, 0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9,
  0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5, 0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7,
  0x1fffe8, 0x7ffff3, 0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
  0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea, 0x7ffffeb,
  0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee, 0x3fffffff,
];

/** Code length in bits of each symbol 0..255 and EOS (256). */
const LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28,
  28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7,
  8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19,
  13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13,
  28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21,
  22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23,
  22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25,
  25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

// Binary code tree: node n has children CHILD[2n] (bit 0) and CHILD[2n+1] (bit 1). A child value >= 0 is an
// internal node, a negative value -(symbol + 1) is a leaf.
const MAX_NODES = 256;
const CHILD = new Int32Array(MAX_NODES * 2);
/** Depth of each internal node, and whether its path is all one bits (valid end-of-string padding). */
const DEPTH = new Uint8Array(MAX_NODES);
const ALL_ONES = new Uint8Array(MAX_NODES);
let nodeCount = 1;

function buildTree(): void {
  ALL_ONES[0] = 1;
  for (let sym = 0; sym <= 256; sym++) {
    const code = CODES[sym]!;
    const len = LENGTHS[sym]!;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = (code >>> i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        CHILD[slot] = -(sym + 1);
        break;
      }
      let next = CHILD[slot]!;
      if (next <= 0) {
        next = nodeCount++;
        CHILD[slot] = next;
        DEPTH[next] = DEPTH[node]! + 1;
        ALL_ONES[next] = ALL_ONES[node]! && bit === 1 ? 1 : 0;
      }
      node = next;
    }
  }
}
buildTree();

// Byte-at-a-time transition table. For state s and byte b, entry e = s * 256 + b:
// NEXT[e] the state after the byte, EMIT_N[e] the number of symbols completed (0..2), SYM1/SYM2 the symbols,
// FAIL[e] set when the byte completes EOS (a decoding error, RFC 7541 section 5.2).
const NEXT = new Uint8Array(nodeCount * 256);
const EMIT_N = new Uint8Array(nodeCount * 256);
const SYM1 = new Uint8Array(nodeCount * 256);
const SYM2 = new Uint8Array(nodeCount * 256);
const FAIL = new Uint8Array(nodeCount * 256);

function buildTable(): void {
  for (let s = 0; s < nodeCount; s++) {
    for (let b = 0; b < 256; b++) {
      const e = s * 256 + b;
      let node = s;
      let n = 0;
      for (let i = 7; i >= 0; i--) {
        const c = CHILD[node * 2 + ((b >>> i) & 1)]!;
        if (c < 0) {
          const sym = -c - 1;
          if (sym === 256) FAIL[e] = 1;
          else if (n === 0) SYM1[e] = sym;
          else SYM2[e] = sym;
          n++;
          node = 0;
        } else {
          node = c;
        }
      }
      NEXT[e] = node;
      EMIT_N[e] = n;
    }
  }
}
buildTable();

/** Scratch for decoded bytes; strings longer than this grow it. */
let scratch = Buffer.allocUnsafe(4096);

/**
 * Decodes a Huffman-coded string (bytes taken as latin1, as HTTP/2 field values are octets).
 * Returns undefined when the input is not valid Huffman code (EOS inside, padding longer than 7 bits or not
 * all ones): the caller turns that into a COMPRESSION_ERROR.
 */
export function huffmanDecode(src: Buffer, start: number, end: number): string | undefined {
  // Each byte yields at most 8 / 5 symbols, so 2 per byte bounds the output.
  const need = (end - start) * 2;
  if (scratch.length < need) scratch = Buffer.allocUnsafe(need);
  const out = scratch;
  let o = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const e = state * 256 + src[i]!;
    if (FAIL[e] === 1) return undefined;
    const n = EMIT_N[e]!;
    if (n > 0) {
      out[o++] = SYM1[e]!;
      if (n > 1) out[o++] = SYM2[e]!;
    }
    state = NEXT[e]!;
  }
  if (state !== 0 && (DEPTH[state]! > 7 || ALL_ONES[state] !== 1)) return undefined;
  return out.toString("latin1", 0, o);
}

/** Length in bytes of the Huffman coding of `s` (latin1 code units). */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += LENGTHS[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >>> 3;
}

/** Writes the Huffman coding of `s` at `dst[off]`, padded with one bits; returns the new offset. */
export function huffmanEncode(s: string, dst: Buffer, off: number): number {
  // Bits are gathered in `acc` (at most 7 pending + 30 new fit in a double's exact integer range).
  let acc = 0;
  let nbits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    const len = LENGTHS[c]!;
    acc = acc * 2 ** len + CODES[c]!;
    nbits += len;
    while (nbits >= 8) {
      nbits -= 8;
      const div = 2 ** nbits;
      dst[off++] = Math.floor(acc / div) & 0xff;
      acc %= div;
    }
  }
  if (nbits > 0) {
    dst[off++] = ((acc << (8 - nbits)) | (0xff >>> nbits)) & 0xff;
  }
  return off;
}
