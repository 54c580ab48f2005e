/**
 * The output side of a connection: frames queued during one event-loop turn and written to the socket
 * together, in one write or one corked writev.
 *
 * Small frames (frame headers, header blocks, control frames, small payloads) are written straight into a
 * 16 KiB slab of the writer, one run of it per flush, so no Buffer object is made per frame. Large payloads are
 * queued by reference between the runs, so message bytes are never copied.
 */
import type { Socket } from "node:net";
import { Flag, FRAME_HEADER_LENGTH, FrameType, writeFrameHeader } from "./frames.js";

/** Payloads smaller than this are copied into the slab, joining the frames around them into one write. */
const COPY_BELOW = 4096;
/** Socket bytes pending above which DATA waits for 'drain' (the peer reads slower than its windows allow). */
export const SOCKET_HIGH_WATER = 1 << 20;
/** Size of the buffers small frames are written into (a new one when one is full). */
const SLAB_BYTES = 16 * 1024;
const EMPTY_SLAB = Buffer.alloc(0);

// Writers with something queued in this turn: flushed together after the current I/O callback, so a read
// that carries many frames produces one writev per peer.
const dirty: FrameWriter[] = [];
let flushScheduled = false;
function flushDirty(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

/** Queues frames for one socket and writes them once per turn. */
export class FrameWriter {
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  private slab = EMPTY_SLAB;
  private slabPos = 0;
  private runStart = 0;
  private queued = false;
  /** Set when the socket is gone or the connection failed: queued bytes are dropped, nothing is written. */
  closed = false;
  /** Whether the slab may be released after a flush (the connection has no open stream). */
  idle: () => boolean = alwaysIdle;

  constructor(private readonly socket: Socket) {}

  /** Queues bytes for the next flush: copied into the slab when small, else by reference. */
  push(b: Buffer): void {
    const n = b.length;
    if (n < COPY_BELOW) {
      const slab = this.room(n);
      b.copy(slab, this.slabPos);
      this.slabPos += n;
      return;
    }
    this.seal();
    this.chunks.push(b);
    this.chunkBytes += n;
    this.schedule();
  }

  /** Queues a frame header, written straight into the slab. */
  frameHeader(length: number, type: number, flags: number, id: number): void {
    const slab = this.room(FRAME_HEADER_LENGTH);
    writeFrameHeader(slab, this.slabPos, length, type, flags, id);
    this.slabPos += FRAME_HEADER_LENGTH;
  }

  /** Queues HEADERS (+ CONTINUATION when the block exceeds `maxFrame`) for a header block. */
  headers(id: number, block: Buffer, endStream: boolean, maxFrame: number): void {
    const frames = Math.max(1, Math.ceil(block.length / maxFrame));
    const slab = this.room(block.length + frames * FRAME_HEADER_LENGTH);
    let o = this.slabPos;
    for (let i = 0; i < frames; i++) {
      const start = i * maxFrame;
      const len = Math.min(maxFrame, block.length - start);
      const type = i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      const flags = (i === frames - 1 ? Flag.END_HEADERS : 0) | (i === 0 && endStream ? Flag.END_STREAM : 0);
      writeFrameHeader(slab, o, len, type, flags, id);
      block.copy(slab, o + FRAME_HEADER_LENGTH, start, start + len);
      o += FRAME_HEADER_LENGTH + len;
    }
    this.slabPos = o;
  }

  /** Bytes queued here and in the socket's own buffer, not yet handed to the kernel. */
  pendingBytes(): number {
    return this.socket.writableLength + this.chunkBytes + (this.slabPos - this.runStart);
  }

  /** Whether the peer reads slower than we write (DATA then waits for 'drain'). */
  congested(): boolean {
    return this.pendingBytes() > SOCKET_HIGH_WATER;
  }

  /**
   * Writes queued frames to the socket (called after each turn's work): the slab's runs of small frames and
   * the large payloads between them, in one write, or one writev under cork. Nothing is copied here.
   */
  flush(): void {
    this.queued = false;
    this.seal();
    const chunks = this.chunks;
    const n = chunks.length;
    if (n === 0) return;
    this.chunks = [];
    this.chunkBytes = 0;
    // An idle connection does not keep a slab.
    if (this.idle()) {
      this.slab = EMPTY_SLAB;
      this.slabPos = 0;
      this.runStart = 0;
    }
    if (this.closed) return;
    const s = this.socket;
    if (n === 1) {
      s.write(chunks[0]!);
      return;
    }
    s.cork();
    for (let i = 0; i < n; i++) s.write(chunks[i]!);
    s.uncork();
  }

  /** Drops whatever is queued (the socket closed). */
  discard(): void {
    this.closed = true;
    this.chunks = [];
    this.chunkBytes = 0;
    this.runStart = this.slabPos;
  }

  /** The slab, with room for `n` more bytes (a new one when full: the old one may still be being written). */
  private room(n: number): Buffer {
    if (this.slabPos + n > this.slab.length) {
      this.seal();
      this.slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, n));
      this.slabPos = 0;
      this.runStart = 0;
    }
    this.schedule();
    return this.slab;
  }

  /** Moves the slab's current run into `chunks`, so what is queued next goes after it. */
  private seal(): void {
    if (this.slabPos === this.runStart) return;
    const run = this.slab.subarray(this.runStart, this.slabPos);
    this.chunks.push(run);
    this.chunkBytes += run.length;
    this.runStart = this.slabPos;
  }

  private schedule(): void {
    if (this.queued) return;
    this.queued = true;
    dirty.push(this);
    if (!flushScheduled) {
      flushScheduled = true;
      process.nextTick(flushDirty);
    }
  }
}

function alwaysIdle(): boolean {
  return true;
}
