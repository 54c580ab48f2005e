/**
 * HTTP/2 flow control of one connection (RFC 9113 section 5.2), both directions.
 *
 * Sending: DATA goes out as the peer's stream and connection windows allow, in frames of at most the peer's
 * frame size; what does not fit waits on the stream (`H2Stream.out`) until a WINDOW_UPDATE or 'drain', and
 * the owner is told (`dataReleased`) when queued bytes leave, or are dropped with their stream, so it can return
 * them to whoever sent them to us: every byte handed to `writeData` is released exactly once.
 *
 * Receiving: every DATA byte counts against our windows when it arrives (`received`) and is returned to the
 * peer only when the owner says it was consumed (`consume`), which is what makes a slow reader slow the writer.
 */

import type { FrameWriter } from "./frame-writer.js";
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  Flag,
  FrameType,
  MAX_WINDOW,
  windowUpdateFrame,
} from "./frames.js";
import type { H2Stream } from "./stream.js";

/** What flow control needs of its connection. */
export interface FlowOwner {
  readonly destroyed: boolean;
  /** The stream's END_STREAM went out. */
  endLocal(st: H2Stream): void;
  /** Encodes and queues a trailer block (END_STREAM) after the stream's last DATA. */
  sendTrailers(st: H2Stream, fields: string[]): void;
  /** `n` bytes handed to `writeData` for `st` are no longer held here: written to the socket, or dropped. */
  dataReleased(st: H2Stream, n: number): void;
}

/** Result of accounting for received DATA. */
export const Received = {
  OK: 0,
  /** The connection window was exceeded: a connection error. */
  CONNECTION_ERROR: 1,
  /** The stream window was exceeded: the stream is reset. */
  STREAM_ERROR: 2,
} as const;

/** Both directions' windows of one connection. */
export class FlowControl {
  /** What the peer lets us send on the connection. */
  sendWindow = DEFAULT_WINDOW;
  /** What we still accept from the peer on the connection. */
  recvWindow = DEFAULT_WINDOW;
  /** The connection window we keep open for the peer: `recvWindow` when nothing is held. */
  readonly recvTarget: number;
  /** Bytes consumed on the connection but not yet returned in a WINDOW_UPDATE. */
  recvUnacked = 0;
  peerInitialWindow = DEFAULT_WINDOW;
  peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /** Streams with DATA queued that wait for window or 'drain'. */
  readonly blocked = new Set<H2Stream>();

  /**
   * @param streamWindow SETTINGS_INITIAL_WINDOW_SIZE we advertise.
   * @param connWindow our connection receive window (announced by the owner with a WINDOW_UPDATE).
   */
  constructor(
    private readonly owner: FlowOwner,
    private readonly out: FrameWriter,
    readonly streamWindow: number,
    readonly connWindow: number,
  ) {
    this.recvTarget = Math.max(connWindow, DEFAULT_WINDOW);
  }

  /** Bytes received on the connection and not yet consumed (returned or about to be). */
  connectionHeld(): number {
    return this.recvTarget - this.recvWindow - this.recvUnacked;
  }

  /** Bytes received on `st` and not yet consumed. */
  streamHeld(st: H2Stream): number {
    return this.streamWindow - st.recvWindow - st.recvUnacked;
  }

  // ------------------------------------------------------------------------------------------------ sending

  /** Queues DATA (sent as windows allow); `endStream` ends the stream after it. */
  writeData(st: H2Stream, data: Buffer | null, endStream: boolean): void {
    // Nothing queued and the payload fits the windows and one frame (every unary message): framed at once,
    // without a queue for the stream.
    if (data !== null && (st.out === null || st.out.length === 0)) {
      const n = data.length;
      if (
        n > 0 &&
        n <= st.sendWindow &&
        n <= this.sendWindow &&
        n <= this.peerMaxFrameSize &&
        !this.out.congested()
      ) {
        this.out.frameHeader(n, FrameType.DATA, endStream ? Flag.END_STREAM : 0, st.id);
        this.out.push(data);
        st.sendWindow -= n;
        this.sendWindow -= n;
        if (endStream) {
          st.outEnd = true;
          this.owner.endLocal(st);
        }
        this.owner.dataReleased(st, n);
        return;
      }
    }
    if (st.out === null) st.out = [];
    if (data !== null && data.length > 0) st.out.push(data);
    if (endStream) st.outEnd = true;
    this.pump(st);
  }

  /**
   * Drops a closing stream's queue; returns how many bytes it held (the owner releases them: their sender gets
   * its window back although they were never sent).
   */
  dropQueue(st: H2Stream): number {
    const n = this.queuedBytes(st);
    st.out = null;
    st.outTrailers = null;
    this.blocked.delete(st);
    return n;
  }

  /** Bytes queued on a stream and not yet sent. */
  queuedBytes(st: H2Stream): number {
    if (st.out === null) return 0;
    let n = 0;
    for (let i = 0; i < st.out.length; i++) n += st.out[i]!.length;
    return n;
  }

