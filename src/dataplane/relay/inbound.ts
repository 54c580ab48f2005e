/**
 * What the peer sends, frame by frame (RFC 9113 section 6): each frame type's checks, its effect on the
 * connection's streams, windows and settings, and the events it raises for the relay. Connection errors end
 * the connection with GOAWAY; stream errors reset the one stream.
 */
import type { H2Connection } from "./connection.js";
import type { FrameSink } from "./frame-reader.js";
import {
  DEFAULT_MAX_FRAME_SIZE,
  ErrorCode,
  Flag,
  FrameType,
  MAX_WINDOW,
  pingFrame,
  rstStreamFrame,
  Setting,
  settingsFrame,
} from "./frames.js";
import { type HeaderBlockSink, HeaderBlocks } from "./header-blocks.js";
import { HpackError } from "./hpack.js";
import { H2Stream } from "./stream.js";

/** Our answer to a peer's SETTINGS. */
const SETTINGS_ACK = settingsFrame([], true);

/** The inbound half of one connection. */
export class Inbound implements FrameSink, HeaderBlockSink {
  private readonly blocks: HeaderBlocks;
  /** The DATA frame being handed on in pieces: its stream (null: the bytes are dropped) and END_STREAM. */
  private dataSt: H2Stream | null = null;
  private dataEnd = false;

  constructor(
    private readonly c: H2Connection,
    maxHeaderBlockBytes: number,
    maxContinuations: number,
  ) {
    this.blocks = new HeaderBlocks(this, maxHeaderBlockBytes, maxContinuations);
  }

  /** FrameSink: the connection failed or closed. */
  get destroyed(): boolean {
    return this.c.destroyed;
  }

  /** FrameSink, HeaderBlockSink: a connection error. */
  fail(code: number, reason: string): void {
    this.c.fail(code, reason);
  }

  /** FrameSink: the client preface arrived. */
  prefaceReceived(): void {
    if (this.c.guards !== null) this.c.guards.prefaceSeen = true;
  }

  /** HeaderBlockSink: a block was left open or completed. */
  blockOpen(open: boolean): void {
    if (this.c.guards !== null) this.c.guards.headerBlockOpen(open);
  }

  /** FrameSink: a cut DATA frame may be handed on in pieces unless a header block is open. */
  canStreamData(): boolean {
    return this.blocks.openId === 0;
  }

  /** FrameSink: one whole frame. */
  onFrame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (this.blocks.openId !== 0 && (type !== FrameType.CONTINUATION || id !== this.blocks.openId)) {
      this.c.fail(ErrorCode.PROTOCOL_ERROR, "expected CONTINUATION");
      return;
    }
    switch (type) {
      case FrameType.DATA:
        this.onDataFrame(flags, id, buf, start, end);
        return;
      case FrameType.HEADERS:
        if (id === 0) {
          this.c.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
          return;
        }
        this.blocks.headers(flags, id, buf, start, end);
        return;
      case FrameType.CONTINUATION:
        this.blocks.continuation(flags, id, buf, start, end);
        return;
      case FrameType.PRIORITY:
        if (id === 0) {
          this.c.fail(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
          return;
        }
        if (end - start !== 5) {
          this.c.fail(ErrorCode.FRAME_SIZE_ERROR, "PRIORITY length");
          return;
        }
        // Deprecated (RFC 9113 section 5.3.2) and ignored here: only work for us.
        this.c.glitch("PRIORITY");
        return;
      case FrameType.RST_STREAM:
        this.onRstStream(id, buf, start, end);
        return;
      case FrameType.SETTINGS:
        this.onSettings(flags, id, buf, start, end);
        return;
      case FrameType.PING:
        if (id !== 0) {
          this.c.fail(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
          return;
        }
        if (end - start !== 8) {
          this.c.fail(ErrorCode.FRAME_SIZE_ERROR, "PING length");
          return;
        }
        if (flags & Flag.ACK) {
          if (!this.c.fenceAcked(buf, start)) this.c.onPingAck?.call(this.c);
          return;
        }
        this.c.answerControl(pingFrame(buf.subarray(start, end), true));
        return;
      case FrameType.GOAWAY:
        this.onGoawayFrame(id, buf, start, end);
        return;
      case FrameType.WINDOW_UPDATE:
        this.onWindowUpdate(id, buf, start, end);
        return;
      case FrameType.PUSH_PROMISE:
        this.c.fail(ErrorCode.PROTOCOL_ERROR, "push is disabled");
        return;
      default:
        // Unknown frame types are ignored (RFC 9113 section 4.1), within the budget of useless frames.
        this.c.glitch("unknown frame type");
        return;
    }
  }

  private onDataFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) {
      this.c.fail(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
      return;
    }
    const len = end - start;
    let dataStart = start;
    let dataEnd = end;
    if (flags & Flag.PADDED) {
      if (len < 1) {
        this.c.fail(ErrorCode.PROTOCOL_ERROR, "DATA padding");
        return;
      }
      const pad = buf[start]!;
      if (pad >= len) {
        this.c.fail(ErrorCode.PROTOCOL_ERROR, "DATA padding longer than the frame");
        return;
      }
      dataStart = start + 1;
      dataEnd = end - pad;
    }
    const st = this.receiveData(id, len);
    if (st === null) return;
    // Padding is consumed at once: only payload waits for the far side.
    if (len !== dataEnd - dataStart) this.c.flow.consume(st, len - (dataEnd - dataStart));
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (dataEnd === dataStart && !endStream && !this.c.glitch("empty DATA")) return;
    if (endStream) {
      st.remoteEnded = true;
      if (st.localEnded) this.c.closeStream(st);
    }
    this.c.handler.onData(this.c, st, buf.subarray(dataStart, dataEnd), endStream);
  }

