/**
 * Header blocks as they arrive: a HEADERS frame (padding and priority fields stripped) and the CONTINUATION
 * frames that complete it (RFC 9113 sections 6.2 and 6.10). A block split over frames is gathered here and
 * handed on whole; one that grows past its bound ends the connection.
 */
import { ErrorCode, Flag } from "./frames.js";

/** What gets complete blocks (the connection). */
export interface HeaderBlockSink {
  /** A complete header block for stream `id`: `buf[start, end)`. */
  onHeaderBlock(id: number, buf: Buffer, start: number, end: number, endStream: boolean): void;
  /** A connection error: GOAWAY `code` and close. */
  fail(code: number, reason: string): void;
}

/** Gathers one connection's header blocks. */
export class HeaderBlocks {
  /** Stream id of a block still waiting for CONTINUATION; 0 when none is open. */
  openId = 0;
  private chunks: Buffer[] = [];
  private bytes = 0;
  private endStream = false;

  /** `maxBlockBytes`: the most compressed bytes one block may take. */
  constructor(
    private readonly sink: HeaderBlockSink,
    private readonly maxBlockBytes: number,
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
    this.chunks = [buf.subarray(s, e)];
    this.bytes = e - s;
    this.endStream = endStream;
  }

  /** A CONTINUATION frame. */
  continuation(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (this.openId === 0 || id !== this.openId) {
      this.sink.fail(ErrorCode.PROTOCOL_ERROR, "unexpected CONTINUATION");
      return;
    }
    this.chunks.push(buf.subarray(start, end));
    this.bytes += end - start;
    if (this.bytes > this.maxBlockBytes) {
      this.sink.fail(ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
      return;
    }
    if ((flags & Flag.END_HEADERS) === 0) return;
    const block = Buffer.concat(this.chunks);
    this.openId = 0;
    this.chunks = [];
    this.bytes = 0;
    this.sink.onHeaderBlock(id, block, 0, block.length, this.endStream);
  }
}
