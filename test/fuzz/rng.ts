/**
 * The fuzzers' pseudo-random numbers: sfc32 (a small, fast 32-bit generator with a 128-bit state), seeded
 * through splitmix32 so that every (seed, target, case) triple gets its own independent stream. A case is
 * replayed from its three numbers alone, without running the cases before it.
 */

/** splitmix32: one step of a 32-bit mixing function, used to expand seeds. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A 32-bit hash of a string (FNV-1a), to give each fuzz target its own seed space. */
export function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Integers worth trying wherever a 32-bit or frame-length field is written. */
export const INTERESTING_U32: readonly number[] = [
  0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0x4001, 0xfffe, 0xffff, 0x10000, 0x1ffff, 0x20000,
  0xffffff, 0x1000000, 0x7ffeffff, 0x7ffffffe, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff,
];

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A generator for case `caseNo` of `target` under `seed`. */
  constructor(seed: number, target = 0, caseNo = 0) {
    let s = splitmix32(seed >>> 0);
    s = splitmix32(s ^ (target >>> 0));
    s = splitmix32(s ^ (caseNo >>> 0));
    this.a = s;
    this.b = splitmix32(s ^ 0x1);
    this.c = splitmix32(s ^ 0x2);
    this.d = splitmix32(s ^ 0x3);
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n) (n >= 1). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** One of `choices` with probability proportional to its weight. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of choices) total += w;
    let r = this.float() * total;
    for (const [w, v] of choices) {
      r -= w;
      if (r < 0) return v;
    }
    return choices[choices.length - 1]![1];
  }

  /** A size in [0, max], small ones far likelier (log-uniform). */
  size(max: number): number {
    return Math.min(max, Math.floor(2 ** (this.float() * Math.log2(max + 2))) - 1);
  }

  /** A 32-bit value: an interesting one or a uniform one. */
  u32Interesting(): number {
    return this.chance(0.5) ? this.pick(INTERESTING_U32) : this.u32();
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}
