/**
 * The input side of a connection: socket reads cut into HTTP/2 frames (RFC 9113 section 4.1), in place.
 *
 * Frames are handed on as (buffer, start, end) views of the read buffer, never copied, except a frame cut by
 * a read, of which at most one frame is joined. A DATA frame cut by a read is handed on in pieces as its bytes
 * arrive, so large frames are never reassembled. What each frame means is the connection's business.
 */
import {
  DEFAULT_MAX_FRAME_SIZE,
  ErrorCode,
  Flag,
  FRAME_HEADER_LENGTH,
  FrameType,
  PREFACE,
} from "./frames.js";

/** What the reader hands frames to (the connection). */
export interface FrameSink {
  /** Set once the connection failed or closed: the reader stops at the next frame. */
  readonly destroyed: boolean;
  /** The client preface arrived (server side). */
  prefaceReceived(): void;
  /** A whole frame: its payload is `buf[start, end)`. */
  onFrame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void;
  /** Whether a DATA frame cut by a read may be handed on in pieces now (false inside a header block). */
  canStreamData(): boolean;
  /**
   * An unpadded DATA frame of `len` payload bytes whose payload follows in pieces: checks and flow-control
   * accounting. False when the connection failed.
   */
  beginData(flags: number, id: number, len: number): boolean;
  /** One piece of that frame's payload; `last` when the frame is complete. */
  dataPiece(piece: Buffer, last: boolean): void;
  /** A connection error found while reading: GOAWAY `code` and close. */
  fail(code: number, reason: string): void;
}

/** Cuts one connection's reads into frames. */
export class FrameReader {
  private pending: Buffer | null = null;
  private prefaceDone: boolean;
  /** Payload bytes of a DATA frame being handed on in pieces that are still to come. */
  private dataLeft = 0;

  /** `expectPreface`: server side, the client preface comes first. */
  constructor(
    private readonly sink: FrameSink,
    expectPreface: boolean,
  ) {
    this.prefaceDone = !expectPreface;
  }

  /** Bytes of an incomplete frame kept from earlier reads. */
  get pendingBytes(): number {
    return this.pending === null ? 0 : this.pending.length;
  }

  /** One socket read. */
  read(chunk: Buffer): void {
    if (this.sink.destroyed) return;
    const pend = this.pending;
    if (pend === null) {
      this.parse(chunk, 0);
      return;
    }
    this.pending = null;
    if (!this.prefaceDone || pend.length < FRAME_HEADER_LENGTH) {
      // Rare: the last read ended inside the preface or a frame header. Join the two and parse.
      this.parse(Buffer.concat([pend, chunk]), 0);
      return;
    }
    // The last read ended inside a frame: complete it with only the bytes it still needs (at most one frame is
    // copied), then parse the rest of this read in place.
    const len = (pend[0]! << 16) | (pend[1]! << 8) | pend[2]!;
    if (len > DEFAULT_MAX_FRAME_SIZE) {
      this.sink.fail(ErrorCode.FRAME_SIZE_ERROR, "frame too large");
      return;
    }
    const need = FRAME_HEADER_LENGTH + len - pend.length;
    if (chunk.length < need) {
      this.pending = Buffer.concat([pend, chunk]);
      return;
    }
    this.parse(Buffer.concat([pend, chunk.subarray(0, need)]), 0);
    if (this.sink.destroyed) return;
    this.parse(chunk, need);
  }

  /** Parses the frames of `buf` from `p`; a trailing partial frame is kept for the next read. */
  private parse(buf: Buffer, p: number): void {
    const sink = this.sink;
    if (!this.prefaceDone) {
      if (buf.length - p < PREFACE.length) {
        if (!PREFACE.subarray(0, buf.length - p).equals(buf.subarray(p))) {
          sink.fail(ErrorCode.PROTOCOL_ERROR, "bad preface");
          return;
        }
        this.pending = buf.subarray(p);
        return;
      }
      if (!PREFACE.equals(buf.subarray(p, p + PREFACE.length))) {
        sink.fail(ErrorCode.PROTOCOL_ERROR, "not an HTTP/2 client preface");
        return;
      }
      p += PREFACE.length;
      this.prefaceDone = true;
      sink.prefaceReceived();
    }
    const n = buf.length;
    if (this.dataLeft > 0) {
      const take = Math.min(this.dataLeft, n - p);
      this.dataLeft -= take;
      sink.dataPiece(buf.subarray(p, p + take), this.dataLeft === 0);
      p += take;
      if (sink.destroyed || this.dataLeft > 0) return;
    }
    while (n - p >= FRAME_HEADER_LENGTH) {
      const len = (buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!;
      if (len > DEFAULT_MAX_FRAME_SIZE) {
        sink.fail(ErrorCode.FRAME_SIZE_ERROR, "frame too large");
        return;
      }
      const type = buf[p + 3]!;
      const flags = buf[p + 4]!;
      const id = buf.readUInt32BE(p + 5) & 0x7fffffff;
      const start = p + FRAME_HEADER_LENGTH;
      if (n - start < len) {
        // An unpadded DATA frame cut by the read: hand on what is here now, the rest as it comes.
        if (type === FrameType.DATA && (flags & Flag.PADDED) === 0 && len > 0 && sink.canStreamData()) {
          if (!sink.beginData(flags, id, len)) return;
          this.dataLeft = len - (n - start);
          sink.dataPiece(buf.subarray(start, n), false);
          return;
        }
        break;
      }
      p = start + len;
      sink.onFrame(type, flags, id, buf, start, p);
      if (sink.destroyed) return;
    }
    if (p < n) this.pending = buf.subarray(p);
  }
}