  /** FrameSink: a DATA frame whose payload follows in pieces (as `onDataFrame` does for a whole frame). */
  beginData(flags: number, id: number, len: number): boolean {
    this.dataSt = null;
    this.dataEnd = (flags & Flag.END_STREAM) !== 0;
    if (id === 0) {
      this.c.fail(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
      return false;
    }
    this.dataSt = this.receiveData(id, len);
    return !this.c.destroyed;
  }

  /** FrameSink: one piece of that frame's payload; `last` when the frame is complete. */
  dataPiece(piece: Buffer, last: boolean): void {
    const st = this.dataSt;
    if (st === null) return;
    if (st.closed) {
      // Reset while its frame was arriving: the bytes still count against the connection window.
      this.c.flow.consume(null, piece.length);
      return;
    }
    const endStream = last && this.dataEnd;
    if (piece.length === 0 && !endStream) return;
    if (endStream) {
      st.remoteEnded = true;
      if (st.localEnded) this.c.closeStream(st);
    }
    if (last) this.dataSt = null;
    this.c.handler.onData(this.c, st, piece, endStream);
  }

  /**
   * Window accounting of `len` DATA bytes on stream `id`: the stream that takes them, or null when they are
   * dropped (a connection error, a stream already closed, or a stream reset for exceeding its window).
   */
  private receiveData(id: number, len: number): H2Stream | null {
    if (!this.c.flow.receivedOnConnection(len)) {
      this.c.fail(ErrorCode.FLOW_CONTROL_ERROR, "connection window exceeded");
      return null;
    }
    const st = this.c.streams.get(id);
    if (st === undefined || st.remoteEnded) {
      if (this.c.isIdle(id)) {
        this.c.fail(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream");
        return null;
      }
      // A stream we already closed or reset: the peer may not know yet. Keep the connection window whole.
      this.c.flow.consume(null, len);
      if (!this.c.glitch("DATA on a closed stream")) return null;
      if (st !== undefined) {
        // DATA after the peer's END_STREAM (RFC 9113 section 5.1, half-closed (remote)): the stream is reset,
        // and the relay told, or its call would go on upstream for a stream that is gone.
        this.c.resetStream(st, ErrorCode.STREAM_CLOSED);
        this.c.handler.onReset(this.c, st, ErrorCode.STREAM_CLOSED);
      }
      return null;
    }
    if (!this.c.flow.receivedOnStream(st, len)) {
      this.c.flow.consume(null, len);
      this.c.resetStream(st, ErrorCode.FLOW_CONTROL_ERROR);
      this.c.handler.onReset(this.c, st, ErrorCode.FLOW_CONTROL_ERROR);
      return null;
    }
    return st;
  }

  /** HeaderBlockSink: a complete header block. */
  onHeaderBlock(id: number, buf: Buffer, start: number, end: number, endStream: boolean): void {
    let fields: string[];
    let oversized: boolean;
    let malformed: string;
    try {
      const r = this.c.decoder.decode(buf, start, end);
      fields = r.fields;
      oversized = r.oversized;
      malformed = r.malformed;
    } catch (e: unknown) {
      if (e instanceof HpackError) {
        this.c.fail(ErrorCode.COMPRESSION_ERROR, e.message);
        return;
      }
      throw e;
    }
    let st = this.c.streams.get(id);
    if (st === undefined) {
      if (!this.c.isServer) {
        // Response on a stream we already reset, or a stream we never opened.
        if (this.c.isIdle(id) || (id & 1) === 0) {
          this.c.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS on an unknown stream");
          return;
        }
        return;
      }
      if ((id & 1) === 1 && id <= this.c.lastPeerStreamId && this.c.resetIds.includes(id)) {
        this.c.glitch("HEADERS on a reset stream");
        return;
      }
      if ((id & 1) === 0 || id <= this.c.lastPeerStreamId) {
        this.c.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS on a closed or even stream");
        return;
      }
      this.c.lastPeerStreamId = id;
      if (this.c.goawaySent) {
        this.c.answerControl(rstStreamFrame(id, ErrorCode.REFUSED_STREAM));
        return;
      }
      // Streams the client reset before the backend had taken in the reset still count (see `held`).
      if (this.c.streams.size + this.c.held >= this.c.maxConcurrentStreams) {
        if (!this.c.glitch("stream above the concurrency limit")) return;
        this.c.answerControl(rstStreamFrame(id, ErrorCode.REFUSED_STREAM));
        return;
      }
      st = new H2Stream(id, this.c.flow.peerInitialWindow, this.c.flow.streamWindow);
      this.c.streams.set(id, st);
    } else if (st.remoteEnded) {
      this.c.resetStream(st, ErrorCode.STREAM_CLOSED);
      this.c.handler.onReset(this.c, st, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (endStream) {
      st.remoteEnded = true;
      if (st.localEnded) this.c.closeStream(st);
    }
    this.c.handler.onHeaders(this.c, st, fields, endStream, oversized, malformed);
  }

  private onRstStream(id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) {
      this.c.fail(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
      return;
    }
    if (end - start !== 4) {
      this.c.fail(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM length");
      return;
    }
    const st = this.c.streams.get(id);
    if (st === undefined) {
      if (this.c.isIdle(id)) {
        this.c.fail(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
        return;
      }
      this.c.glitch("RST_STREAM on a closed stream");
      return;
    }
    this.c.closeStream(st);
    this.c.handler.onReset(this.c, st, buf.readUInt32BE(start));
  }

  private onSettings(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) {
      this.c.fail(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
      return;
    }
    if (flags & Flag.ACK) {
      if (end !== start) {
        this.c.fail(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with payload");
        return;
      }
      if (this.c.guards !== null) this.c.guards.settingsAcked();
      return;
    }
    if ((end - start) % 6 !== 0) {
      this.c.fail(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS length");
      return;
    }
    for (let p = start; p < end; p += 6) {
      const key = buf.readUInt16BE(p);
      const v = buf.readUInt32BE(p + 2);
      switch (key) {
        case Setting.HEADER_TABLE_SIZE:
          this.c.encoder.setMaxTableSize(v);
          break;
        case Setting.ENABLE_PUSH:
          if (v > 1) {
            this.c.fail(ErrorCode.PROTOCOL_ERROR, "ENABLE_PUSH");
            return;
          }
          break;
        case Setting.MAX_CONCURRENT_STREAMS:
          this.c.peerMaxConcurrentStreams = v;
          break;
        case Setting.INITIAL_WINDOW_SIZE:
          if (v > MAX_WINDOW) {
            this.c.fail(ErrorCode.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE");
            return;
          }
          if (!this.c.flow.setPeerInitialWindow(v, this.c.streams.toArray())) {
            this.c.fail(ErrorCode.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE overflows a stream window");
            return;
          }
          break;
        case Setting.MAX_FRAME_SIZE:
          if (v < DEFAULT_MAX_FRAME_SIZE || v > 0xffffff) {
            this.c.fail(ErrorCode.PROTOCOL_ERROR, "MAX_FRAME_SIZE");
            return;
          }
          this.c.flow.peerMaxFrameSize = v;
          break;
        default:
          break;
      }
    }
    this.c.answerControl(SETTINGS_ACK);
    if (this.c.destroyed) return;
    if (!this.c.ready) {
      this.c.ready = true;
      this.c.handler.onReady(this.c);
    }
    this.c.flow.pumpBlocked();
  }

  private onGoawayFrame(id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) {
      this.c.fail(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
      return;
    }
    if (end - start < 8) {
      this.c.fail(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY length");
      return;
    }
    const last = buf.readUInt32BE(start) & 0x7fffffff;
    const code = buf.readUInt32BE(start + 4);
    this.c.goawayReceived = true;
    if (!this.c.isServer) {
      // Streams above `last` were never processed by the peer: safe to retry elsewhere.
      for (const st of this.c.streams.toArray()) {
        if (st.id > last) {
          this.c.closeStream(st);
          this.c.handler.onReset(this.c, st, ErrorCode.REFUSED_STREAM);
        }
      }
    }
    this.c.handler.onGoaway(this.c, last, code);
    if (this.c.streams.size === 0 && !this.c.destroyed) this.c.destroy();
  }

  private onWindowUpdate(id: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) {
      this.c.fail(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE length");
      return;
    }
    const inc = buf.readUInt32BE(start) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) {
        this.c.fail(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
        return;
      }
      if (!this.c.flow.connectionUpdate(inc))
        this.c.fail(ErrorCode.FLOW_CONTROL_ERROR, "connection window overflow");
      return;
    }
    const st = this.c.streams.get(id);
    if (st === undefined) {
      if (this.c.isIdle(id)) {
        this.c.fail(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
        return;
      }
      this.c.glitch("WINDOW_UPDATE on a closed stream");
      return;
    }
    if (inc === 0) {
      this.c.resetStream(st, ErrorCode.PROTOCOL_ERROR);
      this.c.handler.onReset(this.c, st, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (!this.c.flow.streamUpdate(st, inc)) {
      this.c.resetStream(st, ErrorCode.FLOW_CONTROL_ERROR);
      this.c.handler.onReset(this.c, st, ErrorCode.FLOW_CONTROL_ERROR);
    }
  }
}
