/**
 * Runs one H2Connection (server or client side) over a FakeSocket on fuzzed input, with the handler of
 * conn-driver.ts, and checks the connection's invariants after every read (`checkConnection`).
 */
import type { Socket } from "node:net";
import { H2Connection } from "../../src/dataplane/relay/connection.js";
import { SOCKET_HIGH_WATER } from "../../src/dataplane/relay/frame-writer.js";
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  FRAME_HEADER_LENGTH,
  MAX_WINDOW,
} from "../../src/dataplane/relay/frames.js";
import type { H2Stream } from "../../src/dataplane/relay/stream.js";
import { type ConnCase, Driver, type StreamRec } from "./conn-driver.js";
import { FakeSocket } from "./fake-socket.js";
import { ReferenceDecoder } from "./hpack-reference.js";
import { OutputChecker } from "./output-check.js";
import { Rng } from "./rng.js";
import type { Failure } from "./runner.js";

export type { ConnCase } from "./conn-driver.js";

/** Private state of the connection the invariants look at (named here, so a refactor breaks loudly). */
interface Internals {
  reader: { pendingBytes: number; dataLeft: number };
  inbound: {
    dataSt: H2Stream | null;
    blocks: { openId: number; bytes: number; block: Buffer | null; maxBlockBytes: number; frames: number };
  };
}

function internals(conn: H2Connection): Internals {
  const x = conn as unknown as Internals;
  const ok =
    typeof x.reader?.pendingBytes === "number" &&
    typeof x.reader.dataLeft === "number" &&
    x.inbound?.dataSt !== undefined &&
    typeof x.inbound.blocks?.bytes === "number" &&
    x.inbound.blocks.block !== undefined &&
    typeof x.inbound.blocks.frames === "number" &&
    typeof x.inbound.blocks.maxBlockBytes === "number";
  if (!ok) throw new Error("test/fuzz/conn-harness.ts: the connection's internals changed; update Internals");
  return x;
}

/** Whether the handler knows a closed stream is over: it was reset, or both sides ended it. */
function told(r: StreamRec, server: boolean): boolean {
  if (r.resetSeen || r.handlerReset) return true;
  // A server's stream ends with its response (a request still open is reset with NO_ERROR); a client's when
  // the response ends too.
  return server ? r.handlerEnded : r.handlerEnded && r.remoteEndSeen;
}

/**
 * The connection's invariants after a read and the relay's work that followed it. Null when they hold.
 *
 * - Memory: the reader keeps at most one frame; a header block in progress stays within its bound; open
 *   streams stay within the advertised limit (server) or what we opened (client); bytes queued for the
 *   socket stay within the high-water mark plus a frame per stream and what the input itself asked for.
 * - State: either the connection failed with a GOAWAY it wrote (or closed after the peer's GOAWAY), or it is
 *   alive and has written no error GOAWAY.
 * - Streams: every stream in the table is open, one the handler knows, of the right parity and not idle, not
 *   ended both ways; blocked streams are open streams; send windows are within 2^31 - 1, and below 0 only
 *   after the peer lowered its initial window (sending never overdraws one).
 * - Windows: every DATA byte the peer sent is accounted for: still in our receive window, consumed and not
 *   yet returned, held by the handler, or due in the rest of a frame being read in pieces. Per stream and for
 *   the connection.
 * - Output: no more DATA bytes on the wire for a stream than the handler queued (and output-check.ts).
 * - The handler is told about every stream that closes (a reset, or both sides ended it).
 * - A server's GOAWAY never names a last stream below one the handler was given.
 */
