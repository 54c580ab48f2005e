/**
 * What a connection writes, checked frame by frame as it is written: a well-formed frame sequence (preface
 * and SETTINGS first, frames within the peer's frame size, header blocks contiguous), nothing on a stream
 * after its END_STREAM or RST_STREAM, nothing after the GOAWAY that ended the connection, GOAWAY stream ids
 * that never grow.
 */
import {
  ErrorCode,
  Flag,
  FRAME_HEADER_LENGTH,
  FrameType,
  MAX_WINDOW,
  PREFACE,
} from "../../src/dataplane/relay/frames.js";
import type { Failure } from "./runner.js";

const WRITABLE = new Set<number>([
  FrameType.DATA,
  FrameType.HEADERS,
  FrameType.RST_STREAM,
  FrameType.SETTINGS,
  FrameType.PING,
  FrameType.GOAWAY,
  FrameType.WINDOW_UPDATE,
  FrameType.CONTINUATION,
]);

export class OutputChecker {
  violation: Failure | null = null;
  /** The largest SETTINGS_MAX_FRAME_SIZE the peer has allowed so far (kept up to date by the harness). */
  maxFrameSize = 16384;
  /** Set once a GOAWAY with an error code went out: nothing may follow it. */
  goawayError = false;
  /** Last-stream-id of the last GOAWAY written (-1: none). */
  lastGoawayId = -1;
  /** Highest stream id we wrote HEADERS on. */
  maxHeadersId = 0;
  /** DATA payload bytes written per stream. */
  readonly dataBytes = new Map<number, number>();
  private pending: Buffer = Buffer.alloc(0);
  private prefaceLeft: number;
  private frames = 0;
  private openBlock = 0;
  private openBlockEnds = false;
  private readonly ended = new Set<number>();

  constructor(client: boolean) {
    this.prefaceLeft = client ? PREFACE.length : 0;
  }

  feed(b: Buffer): void {
    if (this.violation !== null) return;
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, b]) : b;
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, buf.length);
      const at = PREFACE.length - this.prefaceLeft;
      if (!buf.subarray(0, n).equals(PREFACE.subarray(at, at + n))) {
        this.fail("client output does not start with the preface");
        return;
      }
      this.prefaceLeft -= n;
      buf = buf.subarray(n);
    }
    let p = 0;
    while (buf.length - p >= FRAME_HEADER_LENGTH) {
      const len = buf.readUIntBE(p, 3);
      if (buf.length - p - FRAME_HEADER_LENGTH < len) break;
      const start = p + FRAME_HEADER_LENGTH;
      this.frame(
        buf[p + 3]!,
        buf[p + 4]!,
        buf.readUInt32BE(p + 5) & 0x7fffffff,
        buf.subarray(start, start + len),
      );
      if (this.violation !== null) return;
      p = start + len;
    }
    this.pending = Buffer.from(buf.subarray(p));
  }

  private fail(detail: string): void {
    this.violation ??= { kind: "output", detail };
  }

  /** One frame; what is wrong with it, or null. */
  private frame(type: number, flags: number, id: number, payload: Buffer): string | null {
    const what = `frame ${this.frames} (type ${type}, flags ${flags}, stream ${id}, ${payload.length} bytes)`;
    this.frames++;
    if (this.goawayError) return `${what} after the GOAWAY that ended the connection`;
    if (this.frames === 1 && (type !== FrameType.SETTINGS || flags & Flag.ACK))
      return `${what}: the first frame is not SETTINGS`;
    if (!WRITABLE.has(type)) return `${what}: a type we never send`;
    if (payload.length > this.maxFrameSize) return `${what}: above the frame size ${this.maxFrameSize}`;
    if (this.openBlock !== 0 && (type !== FrameType.CONTINUATION || id !== this.openBlock))
      return `${what} inside the header block of stream ${this.openBlock}`;
    const onStream = type === FrameType.DATA || type === FrameType.HEADERS || type === FrameType.CONTINUATION;
    if (onStream || type === FrameType.RST_STREAM) {
      if (id === 0) return `${what} on stream 0`;
      if (onStream && type !== FrameType.CONTINUATION && this.ended.has(id))
        return `${what} on a stream after its END_STREAM or RST_STREAM`;
    }
    switch (type) {
      case FrameType.HEADERS:
        this.maxHeadersId = Math.max(this.maxHeadersId, id);
        this.openBlockEnds = (flags & Flag.END_STREAM) !== 0;
        if (flags & Flag.END_HEADERS) this.blockDone(id);
        else this.openBlock = id;
        return null;
      case FrameType.CONTINUATION:
        if (this.openBlock === 0) return `${what} outside a header block`;
        if (flags & Flag.END_HEADERS) this.blockDone(id);
        return null;
      case FrameType.DATA:
        this.dataBytes.set(id, (this.dataBytes.get(id) ?? 0) + payload.length);
        if (flags & Flag.END_STREAM) this.ended.add(id);
        return null;
      case FrameType.RST_STREAM:
        if (payload.length !== 4) return `${what}: RST_STREAM length`;
        this.ended.add(id);
        return null;
      case FrameType.SETTINGS:
        if (id !== 0 || payload.length % 6 !== 0 || (flags & Flag.ACK && payload.length > 0))
          return `${what}: malformed SETTINGS`;
        return null;
      case FrameType.PING:
        if (id !== 0 || payload.length !== 8) return `${what}: malformed PING`;
        return null;
      case FrameType.WINDOW_UPDATE: {
        if (payload.length !== 4) return `${what}: WINDOW_UPDATE length`;
        const inc = payload.readUInt32BE(0);
        if (inc < 1 || inc > MAX_WINDOW) return `${what}: WINDOW_UPDATE increment ${inc}`;
        return null;
      }
      case FrameType.GOAWAY: {
        if (id !== 0 || payload.length < 8) return `${what}: malformed GOAWAY`;
        const last = payload.readUInt32BE(0) & 0x7fffffff;
        if (this.lastGoawayId >= 0 && last > this.lastGoawayId)
          return `${what}: GOAWAY last stream ${last} above an earlier one's ${this.lastGoawayId}`;
        this.lastGoawayId = last;
        if (payload.readUInt32BE(4) !== ErrorCode.NO_ERROR) this.goawayError = true;
        return null;
      }
      default:
        return null;
    }
  }

  private blockDone(id: number): void {
    this.openBlock = 0;
    if (this.openBlockEnds) this.ended.add(id);
  }
}
