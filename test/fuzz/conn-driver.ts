/**
 * The fuzzed connection's handler, acting like the relay at random (answers, streams DATA, resets, consumes
 * late, opens streams, pings, shuts down, stops reading), and what the handler saw of each stream: the record
 * the invariants in conn-harness.ts are checked against.
 */
import {
  CONNECTION_LOST,
  type ConnectionHandler,
  type ConnectionOptions,
  type H2Connection,
  type H2Stream,
} from "../../src/dataplane/relay/connection.js";
import { DEFAULT_MAX_FRAME_SIZE, ErrorCode } from "../../src/dataplane/relay/frames.js";
import type { FakeSocket } from "./fake-socket.js";
import type { Rng } from "./rng.js";
import type { Failure } from "./runner.js";

/** One case: which side, its options, the peer's bytes and where reads cut them, and the handler's seed. */
export interface ConnCase {
  server: boolean;
  opts: Required<Omit<ConnectionOptions, "limits">>;
  bytes: Buffer;
  /** Offsets where one read ends and the next begins (sorted, inside the input). */
  cuts: number[];
  /** Seeds the handler's and driver's choices. */
  actSeed: number;
  /** Client side: streams opened as soon as the peer's SETTINGS arrive. */
  openAtReady: number;
}

/** What the handler knows of a stream. */
export interface StreamRec {
  st: H2Stream;
  remoteEndSeen: boolean;
  resetSeen: boolean;
  handlerEnded: boolean;
  handlerReset: boolean;
  respHeaders: boolean;
  /** DATA bytes delivered and not yet consumed. */
  held: number;
  /** DATA bytes the handler queued, and those reported sent. */
  written: number;
  sent: number;
}

const REQUEST = [":method", "POST", ":scheme", "http", ":path", "/pkg.Svc/Method", ":authority", "a"];
const RESPONSE = [":status", "200", "content-type", "application/grpc"];
const TRAILERS = ["grpc-status", "0"];
const ZEROS = Buffer.alloc(80_000);

/** The handler (the relay's part) and the driver (what happens between reads). */
export class Driver {
  readonly recs = new Map<H2Stream, StreamRec>();
  readonly list: StreamRec[] = [];
  violation: Failure | null = null;
  conn: H2Connection | undefined;
  maxHandlerId = 0;
  closed = false;
  /** Set by the harness just before the socket's 'close'. */
  socketClosed = false;
  /** Set by the harness when the peer lowered SETTINGS_INITIAL_WINDOW_SIZE (send windows may be negative). */
  windowLowered = false;
  private readies = 0;

  constructor(
    private readonly c: ConnCase,
    private readonly rng: Rng,
    private readonly sock: FakeSocket,
  ) {}

  private violate(kind: string, detail: string): void {
    this.violation ??= { kind, detail };
  }

  private rec(st: H2Stream): StreamRec {
    let r = this.recs.get(st);
    if (r === undefined) {
      r = {
        st,
        remoteEndSeen: false,
        resetSeen: false,
        handlerEnded: false,
        handlerReset: false,
        respHeaders: false,
        held: 0,
        written: 0,
        sent: 0,
      };
      this.recs.set(st, r);
      this.list.push(r);
    }
    return r;
  }

  /** The rules every header or DATA event obeys. */
  private streamEvent(conn: H2Connection, what: string, st: H2Stream, end: boolean): void {
    if (this.closed) this.violate("event-after-close", `${what} on stream ${st.id} after onClose`);
    if (conn.destroyed)
      this.violate("event-after-failure", `${what} on stream ${st.id} after the connection failed`);
    const r = this.recs.get(st);
    if (r !== undefined && (r.resetSeen || r.remoteEndSeen))
      this.violate(
        "event-after-end",
        `${what} on stream ${st.id} after its ${r.resetSeen ? "reset" : "END_STREAM"}`,
      );
    if (st.closed && !(end && st.localEnded && st.remoteEnded))
      this.violate("event-on-closed-stream", `${what} on stream ${st.id}, which is closed`);
  }