export function checkConnection(
  conn: H2Connection,
  d: Driver,
  c: ConnCase,
  out: OutputChecker,
  sock: FakeSocket,
  inputBytes: number,
): Failure | null {
  const x = internals(conn);
  const fail = (kind: string, detail: string): Failure => ({ kind, detail });
  const frameBound = FRAME_HEADER_LENGTH + DEFAULT_MAX_FRAME_SIZE;
  if (x.reader.pendingBytes > frameBound)
    return fail("memory", `the reader keeps ${x.reader.pendingBytes} bytes, more than a frame`);
  const blocks = x.inbound.blocks;
  const streamLimit = c.server ? c.opts.maxConcurrentStreams : d.list.length;
  if (conn.streams.size > streamLimit)
    return fail("memory", `${conn.streams.size} open streams, limit ${streamLimit}`);
  const queuedBound = SOCKET_HIGH_WATER + (64 << 10) + d.list.length * 2 * frameBound + 3 * inputBytes;
  const queued = conn.out.pendingBytes();
  if (queued > queuedBound)
    return fail("memory", `${queued} bytes queued for the socket, bound ${queuedBound}`);

  if (conn.destroyed) {
    if (!out.goawayError && !conn.goawayReceived)
      return fail("undefined-state", "destroyed without writing a GOAWAY or receiving one");
    return null;
  }
  if (out.goawayError) return fail("undefined-state", "alive after writing a GOAWAY with an error");
  // The bound applies from the first CONTINUATION: a block's first frame is taken whole (as a block that fits
  // one HEADERS frame is), so below one frame's size the bound is one frame.
  const blockBound = Math.max(blocks.maxBlockBytes, DEFAULT_MAX_FRAME_SIZE);
  if (blocks.bytes > blockBound)
    return fail("memory", `a header block of ${blocks.bytes} bytes kept, above ${blockBound}`);
  if (blocks.block !== null && blocks.block.length > blockBound)
    return fail("memory", `a header block buffer of ${blocks.block.length} bytes, above ${blockBound}`);
  if (blocks.openId === 0 && (blocks.bytes !== 0 || blocks.block !== null))
    return fail("memory", `no header block open, ${blocks.bytes} bytes kept`);

  let heldAll = 0;
  for (const r of d.list) heldAll += r.held;
  const dataLeft = x.inbound.dataSt !== null ? x.reader.dataLeft : 0;
  const flow = conn.flow;
  for (const st of conn.streams.toArray()) {
    const r = d.recs.get(st);
    const s = `stream ${st.id}`;
    if (r === undefined) return fail("stream-table", `${s} is in the table, never shown to the handler`);
    if (st.closed) return fail("stream-table", `${s} is closed and in the table`);
    if (conn.streams.get(st.id) !== st) return fail("stream-table", `${s} is not found by its id`);
    if ((st.id & 1) === 0) return fail("stream-table", `${s} has the wrong parity`);
    if (c.server && st.id > conn.lastPeerStreamId)
      return fail("stream-table", `${s} is above the last peer stream ${conn.lastPeerStreamId}`);
    if (st.localEnded && st.remoteEnded) return fail("stream-table", `${s} ended both ways and still open`);
    if (st.outTrailers !== null && !st.outEnd) return fail("stream-table", `${s} holds trailers, no end`);
    if (st.sendWindow > MAX_WINDOW) return fail("window", `${s} send window ${st.sendWindow} above 2^31-1`);
    // Only a lower SETTINGS_INITIAL_WINDOW_SIZE takes a window below 0; sending never does.
    if (st.sendWindow < 0 && !d.windowLowered) return fail("window", `${s} sent beyond its window`);
    if (!st.remoteEnded) {
      const pending = x.inbound.dataSt === st ? dataLeft : 0;
      const sum = st.recvWindow + st.recvUnacked + r.held + pending;
      if (sum !== c.opts.streamWindow)
        return fail(
          "window-accounting",
          `${s}: window ${st.recvWindow} + unreturned ${st.recvUnacked} + held ${r.held} + due ${pending} = ${sum}, advertised ${c.opts.streamWindow}`,
        );
    }
  }
  for (const st of flow.blocked)
    if (st.closed || conn.streams.get(st.id) !== st)
      return fail("stream-table", `blocked stream ${st.id} is not open`);
  if (flow.sendWindow < 0 || flow.sendWindow > MAX_WINDOW)
    return fail("window", `connection send window ${flow.sendWindow}`);
  const connWindow = Math.max(c.opts.connectionWindow, DEFAULT_WINDOW);
  const sum = flow.recvWindow + flow.recvUnacked + heldAll + dataLeft;
  if (sum !== connWindow)
    return fail(
      "window-accounting",
      `connection: window ${flow.recvWindow} + unreturned ${flow.recvUnacked} + held ${heldAll} + due ${dataLeft} = ${sum}, advertised ${connWindow}`,
    );

  const ids = new Map<number, StreamRec>();
  for (const r of d.list) ids.set(r.st.id, r);
  for (const [id, n] of out.dataBytes) {
    const written = ids.get(id)?.written ?? 0;
    if (n > written) return fail("output", `${n} DATA bytes written on stream ${id}, ${written} queued`);
  }
  for (const r of d.list)
    if (r.st.closed && !told(r, c.server))
      return fail("silent-close", `stream ${r.st.id} closed and the handler was never told`);
  if (c.server && out.lastGoawayId >= 0 && d.maxHandlerId > out.lastGoawayId)
    return fail(
      "goaway-last-stream",
      `GOAWAY names stream ${out.lastGoawayId}, the handler got ${d.maxHandlerId}`,
    );
  if (sock.destroyed && !conn.destroyed) return fail("undefined-state", "socket destroyed, connection alive");
  return null;
}

