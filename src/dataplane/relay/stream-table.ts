/**
 * The open streams of one connection, by stream id: an open-addressing table (linear probing, deletion by
 * backward shift) over an `Int32Array` of ids and an array of values.
 *
 * Why not a `Map`: every insertion and deletion churns a `Map`, and V8 replaces its backing table every few
 * of them. A replaced table keeps a pointer to its successor (for live iterators) and its entries. Once one
 * table of a busy connection is in the old generation (a full collection moves the live one there), each
 * dead successor is reachable from the one before it, so young-generation collections keep and promote every
 * table and the streams and calls it points at, until the next full collection, which starts the chain again.
 * In that state a quarter of what the relay allocates survived each young collection instead of 2.5 %, and the
 * collections took 2 ms instead of 0.4 (bench/history/notes-2026.md, "The bad runs"). This table allocates only when it
 * grows, and an old array it drops points at nothing newer.
 *
 * Stream ids are positive 31-bit integers; 0 marks a free slot. The ids a connection uses at once are close
 * together and share a parity, so `id >>> 1` spreads them over consecutive slots.
 */
export class StreamTable<T> {
  private ids: Int32Array;
  private values: (T | undefined)[];
  private mask: number;
  /** Number of entries. */
  size = 0;

  /** `capacity`: slots to start with (a power of two, at least 8); the table doubles when half full. */
  constructor(capacity = 16) {
    let c = 8;
    while (c < capacity) c *= 2;
    this.ids = new Int32Array(c);
    this.values = new Array<T | undefined>(c).fill(undefined);
    this.mask = c - 1;
  }

  get(id: number): T | undefined {
    const i = this.slot(id);
    return i < 0 ? undefined : this.values[i];
  }

  /** Adds or replaces the entry for `id` (1 to 2^31 - 1). */
  set(id: number, value: T): void {
    if (id <= 0 || id > 0x7fffffff) throw new RangeError(`stream id ${id} out of range`);
    const ids = this.ids;
    const mask = this.mask;
    let i = (id >>> 1) & mask;
    for (;;) {
      const k = ids[i]!;
      if (k === id) {
        this.values[i] = value;
        return;
      }
      if (k === 0) break;
      i = (i + 1) & mask;
    }
    // At most half full, so probes stay short and a free slot always ends them.
    if ((this.size + 1) * 2 > ids.length) {
      this.grow();
      this.set(id, value);
      return;
    }
    ids[i] = id;
    this.values[i] = value;
    this.size++;
  }

  /** Removes the entry for `id`; returns whether there was one. */
  delete(id: number): boolean {
    let i = this.slot(id);
    if (i < 0) return false;
    const ids = this.ids;
    const values = this.values;
    const mask = this.mask;
    // Backward shift: move later entries of the probe run into the hole when their home slot allows it, so
    // a lookup never stops early at a free slot and no tombstones pile up.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = ids[j]!;
      if (k === 0) break;
      const home = (k >>> 1) & mask;
      // The entry at j may fill the hole at i unless its home lies cyclically in (i, j].
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (stays) continue;
      ids[i] = k;
      values[i] = values[j];
      i = j;
    }
    ids[i] = 0;
    values[i] = undefined;
    this.size--;
    return true;
  }

  /** The values, in slot order (a copy: the table may change while the caller walks it). */
  toArray(): T[] {
    const out: T[] = [];
    const ids = this.ids;
    for (let i = 0; i < ids.length; i++) if (ids[i] !== 0) out.push(this.values[i] as T);
    return out;
  }

  clear(): void {
    this.ids.fill(0);
    this.values.fill(undefined);
    this.size = 0;
  }

  /** The slot holding `id`, or -1. */
  private slot(id: number): number {
    if (id <= 0) return -1;
    const ids = this.ids;
    const mask = this.mask;
    let i = (id >>> 1) & mask;
    for (;;) {
      const k = ids[i]!;
      if (k === id) return i;
      if (k === 0) return -1;
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const oldIds = this.ids;
    const oldValues = this.values;
    const c = oldIds.length * 2;
    this.ids = new Int32Array(c);
    this.values = new Array<T | undefined>(c).fill(undefined);
    this.mask = c - 1;
    this.size = 0;
    for (let i = 0; i < oldIds.length; i++) {
      const k = oldIds[i]!;
      if (k !== 0) this.set(k, oldValues[i] as T);
    }
  }
}