  readonly handler: ConnectionHandler = {
    onHeaders: (conn, st, fields, end, oversized) => {
      this.streamEvent(conn, "onHeaders", st, end);
      if (!this.c.server && !this.recs.has(st))
        this.violate("unknown-stream", `onHeaders on stream ${st.id}, which we never opened`);
      if (oversized && fields.length > 0) this.violate("oversized", `stream ${st.id}: oversized with fields`);
      const fresh = !this.recs.has(st);
      const r = this.rec(st);
      this.maxHandlerId = Math.max(this.maxHandlerId, st.id);
      if (end) r.remoteEndSeen = true;
      if (!this.c.server || !fresh) return;
      // A new request: answered at once (as the gateway answers errors), started, reset, or left for later.
      const roll = this.rng.float();
      if (roll < 0.15) this.writeHeaders(r, [":status", "200", "grpc-status", "12"], true);
      else if (roll < 0.45) this.respond(r);
      else if (roll < 0.5) this.reset(r, ErrorCode.CANCEL);
    },
    onData: (conn, st, data, end) => {
      this.streamEvent(conn, "onData", st, end);
      const r = this.recs.get(st);
      if (r === undefined) {
        this.violate("unknown-stream", `onData on stream ${st.id} before its headers`);
        return;
      }
      if (data.length > DEFAULT_MAX_FRAME_SIZE)
        this.violate("data", `onData of ${data.length} bytes, more than a frame carries`);
      r.held += data.length;
      if (end) r.remoteEndSeen = true;
      if (this.rng.chance(0.6)) this.consume(r, data.length);
    },
    onReset: (_conn, st, code) => {
      if (this.closed) this.violate("event-after-close", `onReset on stream ${st.id} after onClose`);
      const r = this.recs.get(st);
      if (r === undefined) {
        this.violate("unknown-stream", `onReset(${code}) on stream ${st.id}, never shown to the handler`);
        return;
      }
      if (r.resetSeen) this.violate("reset-twice", `onReset(${code}) on stream ${st.id} a second time`);
      if (!st.closed) this.violate("reset-of-open-stream", `onReset(${code}) on stream ${st.id}, still open`);
      r.resetSeen = true;
      if (code === CONNECTION_LOST && !this.socketClosed)
        this.violate("reset", `onReset(CONNECTION_LOST) on stream ${st.id} while the socket is open`);
    },
    onDataReleased: (_conn, st, n) => {
      const r = this.recs.get(st);
      if (r === undefined || n <= 0) {
        this.violate("data-sent", `onDataReleased(${n}) on stream ${st.id}`);
        return;
      }
      r.sent += n;
      if (r.sent > r.written)
        this.violate("data-sent", `stream ${st.id}: ${r.sent} bytes reported released, ${r.written} queued`);
    },
    onReady: () => {
      this.readies++;
      if (this.readies > 1) this.violate("ready-twice", "onReady a second time");
      for (let i = 0; i < this.c.openAtReady; i++) this.open();
    },
    onGoaway: () => {},
    onClose: () => {
      if (this.closed) this.violate("close-twice", "onClose a second time");
      this.closed = true;
    },
  };

  private get c2(): H2Connection {
    return this.conn!;
  }

  private consume(r: StreamRec, n: number): void {
    r.held -= n;
    this.c2.consume(r.st, n);
  }

  private writeHeaders(r: StreamRec, fields: string[], end: boolean): void {
    const st = r.st;
    const accepted = !st.closed && !st.localEnded && !this.c2.destroyed;
    this.c2.writeHeaders(st, fields, end);
    if (!accepted) return;
    if (end) r.handlerEnded = true;
    else r.respHeaders = true;
  }

  private writeData(r: StreamRec, n: number, end: boolean): void {
    const st = r.st;
    const accepted = !st.closed && !st.localEnded && !st.outEnd && !this.c2.destroyed;
    // Counted first: onDataReleased may report the bytes before writeData returns (at once when the stream
    // takes no more DATA: the bytes are dropped and released).
    r.written += n;
    this.c2.writeData(st, n > 0 ? ZEROS.subarray(0, n) : null, end);
    if (accepted && end) r.handlerEnded = true;
  }

  private reset(r: StreamRec, code: number): void {
    const accepted = !r.st.closed;
    this.c2.resetStream(r.st, code);
    if (accepted) r.handlerReset = true;
  }

  /** A response: headers, DATA, maybe the trailers. */
  private respond(r: StreamRec): void {
    const rng = this.rng;
    if (!r.respHeaders) this.writeHeaders(r, RESPONSE, false);
    const end = rng.chance(0.4);
    const size = rng.chance(0.15) ? rng.range(20_000, ZEROS.length) : rng.size(2000);
    if (end && rng.chance(0.5)) {
      this.writeData(r, size, false);
      this.writeHeaders(r, TRAILERS, true);
    } else {
      this.writeData(r, size, end);
    }
  }

  private open(): void {
    const conn = this.c2;
    if (!conn.hasCapacity) return;
    const end = this.rng.chance(0.3);
    const st = conn.openStream(REQUEST, end, undefined);
    const r = this.rec(st);
    if (end) r.handlerEnded = true;
  }

  /** What the relay does between two reads. */
  between(): void {
    const rng = this.rng;
    const n = rng.int(4);
    for (let i = 0; i < n; i++) {
      const open = this.list.filter((r) => !r.st.closed);
      const r = this.list.length > 0 ? rng.pick(this.list) : undefined;
      const o = open.length > 0 ? rng.pick(open) : undefined;
      switch (
        rng.weighted([
          [4, "consume"],
          [3, "write"],
          [1, "reset"],
          [this.c.server ? 0 : 2, "open"],
          [0.5, "ping"],
          [0.15, "shutdown"],
          [1, "congest"],
          [2, "drain"],
        ] as const)
      ) {
        case "consume":
          if (r !== undefined && r.held > 0) this.consume(r, rng.chance(0.7) ? r.held : rng.range(1, r.held));
          break;
        case "write":
          if (o === undefined) break;
          if (this.c.server) this.respond(o);
          else this.writeData(o, rng.size(20_000), rng.chance(0.4));
          break;
        case "reset":
          if (o !== undefined) this.reset(o, ErrorCode.CANCEL);
          break;
        case "open":
          this.open();
          break;
        case "ping":
          this.c2.ping();
          break;
        case "shutdown":
          if (this.c.server) this.c2.shutdown();
          else if (rng.chance(0.2)) this.c2.shutdownClient();
          break;
        case "congest":
          this.sock.congest();
          break;
        default:
          if (this.sock.congested) this.sock.drain();
      }
    }
  }
}
