/**
 * One HTTP/2 connection over a plain `net` or `tls` socket (RFC 9113), either side: the relay accepts
 * downstream connections as a server and opens upstream connections as a client.
 *
 * The connection owns stream state, header blocks (HPACK), SETTINGS, PING, GOAWAY and RST_STREAM; it reads
 * with a `FrameReader`, writes with a `FrameWriter` and leaves windows to `FlowControl`. The relay above sees
 * streams and header lists. Incoming DATA payloads are slices of the socket's read buffers and outgoing
 * payloads are written as given, so message bytes are never copied. Receive windows are returned only when
 * the relay says the bytes were consumed (`consume()`), which is what makes a slow reader slow the writer.
 */
import type { Socket } from "node:net";
import { MAX_CLIENT_STREAMS } from "../types.js";
import { FlowControl, type FlowOwner } from "./flow-control.js";
import { FrameReader } from "./frame-reader.js";
import { FrameWriter } from "./frame-writer.js";
import {
  DEFAULT_WINDOW,
  ErrorCode,
  goawayFrame,
  PREFACE,
  pingFrame,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "./frames.js";
import { ClientGuards, destroySocket, GOAWAY_LINGER_MS, ResetFence } from "./guards.js";
import { HpackDecoder, HpackEncoder } from "./hpack.js";
import { Inbound } from "./inbound.js";
import { DEFAULT_LIMITS, type ProtocolLimits } from "./limits.js";
import { H2Stream } from "./stream.js";
import { StreamTable } from "./stream-table.js";

export { H2Stream } from "./stream.js";

/** Reset code passed to `onReset` when the connection itself went away. */
export const CONNECTION_LOST = -1;

/** What the relay implements to receive a connection's events. Called synchronously from socket reads. */
export interface ConnectionHandler {
  /**
   * A header block on a stream: a new request (server side), response headers or trailers (client side), or
   * request trailers. `oversized` is set when the list exceeded our SETTINGS_MAX_HEADER_LIST_SIZE (then
   * `fields` is empty); `malformed` says why a field is malformed (RFC 9113 section 8.2.1), "" when none is.
   */
  onHeaders(
    conn: H2Connection,
    st: H2Stream,
    fields: string[],
    endStream: boolean,
    oversized: boolean,
    malformed: string,
  ): void;
  /** DATA payload (a slice of the read buffer). The relay calls `conn.consume(st, n)` once it forwarded it. */
  onData(conn: H2Connection, st: H2Stream, data: Buffer, endStream: boolean): void;
  /** The peer reset the stream (`code`), or the connection was lost (`CONNECTION_LOST`). */
  onReset(conn: H2Connection, st: H2Stream, code: number): void;
  /**
   * `n` bytes of DATA handed to `writeData` are no longer held: written to the socket, or dropped because the
   * stream or connection closed first. Their source gets its window back (each byte is released once).
   */
  onDataReleased(conn: H2Connection, st: H2Stream, n: number): void;
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
  /** Limits against abusive peers (docs/security.md). Default {@link DEFAULT_LIMITS}. */
  limits?: ProtocolLimits;
}

/**
 * SETTINGS_INITIAL_WINDOW_SIZE we advertise by default: 128 KiB, twice a grpc-js peer's own 64 KiB. The relay
 * forwards at the pace of the slower side (whose window is what limits a stream), so a larger window only
 * parks more of the fast side's bytes here: with 1 MiB, streaming 1 MiB messages cost more relay CPU per MiB
 * and moved fewer bytes per second than with 128 KiB (bench/history/notes-2026.md).
 */
export const DEFAULT_STREAM_WINDOW = 128 << 10;

/** Client streams a server connection remembers having reset, to ignore their late HEADERS. */
const RESET_MEMORY = 64;

/** An HTTP/2 connection. Create it once the socket is connected (client) or accepted (server). */
export class H2Connection implements FlowOwner {
  readonly streams = new StreamTable<H2Stream>();
  /** Client side: the next stream id we open. */
  private nextStreamId = 1;
  /** Highest stream id the peer opened (server side), used in GOAWAY. */
  lastPeerStreamId = 0;
  /** @internal */
  readonly encoder = new HpackEncoder();
  /** @internal */
  readonly decoder: HpackDecoder;
  private readonly reader: FrameReader;
  private readonly inbound: Inbound;
  /** @internal */
  readonly out: FrameWriter;
  /** @internal */
  readonly flow: FlowControl;
  // A peer that sends no MAX_CONCURRENT_STREAMS sets no limit (RFC 9113 section 6.5.2); no stream is opened
  // before its first SETTINGS anyway. (A default of 100 here made the pools open up to 16 connections to a
  // backend that sets none, as grpc-js and node:http2 servers do, whenever more than 100 calls were in
  // flight: after each of the backend's collection pauses, for instance.)
  peerMaxConcurrentStreams = 0xffffffff;
  /** @internal */
  readonly maxConcurrentStreams: number;
  /** Server side: the last client streams we reset (a ring), whose late HEADERS are ignored. */
  /** @internal */
  readonly resetIds: number[] = new Array<number>(RESET_MEMORY).fill(0);
  private resetNext = 0;
  /** Set when we received the peer's first SETTINGS. */
  ready = false;
  goawayReceived = false;
  goawaySent = false;
  /** Last-stream-id of the GOAWAY we sent (-1: none); a later GOAWAY may not name a higher one. */
  private goawayLastId = -1;
  destroyed = false;
  /** Free for the owner (pool bookkeeping, listener port). */
  owner: unknown = undefined;
  /** @internal The limits this connection enforces. */
  readonly limits: ProtocolLimits;
  /** @internal Server side: the limits against abusive clients and their timers (null client side). */
  readonly guards: ClientGuards | null = null;
  /**
   * Server side: streams the client reset before the backend answered, whose upstream streams the backend is
   * not yet known to have dropped. They still count against SETTINGS_MAX_CONCURRENT_STREAMS, so a client that
   * resets streams cannot open them upstream faster than the backend takes in the resets.
   */
  held = 0;
  /** Client side: holds client streams reset before the backend answered until it has read the reset. */
  private fence: ResetFence | null = null;
  /** Client side: the connect timeout, cleared once the peer's SETTINGS arrive. */
  connectTimer: NodeJS.Timeout | undefined = undefined;
  /** Client side: keepalive PING interval and the pending PING's timeout. */
  keepaliveTimer: NodeJS.Timeout | undefined = undefined;
  pingTimer: NodeJS.Timeout | undefined = undefined;
  /** Time (ms since epoch) the last stream finished; for idle timeouts. */
  idleSince = Date.now();
  /** Called (with the connection as `this`) when a PING ACK arrives. */
  onPingAck: ((this: H2Connection) => void) | null = null;

  constructor(
    readonly socket: Socket,
    readonly isServer: boolean,
    /** @internal */
    readonly handler: ConnectionHandler,
    opts: ConnectionOptions = {},
  ) {
    const streamWindow = opts.streamWindow ?? DEFAULT_STREAM_WINDOW;
    const connWindow = opts.connectionWindow ?? 16 << 20;
    this.maxConcurrentStreams = opts.maxConcurrentStreams ?? MAX_CLIENT_STREAMS;
    this.decoder = new HpackDecoder(4096, opts.maxHeaderListSize ?? 65536);
    const limits = opts.limits ?? DEFAULT_LIMITS;
    this.limits = limits;
    // The compressed block cannot usefully exceed the decoded limit by much; refuse floods of CONTINUATION.
    this.inbound = new Inbound(this, this.decoder.maxHeaderListSize * 2, limits.maxContinuationFrames);
    this.out = new FrameWriter(socket);
    this.out.idle = () => this.streams.size === 0;
    this.flow = new FlowControl(this, this.out, streamWindow, connWindow);
    this.reader = new FrameReader(this.inbound, isServer);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.reader.read(chunk));
    socket.on("drain", () => {
      if (this.guards !== null) this.guards.drained();
      this.flow.pumpBlocked();
    });
    socket.on("error", () => {
      // The 'close' that follows does the cleanup; errors from peers are routine.
    });
    socket.on("close", () => this.onSocketClose());
    const settings: [number, number][] = [
      [Setting.INITIAL_WINDOW_SIZE, streamWindow],
      [Setting.MAX_HEADER_LIST_SIZE, opts.maxHeaderListSize ?? 65536],
    ];
    if (isServer) settings.push([Setting.MAX_CONCURRENT_STREAMS, this.maxConcurrentStreams]);
    else settings.push([Setting.ENABLE_PUSH, 0]);
    if (!isServer) this.out.push(PREFACE);
    else this.guards = new ClientGuards(this, limits);
    this.out.push(settingsFrame(settings));
    if (connWindow > DEFAULT_WINDOW) {
      this.out.push(windowUpdateFrame(0, connWindow - DEFAULT_WINDOW));
      this.flow.recvWindow = connWindow;
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

  // ------------------------------------------------------------------------------------- what the relay calls

  /** Writes what is queued now instead of at the end of the turn. */
  flush(): void {
    this.out.flush();
  }

  /** Client side: opens a stream and sends its request headers. */
  openStream(fields: string[], endStream: boolean, ctx: unknown): H2Stream {
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const st = new H2Stream(id, this.flow.peerInitialWindow, this.flow.streamWindow);
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
    this.out.headers(st.id, this.encoder.encodeView(fields), endStream, this.flow.peerMaxFrameSize);
    if (endStream) this.endLocal(st);
  }

  /** Queues DATA (sent as windows allow); `endStream` ends the stream after it. */
  writeData(st: H2Stream, data: Buffer | null, endStream: boolean): void {
    if (st.closed || st.localEnded || st.outEnd || this.destroyed) {
      // Nothing more goes out on this stream: the bytes are dropped, and released like sent ones.
      if (data !== null && data.length > 0) this.handler.onDataReleased(this, st, data.length);
      return;
    }
    this.flow.writeData(st, data, endStream);
  }

  /** Bytes queued on a stream and not yet sent. */
  queuedBytes(st: H2Stream): number {
    return this.flow.queuedBytes(st);
  }

  /** The relay forwarded `n` bytes received on `st`: return them to the peer's windows (batched). */
  consume(st: H2Stream | null, n: number): void {
    this.flow.consume(st, n);
  }

  /** Resets a stream (RST_STREAM `code`); nothing more is sent or delivered for it. */
  resetStream(st: H2Stream, code: number): void {
    if (st.closed) return;
    if (!this.destroyed) this.out.push(rstStreamFrame(st.id, code));
    this.closeStream(st);
    if (this.isServer) {
      // The client may have sent more on it before it saw the reset: those frames are ignored, not taken
      // for a protocol error (RFC 9113 section 5.1, "closed").
      this.resetIds[this.resetNext] = st.id;
      this.resetNext = (this.resetNext + 1) % this.resetIds.length;
    }
  }

  /** Sends a PING (keepalive); the ACK is reported by `onPingAck`. */
  ping(): void {
    if (!this.destroyed) this.out.push(pingFrame(Buffer.alloc(8), false));
  }

  /**
   * Graceful shutdown: GOAWAY(NO_ERROR) with the last stream the peer opened; the socket ends once the
   * streams in flight finish.
   */
  shutdown(): void {
    if (this.goawaySent || this.destroyed) return;
    this.goawaySent = true;
    this.goawayLastId = this.lastPeerStreamId;
    this.out.push(goawayFrame(this.lastPeerStreamId, ErrorCode.NO_ERROR));
    if (this.streams.size === 0) this.finishShutdown();
  }

  /** Client side: closes an idle connection politely (GOAWAY NO_ERROR, then end). */
  shutdownClient(): void {
    if (this.destroyed) return;
    this.goawaySent = true;
    this.goawayLastId = 0;
    this.out.push(goawayFrame(0, ErrorCode.NO_ERROR));
    this.finishShutdown();
  }

  /** Connection error: GOAWAY with `code`, then close (RFC 9113 section 5.4.1). */
  fail(code: number, reason: string): void {
    if (this.destroyed) return;
    // After a graceful GOAWAY, streams that arrived were refused, not processed: the last-stream-id stays
    // (RFC 9113 section 6.8: it must not grow, the peer may already have retried those elsewhere).
    const last = this.goawayLastId >= 0 ? this.goawayLastId : this.lastPeerStreamId;
    this.out.push(goawayFrame(last, code, reason));
    this.goawaySent = true;
    this.out.flush();
    this.markDestroyed();
    this.socket.end();
    // A peer that never reads must not keep the socket: give the GOAWAY a moment, then drop it.
    setTimeout(destroySocket, GOAWAY_LINGER_MS, this.socket).unref();
  }

  // --------------------------------------------------------------------------------- limits (docs/security.md)

  /**
   * Queues the answer to a peer's control frame (a SETTINGS or PING ACK, an RST_STREAM); a client that does
   * not read while it keeps asking for answers is cut off past its limit (`guards.ts`).
   */
  answerControl(frame: Buffer): void {
    if (this.guards === null || this.guards.answer()) this.out.push(frame);
  }

  /** The peer sent something useless (`what`): false once past its budget, the connection failed. */
  glitch(what: string): boolean {
    return this.guards === null || this.guards.glitch(what);
  }

  /** The client reset a stream before its response: false once past its budget, the connection failed. */
  prematureReset(): boolean {
    return this.guards === null || this.guards.prematureReset();
  }

  /**
   * Client side: `client` reset a stream we carried for it before the backend answered; the stream keeps
   * counting against `client`'s concurrency until the backend has read our reset (`ResetFence`).
   */
  holdForBackend(client: H2Connection): void {
    if (this.destroyed) return;
    this.fence ??= new ResetFence(this.out);
    this.fence.hold(client);
  }

  /** @internal A PING ACK with `data` arrived: true when it was a fence's (its held streams are released). */
  fenceAcked(data: Buffer, start: number): boolean {
    return this.fence?.acked(data, start) === true;
  }

  /** Closes the socket now. */
  destroy(): void {
    if (this.destroyed && this.socket.destroyed) return;
    this.out.flush();
    this.markDestroyed();
    this.socket.destroy();
  }

  // ------------------------------------------------------------------------------------------ stream state

  /** FlowOwner: the stream's END_STREAM went out. */
  endLocal(st: H2Stream): void {
    st.localEnded = true;
    this.flow.blocked.delete(st);
    if (st.remoteEnded) this.closeStream(st);
    else if (this.isServer) {
      // The response is complete while the request is still open (a call the backend or the gateway ended
      // early): RST_STREAM(NO_ERROR) tells the client to stop sending it (RFC 9113 section 8.1), and frees
      // the stream now rather than when the client gets round to ending it.
      this.resetStream(st, ErrorCode.NO_ERROR);
    }
  }

  /** FlowOwner: a trailer block after the stream's last DATA. */
  sendTrailers(st: H2Stream, fields: string[]): void {
    this.out.headers(st.id, this.encoder.encodeView(fields), true, this.flow.peerMaxFrameSize);
  }

  /** FlowOwner: DATA handed to `writeData` was written (or dropped). */
  dataReleased(st: H2Stream, n: number): void {
    this.handler.onDataReleased(this, st, n);
  }

  /** @internal Marks a stream closed and forgets it. */
  closeStream(st: H2Stream): void {
    if (st.closed) return;
    st.closed = true;
    const dropped = st.out === null ? 0 : this.flow.dropQueue(st);
    this.streams.delete(st.id);
    if (dropped > 0) this.handler.onDataReleased(this, st, dropped);
    if (this.streams.size === 0) {
      this.idleSince = Date.now();
      if (this.goawaySent) this.finishShutdown();
    }
  }

  private markDestroyed(): void {
    this.destroyed = true;
    this.out.closed = true;
  }

  private finishShutdown(): void {
    this.out.flush();
    this.socket.end();
  }

  /** A stream id the peer could open but has not yet (RFC 9113 section 5.1 "idle"). */
  /** @internal */
  isIdle(id: number): boolean {
    if (this.isServer) return (id & 1) === 1 && id > this.lastPeerStreamId;
    return (id & 1) === 1 && id >= this.nextStreamId;
  }

  private onSocketClose(): void {
    this.markDestroyed();
    if (this.guards !== null) this.guards.close();
    if (this.fence !== null) this.fence.close();
    this.out.discard();
    const open = this.streams.toArray();
    this.streams.clear();
    for (const st of open) {
      st.closed = true;
      const dropped = st.out === null ? 0 : this.flow.dropQueue(st);
      if (dropped > 0) this.handler.onDataReleased(this, st, dropped);
      this.handler.onReset(this, st, CONNECTION_LOST);
    }
    this.flow.blocked.clear();
    this.handler.onClose(this);
  }
}