/** After the socket closed: every stream reset (CONNECTION_LOST) or over, onClose once, the table empty. */
function checkClosed(conn: H2Connection, d: Driver, c: ConnCase): Failure | null {
  if (!d.closed) return { kind: "close", detail: "no onClose after the socket closed" };
  if (conn.streams.size !== 0)
    return { kind: "close", detail: `${conn.streams.size} streams left after close` };
  for (const r of d.list)
    if (!told(r, c.server))
      return {
        kind: "silent-close",
        detail: `stream ${r.st.id} ended with the socket, the handler never told`,
      };
  return null;
}

/** Wraps the connection's encoder: every header block it makes must decode (RFC 7541 strictly) to its list. */
function checkEncoder(conn: H2Connection, onFail: (f: Failure) => void): void {
  const enc = conn.encoder;
  const ref = new ReferenceDecoder(4096, Number.POSITIVE_INFINITY, true);
  const setMax = enc.setMaxTableSize.bind(enc);
  const encodeView = enc.encodeView.bind(enc);
  enc.setMaxTableSize = (n: number) => {
    setMax(n);
    ref.announce(n);
  };
  enc.encodeView = (fields: readonly string[]) => {
    const b = encodeView(fields);
    const got = ref.decode(b);
    if (!got.ok) onFail({ kind: "hpack-output", detail: `a block we wrote is refused: ${got.error}` });
    else if (got.fields.join("\n") !== fields.join("\n"))
      onFail({ kind: "hpack-output", detail: `a block we wrote decodes to ${JSON.stringify(got.fields)}` });
    return b;
  };
}

/** Runs a case; null when every invariant held after every read and after the socket closed. */
export function runConnectionCase(c: ConnCase): Failure | null {
  const sock = new FakeSocket();
  sock.keep = false;
  const out = new OutputChecker(!c.server);
  sock.onWrite = (b) => out.feed(b);
  const d = new Driver(c, new Rng(c.actSeed), sock);
  let encoderFailure: Failure | null = null;
  try {
    const conn = new H2Connection(sock as unknown as Socket, c.server, d.handler, c.opts);
    d.conn = conn;
    checkEncoder(conn, (f) => {
      encoderFailure ??= f;
    });
    // Frames may be as large as the largest SETTINGS_MAX_FRAME_SIZE the peer allowed so far.
    const setInitial = conn.flow.setPeerInitialWindow.bind(conn.flow);
    conn.flow.setPeerInitialWindow = (v, open) => {
      if (v < conn.flow.peerInitialWindow) d.windowLowered = true;
      return setInitial(v, open);
    };
    let maxFrame = conn.flow.peerMaxFrameSize;
    Object.defineProperty(conn.flow, "peerMaxFrameSize", {
      get: () => maxFrame,
      set: (v: number) => {
        maxFrame = v;
        out.maxFrameSize = Math.max(out.maxFrameSize, v);
      },
    });
    conn.flush();
    let prev = 0;
    for (const end of [...c.cuts, c.bytes.length]) {
      const chunk = c.bytes.subarray(prev, end);
      prev = end;
      if (!sock.destroyed && chunk.length > 0) sock.emit("data", chunk);
      d.between();
      conn.flush();
      const f = d.violation ?? out.violation ?? encoderFailure ?? checkConnection(conn, d, c, out, sock, end);
      if (f !== null) return f;
    }
    d.socketClosed = true;
    sock.emit("close");
    return d.violation ?? out.violation ?? checkClosed(conn, d, c);
  } catch (e: unknown) {
    return { kind: "threw", detail: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
}
