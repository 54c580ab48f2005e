/**
 * What a server connection enforces against an abusive client (docs/security.md), and the fence that keeps a
 * reset stream counted until the backend has read the reset. Numbers come from `limits.ts`; here are the
 * counters and timers of one connection, so the connection itself only asks and acts.
 */
import type { Socket } from "node:net";
import type { H2Connection } from "./connection.js";
import type { FrameWriter } from "./frame-writer.js";
import { ErrorCode, pingFrame } from "./frames.js";
import { type ProtocolLimits, TokenBucket } from "./limits.js";

/** How long a peer that is sent GOAWAY for a connection error gets to read it before the socket is dropped. */
export const GOAWAY_LINGER_MS = 1000;

/** Drops a socket (a timer's callback). */
export function destroySocket(s: Socket): void {
  s.destroy();
}

/** Payload of the PINGs that tell when a backend has read our RST_STREAMs (keepalive PINGs carry zeros). */
const FENCE = Buffer.from("grpcrte!", "latin1");

/** The budgets and timers of one client connection (server side). */
export class ClientGuards {
  /** Streams the client reset before their answer, and useless frames ("glitches"). */
  private readonly resets: TokenBucket;
  private readonly glitches: TokenBucket;
  /** Control frames answered while the socket still had bytes to write, since it last drained. */
  private queuedControl = 0;
  /** The preface and the ACK of our SETTINGS must come in time. */
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** Set when the client preface arrived. */
  prefaceSeen = false;
  /** Closes the connection once it has had no stream for the idle timeout. */
  private idleTimer: NodeJS.Timeout | undefined;
  /** Times a header block left incomplete. */
  private headerTimer: NodeJS.Timeout | undefined = undefined;

  constructor(
    private readonly c: H2Connection,
    readonly limits: ProtocolLimits,
  ) {
    this.resets = new TokenBucket(limits.resetBurst, limits.resetRate);
    this.glitches = new TokenBucket(limits.glitchBurst, limits.glitchRate);
    // A client that never sends the preface, or never acknowledges our SETTINGS, must not hold the socket.
    this.handshakeTimer = setTimeout(onHandshakeTimeout, limits.settingsTimeoutMs, this);
    this.handshakeTimer.unref();
    this.idleTimer = setTimeout(onIdleCheck, limits.idleTimeoutMs, this);
    this.idleTimer.unref();
  }

  /** The socket drained: answers queued so far have left. */
  drained(): void {
    this.queuedControl = 0;
  }

  /**
   * Whether one more control-frame answer may be queued. A client that does not read while it keeps asking
   * for answers gets GOAWAY(ENHANCE_YOUR_CALM) past the limit.
   */
  answer(): boolean {
    if (this.c.socket.writableLength === 0 || ++this.queuedControl <= this.limits.maxQueuedControlFrames)
      return true;
    this.c.fail(
      ErrorCode.ENHANCE_YOUR_CALM,
      `more than ${this.limits.maxQueuedControlFrames} control frames queued for a peer that does not read`,
    );
    return false;
  }

  /**
   * The client sent something that costs work and does nothing useful (`what`). False, and the connection
   * failed with GOAWAY(ENHANCE_YOUR_CALM), once it has done so past its budget.
   */
  glitch(what: string): boolean {
    if (this.glitches.take()) return true;
    this.c.fail(ErrorCode.ENHANCE_YOUR_CALM, `too many useless frames (last: ${what})`);
    return false;
  }

  /**
   * The client reset a stream before its response was complete. False, and the connection failed with
   * GOAWAY(ENHANCE_YOUR_CALM), once it has done so past its budget (CVE-2023-44487).
   */
  prematureReset(): boolean {
    if (this.resets.take()) return true;
    this.c.fail(ErrorCode.ENHANCE_YOUR_CALM, "too many streams reset before their response");
    return false;
  }

  /** The client acknowledged our SETTINGS: the handshake is complete. */
  settingsAcked(): void {
    if (this.handshakeTimer === undefined) return;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
  }

