/**
 * One HTTP/2 connection over a plain `net` or `tls` socket (RFC 9113), either side: the relay accepts
 * downstream connections as a server and opens upstream connections as a client.
 *
 * The connection owns framing, HPACK, SETTINGS, PING, GOAWAY, RST_STREAM and flow control in both
 * directions; the relay above sees streams and header lists. Incoming DATA payloads are slices of the socket's
 * read buffers and outgoing payloads are written as given (the frame header goes out as a separate chunk of
 * the same writev), so message bytes are never copied. Receive windows are returned only when the relay says
 * the bytes were consumed (`consume()`), which is what makes a slow reader slow the writer.
 */
import type { Socket } from "node:net";
import { MAX_CLIENT_STREAMS } from "../types.js";
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_LENGTH,
  FrameType,
  goawayFrame,
  MAX_WINDOW,
  PREFACE,
  pingFrame,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from "./frames.js";
import { HpackDecoder, HpackEncoder, HpackError } from "./hpack.js";
import { StreamTable } from "./stream-table.js";

/** Reset code passed to `onReset` when the connection itself went away. */
export const CONNECTION_LOST = -1;

/** What the relay implements to receive a connection's events. Called synchronously from socket reads. */
export interface ConnectionHandler {
  /**
   * A header block on a stream: a new request (server side), response headers or trailers (client side), or
   * request trailers. `oversized` is set when the list exceeded our SETTINGS_MAX_HEADER_LIST_SIZE (then
   * `fields` is empty).
   */
  onHeaders(conn: H2Connection, st: H2Stream, fields: string[], endStream: boolean, oversized: boolean): void;
  /** DATA payload (a slice of the read buffer). The relay calls `conn.consume(st, n)` once it forwarded it. */
  onData(conn: H2Connection, st: H2Stream, data: Buffer, endStream: boolean): void;
  /** The peer reset the stream (`code`), or the connection was lost (`CONNECTION_LOST`). */
  onReset(conn: H2Connection, st: H2Stream, code: number): void;
  /** `n` bytes of DATA queued earlier left for the socket: the source may get its window back. */
  onDataSent(conn: H2Connection, st: H2Stream, n: number): void;
  /** The peer's first SETTINGS arrived (client side: streams may start). */
  onReady(conn: H2Connection): void;
  /** GOAWAY from the peer. Client side: streams above `lastStreamId` were already reset with REFUSED_STREAM. */
  onGoaway(conn: H2Connection, lastStreamId: number, code: number): void;
  /** The socket closed; every open stream got `onReset(CONNECTION_LOST)` first. */
  onClose(conn: H2Connection): void;
}

/** Limits and windows we advertise. */
export interface ConnectionOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we accept (server side). Default {@link MAX_CLIENT_STREAMS} (100). */
  maxConcurrentStreams?: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE we advertise, in bytes: the most one stream buffers. Default 128 KiB. */
  streamWindow?: number;
  /** Connection receive window in bytes: the most one connection buffers. Default 16 MiB. */
  connectionWindow?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE in RFC 9113 bytes. Default 64 KiB. */
  maxHeaderListSize?: number;
}

/**
 * SETTINGS_INITIAL_WINDOW_SIZE we advertise by default: 128 KiB, twice a grpc-js peer's own 64 KiB. The relay
 * forwards at the pace of the slower side (whose window is what limits a stream), so a larger window only
 * parks more of the fast side's bytes here: with 1 MiB, streaming 1 MiB messages cost more relay CPU per MiB
 * and moved fewer bytes per second than with 128 KiB (bench/RESULTS.md).
 */
export const DEFAULT_STREAM_WINDOW = 128 << 10;

/** How long an accepted connection may take to send the client preface. */
const PREFACE_TIMEOUT_MS = 10_000;

/** Payloads smaller than this are copied into the slab, joining the frames around them into one write. */
const COPY_BELOW = 4096;

/** Socket bytes pending above which DATA waits for 'drain' (the peer reads slower than its windows allow). */
const SOCKET_HIGH_WATER = 1 << 20;
/** Size of the buffers small frames are written into (a new one when one is full). */
const SLAB_BYTES = 16 * 1024;
const EMPTY_SLAB = Buffer.alloc(0);
/** Client streams a server connection remembers having reset, to ignore their late HEADERS. */
const RESET_MEMORY = 64;

