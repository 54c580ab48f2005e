/**
 * Header blocks as they arrive: a HEADERS frame (padding and priority fields stripped) and the CONTINUATION
 * frames that complete it (RFC 9113 sections 6.2 and 6.10). A block split over frames is copied into a
 * buffer of its own (so it never keeps the socket's read buffers alive) and handed on whole; one that grows
 * past its bound in bytes or in frames ends the connection with ENHANCE_YOUR_CALM.
 */
import { ErrorCode, Flag } from "./frames.js";

/** What gets complete blocks (the connection). */
export interface HeaderBlockSink {
  /** A complete header block for stream `id`: `buf[start, end)`. */
  onHeaderBlock(id: number, buf: Buffer, start: number, end: number, endStream: boolean): void;
  /** A connection error: GOAWAY `code` and close. */
  fail(code: number, reason: string): void;
  /** A block was left open (true) or completed (false): the connection times an open one. */
  blockOpen(open: boolean): void;
}

/** Room a split block starts with; it doubles as needed up to the bound. */
const FIRST_ROOM = 4096;

/** Gathers one connection's header blocks. */
export class HeaderBlocks {
  /** Stream id of a block still waiting for CONTINUATION; 0 when none is open. */
  openId = 0;
  private block: Buffer | null = null;
  private bytes = 0;
  private frames = 0;
  private endStream = false;

  /**
   * `maxBlockBytes`: the most compressed bytes one block may take; `maxContinuations`: the most CONTINUATION
   * frames after its HEADERS.
   */
  constructor(
    private readonly sink: HeaderBlockSink,
    private readonly maxBlockBytes: number,
    private readonly maxContinuations: number,
  ) {}

  /** A HEADERS frame on stream `id` (not 0). */
  headers(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    let s = start;
    let e = end;
    if (flags & Flag.PADDED) {
      if (e - s < 1) {
        this.sink.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS padding");
        return;
      }
      const pad = buf[s]!;
      s++;
      if (pad > e - s) {
        this.sink.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS padding longer than the frame");
        return;
      }
      e -= pad;
    }
    if (flags & Flag.PRIORITY) {
      if (e - s < 5) {
        this.sink.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS priority");
        return;
      }
      s += 5;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (flags & Flag.END_HEADERS) {
      this.sink.onHeaderBlock(id, buf, s, e, endStream);
      return;
    }
    this.openId = id;
    this.bytes = 0;
    this.frames = 0;
    this.endStream = endStream;
    this.block = Buffer.allocUnsafe(Math.min(this.maxBlockBytes, Math.max(FIRST_ROOM, 2 * (e - s))));
    this.append(buf, s, e);
    this.sink.blockOpen(true);
  }

  /** A CONTINUATION frame. */
  continuation(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (this.openId === 0 || id !== this.openId) {
      this.sink.fail(ErrorCode.PROTOCOL_ERROR, "unexpected CONTINUATION");
      return;
    }
    if (++this.frames > this.maxContinuations) {
      this.sink.fail(
        ErrorCode.ENHANCE_YOUR_CALM,
        `header block in more than ${this.maxContinuations} CONTINUATION frames`,
      );
      return;
    }
    if (!this.append(buf, start, end)) return;
    if ((flags & Flag.END_HEADERS) === 0) return;
    const block = this.block!;
    const n = this.bytes;
    this.openId = 0;
    this.block = null;
    this.bytes = 0;
    this.sink.blockOpen(false);
    this.sink.onHeaderBlock(id, block, 0, n, this.endStream);
  }

  /** Copies a fragment into the block's own buffer; false (and the connection failed) past the bound. */
  private append(buf: Buffer, start: number, end: number): boolean {
    const n = end - start;
    if (this.bytes + n > this.maxBlockBytes) {
      this.sink.fail(ErrorCode.ENHANCE_YOUR_CALM, `header block above ${this.maxBlockBytes} bytes`);
      return false;
    }
    let block = this.block!;
    if (this.bytes + n > block.length) {
      const grown = Buffer.allocUnsafe(
        Math.min(this.maxBlockBytes, Math.max(2 * block.length, this.bytes + n)),
      );
      block.copy(grown, 0, 0, this.bytes);
      block = grown;
      this.block = block;
    }
    buf.copy(block, this.bytes, start, end);
    this.bytes += n;
    return true;
  }

  /** Drops an open block (the connection is closing). */
  reset(): void {
    this.openId = 0;
    this.block = null;
  }
}