  /** A header block was left open (true) or completed (false): an open one is timed. */
  headerBlockOpen(open: boolean): void {
    if (this.headerTimer !== undefined) clearTimeout(this.headerTimer);
    this.headerTimer = undefined;
    if (!open) return;
    this.headerTimer = setTimeout(onHeaderTimeout, this.limits.headerTimeoutMs, this);
    this.headerTimer.unref();
  }

  /** The connection closed: every timer stops. */
  close(): void {
    if (this.handshakeTimer !== undefined) clearTimeout(this.handshakeTimer);
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    if (this.headerTimer !== undefined) clearTimeout(this.headerTimer);
  }

  /** @internal The idle timer fired early: check again in `ms`. */
  rearmIdle(ms: number): void {
    this.idleTimer = setTimeout(onIdleCheck, ms, this);
    this.idleTimer.unref();
  }

  /** @internal */
  get connection(): H2Connection {
    return this.c;
  }
}

function onHandshakeTimeout(g: ClientGuards): void {
  const c = g.connection;
  if (c.destroyed) return;
  if (!g.prefaceSeen) {
    c.destroy();
    return;
  }
  c.fail(ErrorCode.SETTINGS_TIMEOUT, `SETTINGS not acknowledged within ${g.limits.settingsTimeoutMs} ms`);
}

function onHeaderTimeout(g: ClientGuards): void {
  g.connection.fail(
    ErrorCode.ENHANCE_YOUR_CALM,
    `header block incomplete after ${g.limits.headerTimeoutMs} ms`,
  );
}

/**
 * The idle timer: one per client connection, re-armed when it fires rather than on every stream, so calls
 * pay nothing for it. A connection with an open stream is never idle, however quiet the stream.
 */
function onIdleCheck(g: ClientGuards): void {
  const c = g.connection;
  if (c.destroyed) return;
  const timeout = g.limits.idleTimeoutMs;
  const idleFor = c.streams.size === 0 ? Date.now() - c.idleSince : 0;
  if (idleFor >= timeout) {
    c.shutdown();
    setTimeout(destroySocket, GOAWAY_LINGER_MS, c.socket).unref();
    return;
  }
  g.rearmIdle(timeout - idleFor);
}

/**
 * An upstream connection's fence for client resets. A stream a client reset before the backend answered
 * keeps counting against that client's concurrency (`H2Connection.held`) until the backend has read our
 * RST_STREAM, which the ACK of a PING sent after it proves (PINGs are answered in order, RFC 9113 section
 * 6.7): one PING per batch of resets, none per call.
 */
export class ResetFence {
  /** Client connections released by the ACK of the fence PING in flight, and by the next one. */
  private fenced: H2Connection[] | null = null;
  private fenceNext: H2Connection[] | null = null;

  constructor(private readonly out: FrameWriter) {}

  /** Holds one stream of `client` until the backend has read the resets sent so far. */
  hold(client: H2Connection): void {
    client.held++;
    if (this.fenced === null) {
      this.fenced = [client];
      this.out.push(pingFrame(FENCE, false));
    } else {
      if (this.fenceNext === null) this.fenceNext = [];
      this.fenceNext.push(client);
    }
  }

  /** A PING ACK with `data` arrived: true when it was the fence's (its held streams are released). */
  acked(data: Buffer, start: number): boolean {
    if (this.fenced === null || !FENCE.equals(data.subarray(start, start + 8))) return false;
    release(this.fenced);
    this.fenced = this.fenceNext;
    this.fenceNext = null;
    if (this.fenced !== null) this.out.push(pingFrame(FENCE, false));
    return true;
  }

  /** The connection closed: everything held is released. */
  close(): void {
    if (this.fenced !== null) release(this.fenced);
    if (this.fenceNext !== null) release(this.fenceNext);
    this.fenced = null;
    this.fenceNext = null;
  }
}

function release(clients: readonly H2Connection[]): void {
  for (let i = 0; i < clients.length; i++) clients[i]!.held--;
}