/** One stream of a connection. `ctx` belongs to the relay (the call it carries). */
export class H2Stream {
  /** What the peer lets us send. */
  sendWindow: number;
  /** What we still accept from the peer. */
  recvWindow: number;
  /** Bytes consumed but not yet returned in a WINDOW_UPDATE. */
  recvUnacked = 0;
  /** DATA waiting for window; `outEnd` ends the stream after it; `outTrailers` are sent after it. */
  out: Buffer[] | null = null;
  outEnd = false;
  outTrailers: string[] | null = null;
  /** We sent END_STREAM / the peer did. */
  localEnded = false;
  remoteEnded = false;
  /** Reset or fully closed: no more frames either way. */
  closed = false;
  ctx: unknown = undefined;
  constructor(
    readonly id: number,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }
}

// Writes from every connection in one tick are flushed together after the current I/O callback, so a read
// that carries many frames produces one writev per peer.
const dirty: H2Connection[] = [];
let flushScheduled = false;
function flushDirty(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

/** An HTTP/2 connection. Create it once the socket is connected (client) or accepted (server). */
export class H2Connection {
  readonly streams = new StreamTable<H2Stream>();
  /** Client side: the next stream id we open. */
  private nextStreamId = 1;
  /** Highest stream id the peer opened (server side), used in GOAWAY. */
  lastPeerStreamId = 0;
  private readonly encoder = new HpackEncoder();
  private readonly decoder: HpackDecoder;
  // Peer settings. A peer that sends no MAX_CONCURRENT_STREAMS sets no limit (RFC 9113 section 6.5.2); no
  // stream is opened before its first SETTINGS anyway. (A default of 100 here made the pools open up to 16
  // connections to a backend that sets none, as grpc-js and node:http2 servers do, whenever more than 100
  // calls were in flight: after each of the backend's collection pauses, for instance.)
  peerMaxConcurrentStreams = 0xffffffff;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private sendWindow = DEFAULT_WINDOW;
  // Our side.
  private readonly streamWindow: number;
  private readonly connWindow: number;
  private recvWindow = DEFAULT_WINDOW;
  private recvUnacked = 0;
  private readonly maxConcurrentStreams: number;
  // Input state.
  private pending: Buffer | null = null;
  private prefaceDone: boolean;
  private contId = 0;
  private contChunks: Buffer[] = [];
  private contBytes = 0;
  private contEndStream = false;
  /**
   * A DATA frame whose payload is still arriving: its payload is delivered piece by piece as reads come in,
   * so large frames are never reassembled (copied). `dataSt` null means the bytes are skipped.
   */
  private dataLeft = 0;
  private dataSt: H2Stream | null = null;
  private dataEnd = false;
  // Output state. Small frames (headers, header blocks, small payloads) are written into `slab`, one run of
  // it per flush; large payloads are queued by reference in `chunks`, after the run they follow is sealed.
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  private slab = EMPTY_SLAB;
  private slabPos = 0;
  private runStart = 0;
  private queued = false;
  private readonly blocked = new Set<H2Stream>();
  /** Server side: the last client streams we reset (a ring), whose late HEADERS are ignored. */
  private readonly resetIds: number[] = new Array<number>(RESET_MEMORY).fill(0);
  private resetNext = 0;
  /** Set when we received the peer's first SETTINGS. */
  ready = false;
  goawayReceived = false;
  goawaySent = false;
  destroyed = false;
  /** Free for the owner (pool bookkeeping, listener port). */
  owner: unknown = undefined;
  /** Server side: closes a connection whose client never sends the preface. */
  private prefaceTimer: NodeJS.Timeout | undefined = undefined;
  /** Client side: the connect timeout, cleared once the peer's SETTINGS arrive. */
  connectTimer: NodeJS.Timeout | undefined = undefined;
  /** Client side: keepalive PING interval and the pending PING's timeout. */
  keepaliveTimer: NodeJS.Timeout | undefined = undefined;
  pingTimer: NodeJS.Timeout | undefined = undefined;
  /** Time (ms since epoch) the last stream finished; for idle timeouts. */
  idleSince = Date.now();

  constructor(
    readonly socket: Socket,
    readonly isServer: boolean,
    private readonly handler: ConnectionHandler,
    opts: ConnectionOptions = {},
  ) {
    this.streamWindow = opts.streamWindow ?? DEFAULT_STREAM_WINDOW;
    this.connWindow = opts.connectionWindow ?? 16 << 20;
    this.maxConcurrentStreams = opts.maxConcurrentStreams ?? MAX_CLIENT_STREAMS;
    this.decoder = new HpackDecoder(4096, opts.maxHeaderListSize ?? 65536);
    this.prefaceDone = !isServer;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onSocketData(chunk));
    socket.on("drain", () => this.onDrain());
    socket.on("error", () => {
      // The 'close' that follows does the cleanup; errors from peers are routine.
    });
    socket.on("close", () => this.onSocketClose());
    const settings: [number, number][] = [
      [Setting.INITIAL_WINDOW_SIZE, this.streamWindow],
      [Setting.MAX_HEADER_LIST_SIZE, opts.maxHeaderListSize ?? 65536],
    ];
    if (isServer) settings.push([Setting.MAX_CONCURRENT_STREAMS, this.maxConcurrentStreams]);
    else settings.push([Setting.ENABLE_PUSH, 0]);
    if (!isServer) this.push(PREFACE);
    else {
      // A client that never sends the preface must not hold the socket.
      this.prefaceTimer = setTimeout(destroySocket, PREFACE_TIMEOUT_MS, socket);
      this.prefaceTimer.unref();
    }
    this.push(settingsFrame(settings));
    if (this.connWindow > DEFAULT_WINDOW) {
      this.push(windowUpdateFrame(0, this.connWindow - DEFAULT_WINDOW));
      this.recvWindow = this.connWindow;
    }
  }

  /** Streams open now (both directions). */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** Client side: whether another stream may be opened now. */
  get hasCapacity(): boolean {
    return (
      this.ready &&
      !this.goawayReceived &&
      !this.goawaySent &&
      !this.destroyed &&
      this.streams.size < this.peerMaxConcurrentStreams &&
      this.nextStreamId < 0x7fffffff
    );
  }

  // ---------------------------------------------------------------- output

  /** Queues bytes for the next flush: copied into the slab when small, else by reference. */
  private push(b: Buffer): void {
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
  private pushFrameHeader(length: number, type: number, flags: number, id: number): void {
    const slab = this.room(FRAME_HEADER_LENGTH);
    writeFrameHeader(slab, this.slabPos, length, type, flags, id);
    this.slabPos += FRAME_HEADER_LENGTH;
  }

  /** Queues HEADERS (+ CONTINUATION when the block exceeds the peer's frame size) for a header block. */
  private pushHeaders(id: number, block: Buffer, endStream: boolean): void {
    const max = this.peerMaxFrameSize;
    const frames = Math.max(1, Math.ceil(block.length / max));
    const slab = this.room(block.length + frames * FRAME_HEADER_LENGTH);
    let o = this.slabPos;
    for (let i = 0; i < frames; i++) {
      const start = i * max;
      const len = Math.min(max, block.length - start);
      const type = i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      const flags = (i === frames - 1 ? Flag.END_HEADERS : 0) | (i === 0 && endStream ? Flag.END_STREAM : 0);
      writeFrameHeader(slab, o, len, type, flags, id);
      block.copy(slab, o + FRAME_HEADER_LENGTH, start, start + len);
      o += FRAME_HEADER_LENGTH + len;
    }
    this.slabPos = o;
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

  /**
   * Writes queued frames to the socket (called after each tick's work): the slab's runs of small frames and
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
    if (this.streams.size === 0) {
      this.slab = EMPTY_SLAB;
      this.slabPos = 0;
      this.runStart = 0;
    }
    if (this.destroyed) return;
    const s = this.socket;
    if (n === 1) {
      s.write(chunks[0]!);
      return;
    }
    s.cork();
    for (let i = 0; i < n; i++) s.write(chunks[i]!);
    s.uncork();
  }

  private congested(): boolean {
    return this.socket.writableLength + this.chunkBytes + (this.slabPos - this.runStart) > SOCKET_HIGH_WATER;
  }

  /** Client side: opens a stream and sends its request headers. */
  openStream(fields: string[], endStream: boolean, ctx: unknown): H2Stream {
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const st = new H2Stream(id, this.peerInitialWindow, this.streamWindow);
    st.ctx = ctx;
    this.streams.set(id, st);
    this.writeHeaders(st, fields, endStream);
    return st;
  }

  /**
   * Sends a header block. With `endStream` while DATA is still queued, the block is held as trailers and goes
   * out after the data.
   */
  writeHeaders(st: H2Stream, fields: string[], endStream: boolean): void {
    if (st.closed || st.localEnded || this.destroyed) return;
    if (endStream && st.out !== null && st.out.length > 0) {
      st.outTrailers = fields;
      st.outEnd = true;
      return;
    }
    const block = this.encoder.encodeView(fields);
    this.pushHeaders(st.id, block, endStream);
    if (endStream) this.endLocal(st);
  }

  /** Queues DATA (sent as windows allow); `endStream` ends the stream after it. */
  writeData(st: H2Stream, data: Buffer | null, endStream: boolean): void {
    if (st.closed || st.localEnded || st.outEnd || this.destroyed) return;
    // Nothing queued and the payload fits the windows and one frame (every unary message): framed at once,
    // without a queue for the stream.
    if (data !== null && (st.out === null || st.out.length === 0)) {
      const n = data.length;
      if (
        n > 0 &&
        n <= st.sendWindow &&
        n <= this.sendWindow &&
        n <= this.peerMaxFrameSize &&
        !this.congested()
      ) {
        this.pushFrameHeader(n, FrameType.DATA, endStream ? Flag.END_STREAM : 0, st.id);
        this.push(data);
        st.sendWindow -= n;
        this.sendWindow -= n;
        if (endStream) {
          st.outEnd = true;
          this.endLocal(st);
        }
        this.handler.onDataSent(this, st, n);
        return;
      }
    }
    if (st.out === null) st.out = [];
    if (data !== null && data.length > 0) st.out.push(data);
    if (endStream) st.outEnd = true;
    this.pump(st);
  }

  /** Bytes queued on a stream and not yet sent. */
  queuedBytes(st: H2Stream): number {
    if (st.out === null) return 0;
    let n = 0;
    for (let i = 0; i < st.out.length; i++) n += st.out[i]!.length;
    return n;
  }

  private pump(st: H2Stream): void {
    const out = st.out;
    if (out === null || st.closed) return;
    let sent = 0;
    while (out.length > 0) {
      const avail = Math.min(st.sendWindow, this.sendWindow, this.peerMaxFrameSize);
      if (avail <= 0 || this.congested()) {
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
      this.pushFrameHeader(n + cut, FrameType.DATA, end ? Flag.END_STREAM : 0, st.id);
      for (let i = 0; i < k; i++) this.push(out[i]!);
      if (cut > 0) {
        const c = out[k]!;
        this.push(c.subarray(0, cut));
        out[k] = c.subarray(cut);
      }
      if (k === 1) out.shift();
      else if (k > 1) out.splice(0, k);
      n += cut;
      st.sendWindow -= n;
      this.sendWindow -= n;
      sent += n;
      if (end) {
        this.endLocal(st);
        break;
      }
    }
    if (out.length === 0 && st.outEnd && !st.localEnded && !st.closed) {
      if (st.outTrailers !== null) {
        const t = st.outTrailers;
        st.outTrailers = null;
        this.pushHeaders(st.id, this.encoder.encodeView(t), true);
      } else {
        this.pushFrameHeader(0, FrameType.DATA, Flag.END_STREAM, st.id);
      }
      this.endLocal(st);
    }
    if (sent > 0) this.handler.onDataSent(this, st, sent);
  }

  private endLocal(st: H2Stream): void {
    st.localEnded = true;
    this.blocked.delete(st);
    if (st.remoteEnded) this.closeStream(st);
    else if (this.isServer) {
      // The response is complete while the request is still open (a call the backend or the gateway ended
      // early): RST_STREAM(NO_ERROR) tells the client to stop sending it (RFC 9113 section 8.1), and frees
      // the stream now rather than when the client gets round to ending it.
      this.resetStream(st, ErrorCode.NO_ERROR);
    }
  }

  private closeStream(st: H2Stream): void {
    if (st.closed) return;
    st.closed = true;
    st.out = null;
    this.blocked.delete(st);
    this.streams.delete(st.id);
    if (this.streams.size === 0) {
      this.idleSince = Date.now();
      if (this.goawaySent) this.finishShutdown();
    }
  }

  /** Resets a stream (RST_STREAM `code`); nothing more is sent or delivered for it. */
  resetStream(st: H2Stream, code: number): void {
    if (st.closed) return;
    if (!this.destroyed) this.push(rstStreamFrame(st.id, code));
    this.closeStream(st);
    if (this.isServer) {
      // The client may have sent more on it before it saw the reset: those frames are ignored, not taken
      // for a protocol error (RFC 9113 section 5.1, "closed").
      this.resetIds[this.resetNext] = st.id;
      this.resetNext = (this.resetNext + 1) % this.resetIds.length;
    }
  }

  /** The relay forwarded `n` bytes received on `st`: return them to the peer's windows (batched). */
  consume(st: H2Stream | null, n: number): void {
    if (n <= 0 || this.destroyed) return;
    this.recvUnacked += n;
    if (this.recvUnacked >= this.connWindow >>> 2) {
      this.push(windowUpdateFrame(0, this.recvUnacked));
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
    }
    if (st === null || st.closed || st.remoteEnded) return;
    st.recvUnacked += n;
    if (st.recvUnacked >= this.streamWindow >>> 2) {
      this.push(windowUpdateFrame(st.id, st.recvUnacked));
      st.recvWindow += st.recvUnacked;
      st.recvUnacked = 0;
    }
  }

  /** Sends a PING (keepalive); the ACK is reported by `onPingAck`. */
  ping(): void {
    if (!this.destroyed) this.push(pingFrame(Buffer.alloc(8), false));
  }
  /** Called (with the connection as `this`) when a PING ACK arrives. */
  onPingAck: ((this: H2Connection) => void) | null = null;

  /**
   * Graceful shutdown: GOAWAY(NO_ERROR) with the last stream the peer opened; the socket ends once the
   * streams in flight finish.
   */
  shutdown(): void {
    if (this.goawaySent || this.destroyed) return;
    this.goawaySent = true;
    this.push(goawayFrame(this.lastPeerStreamId, ErrorCode.NO_ERROR));
    if (this.streams.size === 0) this.finishShutdown();
  }

  /** Client side: closes an idle connection politely (GOAWAY NO_ERROR, then end). */
  shutdownClient(): void {
    if (this.destroyed) return;
    this.goawaySent = true;
    this.push(goawayFrame(0, ErrorCode.NO_ERROR));
    this.finishShutdown();
  }

  private finishShutdown(): void {
    this.flush();
    this.socket.end();
  }

  /** Connection error: GOAWAY with `code`, then close (RFC 9113 section 5.4.1). */
  fail(code: number, reason: string): void {
    if (this.destroyed) return;
    this.push(goawayFrame(this.lastPeerStreamId, code, reason));
    this.goawaySent = true;
    this.flush();
    this.destroyed = true;
    this.socket.end();
    // A peer that never reads must not keep the socket: give the GOAWAY a moment, then drop it.
    setTimeout(destroySocket, 1000, this.socket).unref();
  }

  /** Closes the socket now. */
  destroy(): void {
    if (this.destroyed && this.socket.destroyed) return;
    this.flush();
    this.destroyed = true;
    this.socket.destroy();
  }

  // ---------------------------------------------------------------- input

  private onSocketData(chunk: Buffer): void {
    if (this.destroyed) return;
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
      this.fail(ErrorCode.FRAME_SIZE_ERROR, "frame too large");
      return;
    }
    const need = FRAME_HEADER_LENGTH + len - pend.length;
    if (chunk.length < need) {
      this.pending = Buffer.concat([pend, chunk]);
      return;
    }
    this.parse(Buffer.concat([pend, chunk.subarray(0, need)]), 0);
    if (this.destroyed) return;
    this.parse(chunk, need);
  }

  /** Parses the frames of `buf` from `p`; a trailing partial frame is kept for the next read. */
  private parse(buf: Buffer, p: number): void {
    if (!this.prefaceDone) {
      if (buf.length - p < PREFACE.length) {
        if (!PREFACE.subarray(0, buf.length - p).equals(buf.subarray(p))) {
          this.fail(ErrorCode.PROTOCOL_ERROR, "bad preface");
          return;
        }
        this.pending = buf.subarray(p);
        return;
      }
      if (!PREFACE.equals(buf.subarray(p, p + PREFACE.length))) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "not an HTTP/2 client preface");
        return;
      }
      p += PREFACE.length;
      this.prefaceDone = true;
      if (this.prefaceTimer !== undefined) clearTimeout(this.prefaceTimer);
    }
    const n = buf.length;
    if (this.dataLeft > 0) {
      const take = Math.min(this.dataLeft, n - p);
      this.dataLeft -= take;
      this.deliverData(buf.subarray(p, p + take), this.dataLeft === 0);
      p += take;
      if (this.destroyed || this.dataLeft > 0) return;
    }
    while (n - p >= FRAME_HEADER_LENGTH) {
      const len = (buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!;
      if (len > DEFAULT_MAX_FRAME_SIZE) {
        this.fail(ErrorCode.FRAME_SIZE_ERROR, "frame too large");
        return;
      }
      const type = buf[p + 3]!;
      const flags = buf[p + 4]!;
      const id = buf.readUInt32BE(p + 5) & 0x7fffffff;
      const start = p + FRAME_HEADER_LENGTH;
      if (n - start < len) {
        // An unpadded DATA frame cut by the read: deliver what is here now, the rest as it comes.
        if (type === FrameType.DATA && (flags & Flag.PADDED) === 0 && this.contId === 0 && len > 0) {
          if (!this.beginData(flags, id, len)) return;
          this.dataLeft = len - (n - start);
          this.deliverData(buf.subarray(start, n), false);
          return;
        }
        break;
      }
      p = start + len;
      this.onFrame(type, flags, id, buf, start, p);
      if (this.destroyed) return;
    }
    if (p < n) this.pending = buf.subarray(p);
  }

  /**
   * Header checks and flow-control accounting of a DATA frame delivered in pieces (as `onDataFrame` does for
   * a whole frame). Returns false when the connection failed.
   */
  private beginData(flags: number, id: number, len: number): boolean {
    this.dataSt = null;
    this.dataEnd = (flags & Flag.END_STREAM) !== 0;
    if (id === 0) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
      return false;
    }
    this.recvWindow -= len;
    if (this.recvWindow < 0) {
      this.fail(ErrorCode.FLOW_CONTROL_ERROR, "connection window exceeded");
      return false;
    }
    const st = this.streams.get(id);
    if (st === undefined || st.remoteEnded) {
      if (this.isIdle(id)) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream");
        return false;
      }
      this.consume(null, len);
      if (st !== undefined) this.resetStream(st, ErrorCode.STREAM_CLOSED);
      return true;
    }
    st.recvWindow -= len;
    if (st.recvWindow < 0) {
      this.consume(null, len);
      this.resetStream(st, ErrorCode.FLOW_CONTROL_ERROR);
      this.handler.onReset(this, st, ErrorCode.FLOW_CONTROL_ERROR);
      return true;
    }
    this.dataSt = st;
    return true;
  }

  /** One piece of a DATA frame's payload; `last` when the frame is complete. */
  private deliverData(piece: Buffer, last: boolean): void {
    const st = this.dataSt;
    if (st === null) return;
    if (st.closed) {
      // Reset while its frame was arriving: the bytes still count against the connection window.
      this.consume(null, piece.length);
      return;
    }
    const endStream = last && this.dataEnd;
    if (piece.length === 0 && !endStream) return;
    if (endStream) {
      st.remoteEnded = true;
      if (st.localEnded) this.closeStream(st);
    }
    if (last) this.dataSt = null;
    this.handler.onData(this, st, piece, endStream);
  }

  private onFrame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (this.contId !== 0 && (type !== FrameType.CONTINUATION || id !== this.contId)) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "expected CONTINUATION");
      return;
    }
    switch (type) {
      case FrameType.DATA:
        this.onDataFrame(flags, id, buf, start, end);
        return;
      case FrameType.HEADERS:
        this.onHeadersFrame(flags, id, buf, start, end);
        return;
      case FrameType.CONTINUATION:
        this.onContinuation(flags, id, buf, start, end);
        return;
      case FrameType.PRIORITY:
        if (id === 0) {
          this.fail(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
          return;
        }
        if (end - start !== 5) {
          this.fail(ErrorCode.FRAME_SIZE_ERROR, "PRIORITY length");
          return;
        }
        return;
      case FrameType.RST_STREAM:
        this.onRstStream(id, buf, start, end);
        return;
      case FrameType.SETTINGS:
        this.onSettings(flags, id, buf, start, end);
        return;
      case FrameType.PING:
        if (id !== 0) {
          this.fail(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
          return;
        }
        if (end - start !== 8) {
          this.fail(ErrorCode.FRAME_SIZE_ERROR, "PING length");
          return;
        }
        if (flags & Flag.ACK) {
          this.onPingAck?.call(this);
          return;
        }
        this.push(pingFrame(buf.subarray(start, end), true));
        return;
      case FrameType.GOAWAY:
        this.onGoawayFrame(id, buf, start, end);
        return;
      case FrameType.WINDOW_UPDATE:
        this.onWindowUpdate(id, buf, start, end);
        return;
      case FrameType.PUSH_PROMISE:
        this.fail(ErrorCode.PROTOCOL_ERROR, "push is disabled");
        return;
      default:
        // Unknown frame types are ignored (RFC 9113 section 4.1).
        return;
    }
  }

  private onDataFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
      return;
    }
    const len = end - start;
    let dataStart = start;
    let dataEnd = end;
    if (flags & Flag.PADDED) {
      if (len < 1) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "DATA padding");
        return;
      }
      const pad = buf[start]!;
      if (pad >= len) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "DATA padding longer than the frame");
        return;
      }
      dataStart = start + 1;
      dataEnd = end - pad;
    }
    this.recvWindow -= len;
    if (this.recvWindow < 0) {
      this.fail(ErrorCode.FLOW_CONTROL_ERROR, "connection window exceeded");
      return;
    }
    const st = this.streams.get(id);
    if (st === undefined || st.remoteEnded) {
      if (this.isIdle(id)) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream");
        return;
      }
      // A stream we already closed or reset: the peer may not know yet. Keep the connection window whole.
      this.consume(null, len);
      if (st !== undefined) this.resetStream(st, ErrorCode.STREAM_CLOSED);
      return;
    }
    st.recvWindow -= len;
    if (st.recvWindow < 0) {
      this.consume(null, len);
      this.resetStream(st, ErrorCode.FLOW_CONTROL_ERROR);
      this.handler.onReset(this, st, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    // Padding is consumed at once: only payload waits for the far side.
    if (len !== dataEnd - dataStart) this.consume(st, len - (dataEnd - dataStart));
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (endStream) {
      st.remoteEnded = true;
      if (st.localEnded) this.closeStream(st);
    }
    this.handler.onData(this, st, buf.subarray(dataStart, dataEnd), endStream);
  }

  /** A stream id the peer could open but has not yet (RFC 9113 section 5.1 "idle"). */
  private isIdle(id: number): boolean {
    if (this.isServer) return (id & 1) === 1 && id > this.lastPeerStreamId;
    return (id & 1) === 1 && id >= this.nextStreamId;
  }

  private onHeadersFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
      return;
    }
    let s = start;
    let e = end;
    if (flags & Flag.PADDED) {
      if (e - s < 1) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS padding");
        return;
      }
      const pad = buf[s]!;
      s++;
      if (pad > e - s) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS padding longer than the frame");
        return;
      }
      e -= pad;
    }
    if (flags & Flag.PRIORITY) {
      if (e - s < 5) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS priority");
        return;
      }
      s += 5;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (flags & Flag.END_HEADERS) {
      this.onHeaderBlock(id, buf, s, e, endStream);
      return;
    }
    this.contId = id;
    this.contChunks = [buf.subarray(s, e)];
    this.contBytes = e - s;
    this.contEndStream = endStream;
  }

  private onContinuation(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (this.contId === 0 || id !== this.contId) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "unexpected CONTINUATION");
      return;
    }
    this.contChunks.push(buf.subarray(start, end));
    this.contBytes += end - start;
    // The compressed block cannot usefully exceed the decoded limit by much; refuse floods of CONTINUATION.
    if (this.contBytes > this.decoder.maxHeaderListSize * 2) {
      this.fail(ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
      return;
    }
    if ((flags & Flag.END_HEADERS) === 0) return;
    const block = Buffer.concat(this.contChunks);
    this.contId = 0;
    this.contChunks = [];
    this.contBytes = 0;
    this.onHeaderBlock(id, block, 0, block.length, this.contEndStream);
  }

  private onHeaderBlock(id: number, buf: Buffer, start: number, end: number, endStream: boolean): void {
    let fields: string[];
    let oversized: boolean;
    try {
      const r = this.decoder.decode(buf, start, end);
      fields = r.fields;
      oversized = r.oversized;
    } catch (e: unknown) {
      if (e instanceof HpackError) {
        this.fail(ErrorCode.COMPRESSION_ERROR, e.message);
        return;
      }
      throw e;
    }
    let st = this.streams.get(id);
    if (st === undefined) {
      if (!this.isServer) {
        // Response on a stream we already reset, or a stream we never opened.
        if (this.isIdle(id) || (id & 1) === 0) {
          this.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS on an unknown stream");
          return;
        }
        return;
      }
      if ((id & 1) === 1 && id <= this.lastPeerStreamId && this.resetIds.includes(id)) return;
      if ((id & 1) === 0 || id <= this.lastPeerStreamId) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS on a closed or even stream");
        return;
      }
      this.lastPeerStreamId = id;
      if (this.goawaySent) {
        this.push(rstStreamFrame(id, ErrorCode.REFUSED_STREAM));
        return;
      }
      if (this.streams.size >= this.maxConcurrentStreams) {
        this.push(rstStreamFrame(id, ErrorCode.REFUSED_STREAM));
        return;
      }
      st = new H2Stream(id, this.peerInitialWindow, this.streamWindow);
      this.streams.set(id, st);
    } else if (st.remoteEnded) {
      this.resetStream(st, ErrorCode.STREAM_CLOSED);
      this.handler.onReset(this, st, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (endStream) {
      st.remoteEnded = true;
      if (st.localEnded) this.closeStream(st);
    }
    this.handler.onHeaders(this, st, fields, endStream, oversized);
  }

  private onRstStream(id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
      return;
    }
    if (end - start !== 4) {
      this.fail(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM length");
      return;
    }
    const st = this.streams.get(id);
    if (st === undefined) {
      if (this.isIdle(id)) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
        return;
      }
      return;
    }
    this.closeStream(st);
    this.handler.onReset(this, st, buf.readUInt32BE(start));
  }

  private onSettings(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
      return;
    }
    if (flags & Flag.ACK) {
      if (end !== start) {
        this.fail(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with payload");
        return;
      }
      return;
    }
    if ((end - start) % 6 !== 0) {
      this.fail(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS length");
      return;
    }
    for (let p = start; p < end; p += 6) {
      const key = buf.readUInt16BE(p);
      const v = buf.readUInt32BE(p + 2);
      switch (key) {
        case Setting.HEADER_TABLE_SIZE:
          this.encoder.setMaxTableSize(v);
          break;
        case Setting.ENABLE_PUSH:
          if (v > 1) {
            this.fail(ErrorCode.PROTOCOL_ERROR, "ENABLE_PUSH");
            return;
          }
          break;
        case Setting.MAX_CONCURRENT_STREAMS:
          this.peerMaxConcurrentStreams = v;
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (v > MAX_WINDOW) {
            this.fail(ErrorCode.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE");
            return;
          }
          const delta = v - this.peerInitialWindow;
          this.peerInitialWindow = v;
          for (const st of this.streams.toArray()) st.sendWindow += delta;
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (v < DEFAULT_MAX_FRAME_SIZE || v > 0xffffff) {
            this.fail(ErrorCode.PROTOCOL_ERROR, "MAX_FRAME_SIZE");
            return;
          }
          this.peerMaxFrameSize = v;
          break;
        default:
          break;
      }
    }
    this.push(settingsFrame([], true));
    if (!this.ready) {
      this.ready = true;
      this.handler.onReady(this);
    }
    this.pumpBlocked();
  }

  private onGoawayFrame(id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
      return;
    }
    if (end - start < 8) {
      this.fail(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY length");
      return;
    }
    const last = buf.readUInt32BE(start) & 0x7fffffff;
    const code = buf.readUInt32BE(start + 4);
    this.goawayReceived = true;
    if (!this.isServer) {
      // Streams above `last` were never processed by the peer: safe to retry elsewhere.
      for (const st of this.streams.toArray()) {
        if (st.id > last) {
          this.closeStream(st);
          this.handler.onReset(this, st, ErrorCode.REFUSED_STREAM);
        }
      }
    }
    this.handler.onGoaway(this, last, code);
    if (this.streams.size === 0 && !this.destroyed) this.destroy();
  }

  private onWindowUpdate(id: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) {
      this.fail(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE length");
      return;
    }
    const inc = buf.readUInt32BE(start) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
        return;
      }
      this.sendWindow += inc;
      if (this.sendWindow > MAX_WINDOW) {
        this.fail(ErrorCode.FLOW_CONTROL_ERROR, "connection window overflow");
        return;
      }
      this.pumpBlocked();
      return;
    }
    const st = this.streams.get(id);
    if (st === undefined) {
      if (this.isIdle(id)) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
        return;
      }
      return;
    }
    if (inc === 0) {
      this.resetStream(st, ErrorCode.PROTOCOL_ERROR);
      this.handler.onReset(this, st, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    st.sendWindow += inc;
    if (st.sendWindow > MAX_WINDOW) {
      this.resetStream(st, ErrorCode.FLOW_CONTROL_ERROR);
      this.handler.onReset(this, st, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    if (this.blocked.has(st)) {
      this.blocked.delete(st);
      this.pump(st);
    }
  }

  private pumpBlocked(): void {
    if (this.blocked.size === 0) return;
    const list = [...this.blocked];
    this.blocked.clear();
    for (const st of list) {
      this.pump(st);
      if (this.sendWindow <= 0 || this.congested()) {
        // Whatever is left stays blocked (pump re-added the stream that stopped).
        for (const rest of list)
          if (!rest.closed && rest.out !== null && rest.out.length > 0) this.blocked.add(rest);
        return;
      }
    }
  }

  private onDrain(): void {
    this.pumpBlocked();
  }

  private onSocketClose(): void {
    this.destroyed = true;
    if (this.prefaceTimer !== undefined) clearTimeout(this.prefaceTimer);
    this.chunks = [];
    this.chunkBytes = 0;
    this.runStart = this.slabPos;
    const open = this.streams.toArray();
    this.streams.clear();
    this.blocked.clear();
    for (const st of open) {
      st.closed = true;
      this.handler.onReset(this, st, CONNECTION_LOST);
    }
    this.handler.onClose(this);
  }
}

function destroySocket(s: Socket): void {
  s.destroy();
}