  /** Sends what the windows allow of a stream's queue (and its end, or trailers, once it is empty). */
  pump(st: H2Stream): void {
    const out = st.out;
    if (out === null || st.closed) return;
    const w = this.out;
    let sent = 0;
    while (out.length > 0) {
      const avail = Math.min(st.sendWindow, this.sendWindow, this.peerMaxFrameSize);
      if (avail <= 0 || w.congested()) {
        this.blocked.add(st);
        break;
      }
      // One frame of up to `avail` bytes from the queued pieces (reads cut the peer's frames anywhere): the
      // pieces go out behind one frame header as consecutive chunks of the same write, so the receiver sees
      // one frame and no byte is copied here.
      let n = 0;
      let k = 0;
      while (k < out.length && n + out[k]!.length <= avail) n += out[k++]!.length;
      const cut = k < out.length ? avail - n : 0;
      const end = k === out.length && st.outEnd && st.outTrailers === null;
      w.frameHeader(n + cut, FrameType.DATA, end ? Flag.END_STREAM : 0, st.id);
      for (let i = 0; i < k; i++) w.push(out[i]!);
      if (cut > 0) {
        const c = out[k]!;
        w.push(c.subarray(0, cut));
        out[k] = c.subarray(cut);
      }
      if (k === 1) out.shift();
      else if (k > 1) out.splice(0, k);
      n += cut;
      st.sendWindow -= n;
      this.sendWindow -= n;
      sent += n;
      if (end) {
        this.owner.endLocal(st);
        break;
      }
    }
    if (out.length === 0 && st.outEnd && !st.localEnded && !st.closed) {
      if (st.outTrailers !== null) {
        const t = st.outTrailers;
        st.outTrailers = null;
        this.owner.sendTrailers(st, t);
      } else {
        w.frameHeader(0, FrameType.DATA, Flag.END_STREAM, st.id);
      }
      this.owner.endLocal(st);
    }
    if (sent > 0) this.owner.dataReleased(st, sent);
  }

  /** Sends what the windows allow now for every blocked stream (a WINDOW_UPDATE or 'drain' came). */
  pumpBlocked(): void {
    if (this.blocked.size === 0) return;
    const list = [...this.blocked];
    this.blocked.clear();
    for (const st of list) {
      this.pump(st);
      if (this.sendWindow <= 0 || this.out.congested()) {
        // Whatever is left stays blocked (pump re-added the stream that stopped).
        for (const rest of list)
          if (!rest.closed && rest.out !== null && rest.out.length > 0) this.blocked.add(rest);
        return;
      }
    }
  }

  /**
   * A connection WINDOW_UPDATE of `inc` (> 0). False when the window overflows (a connection error).
   */
  connectionUpdate(inc: number): boolean {
    this.sendWindow += inc;
    if (this.sendWindow > MAX_WINDOW) return false;
    this.pumpBlocked();
    return true;
  }

  /** A stream WINDOW_UPDATE of `inc` (> 0). False when the window overflows (the stream is to be reset). */
  streamUpdate(st: H2Stream, inc: number): boolean {
    st.sendWindow += inc;
    if (st.sendWindow > MAX_WINDOW) return false;
    if (this.blocked.has(st)) {
      this.blocked.delete(st);
      this.pump(st);
    }
    return true;
  }

  /**
   * The peer's SETTINGS_INITIAL_WINDOW_SIZE changed: every open stream's window moves by the difference.
   * False when that takes a window above 2^31 - 1 (a connection error, RFC 9113 section 6.9.2).
   */
  setPeerInitialWindow(v: number, open: readonly H2Stream[]): boolean {
    const delta = v - this.peerInitialWindow;
    this.peerInitialWindow = v;
    let ok = true;
    for (const st of open) {
      st.sendWindow += delta;
      if (st.sendWindow > MAX_WINDOW) ok = false;
    }
    return ok;
  }

  // ---------------------------------------------------------------------------------------------- receiving

  /** `len` bytes of DATA (padding included) arrived on the connection. False when its window is exceeded. */
  receivedOnConnection(len: number): boolean {
    this.recvWindow -= len;
    return this.recvWindow >= 0;
  }

  /** `len` bytes of DATA arrived on `st`. False when its window is exceeded (the stream is to be reset). */
  receivedOnStream(st: H2Stream, len: number): boolean {
    st.recvWindow -= len;
    return st.recvWindow >= 0;
  }

  /**
   * `n` received bytes were consumed (forwarded, or dropped): returned to the peer's windows, in batches of a
   * quarter window. `st` null, closed or ended: the connection window only.
   */
  consume(st: H2Stream | null, n: number): void {
    if (n <= 0 || this.owner.destroyed) return;
    this.recvUnacked += n;
    if (this.recvUnacked >= this.connWindow >>> 2) {
      this.out.push(windowUpdateFrame(0, this.recvUnacked));
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
    }
    if (st === null || st.closed || st.remoteEnded) return;
    st.recvUnacked += n;
    if (st.recvUnacked >= this.streamWindow >>> 2) {
      this.out.push(windowUpdateFrame(st.id, st.recvUnacked));
      st.recvWindow += st.recvUnacked;
      st.recvUnacked = 0;
    }
  }
}
