/**
 * Open-loop unary load at a steady rate: call k is due at `start + k / rate`, whatever happened to the calls
 * before it, and its latency runs from that due time to its last frame. The calls go round-robin over a few
 * h2c connections, so arrivals are spread evenly in time instead of starting in batches, and a target that
 * falls behind sees the queue grow instead of the load easing off (no coordinated omission).
 *
 * It speaks HTTP/2 frames itself over `node:net` (the request's HEADERS and DATA frames are built once and
 * copied per call; responses are read frame by frame, with HPACK decoded only as far as `:status`), so a
 * call costs it a few microseconds: it shares the cores with the proxy and the backend it measures.
 *
 * Usage: node --import tsx bench/clients/open-loop.ts --port N --body FILE --rate R
 *          [--path /helloworld.Greeter/SayHello] [--seconds 10] [--warmup 1] [--connections 8] [--coalesce-ms 0]
 * Prints one JSON line ({@link OpenLoopReport}); exits 0 when it measured, 2 on bad arguments, 1 when no
 * connection could be set up.
 */
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

/** What one run measured, printed as one JSON line. Latencies in ms, from each call's due time. */
export interface OpenLoopReport {
  /** Calls per second asked for, and completed per second of the measured window. */
  offeredPerSec: number;
  achievedPerSec: number;
  /** Measured calls (after the warm-up) that ended with `:status` 200, or otherwise (reset, non-200, lost). */
  succeeded: number;
  failed: number;
  /** Measured calls still open when the run gave up waiting; counted in the percentiles at their age then. */
  unfinished: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** How late after their due time the calls were written to the socket (the generator's own delay). */
  lateP50Ms: number;
  lateP99Ms: number;
  lateMaxMs: number;
  /** CPU time (user + system) this process used per call sent (warm-up included), µs. */
  cpuUsPerCall: number;
  connections: number;
  seconds: number;
  warmupSec: number;
  firstError: string;
}

// --- HPACK and frames -------------------------------------------------------------------------------------

/** HPACK integer with an `n`-bit prefix, the prefix's high bits set to `first`. */
function hpackInt(first: number, n: number, value: number): number[] {
  const max = (1 << n) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) {
    out.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  out.push(value);
  return out;
}

function hpackString(s: string): number[] {
  const b = Buffer.from(s, "latin1");
  return [...hpackInt(0, 7, b.length), ...b];
}

/**
 * The request's header block: a POST with gRPC's headers, every field a literal without indexing and without
 * Huffman coding, so the same bytes serve every call and the peer's dynamic table never matters.
 */
export function requestHeaderBlock(authority: string, path: string): Buffer {
  const bytes: number[] = [
    0x83, // :method POST (static 3)
    0x86, // :scheme http (static 6)
    ...hpackInt(0x00, 4, 4), // :path, name static 4
    ...hpackString(path),
    ...hpackInt(0x00, 4, 1), // :authority, name static 1
    ...hpackString(authority),
    ...hpackInt(0x00, 4, 31), // content-type, name static 31
    ...hpackString("application/grpc"),
    0x00, // te: a new name
    ...hpackString("te"),
    ...hpackString("trailers"),
  ];
  return Buffer.from(bytes);
}

const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const FRAME_RST_STREAM = 0x3;
const FRAME_SETTINGS = 0x4;
const FRAME_PING = 0x6;
const FRAME_GOAWAY = 0x7;
const FRAME_WINDOW_UPDATE = 0x8;
const FRAME_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

function frameHeader(buf: Buffer, at: number, length: number, type: number, flags: number, stream: number) {
  buf.writeUIntBE(length, at, 3);
  buf[at + 3] = type;
  buf[at + 4] = flags;
  buf.writeUInt32BE(stream, at + 5);
}

/** A frame as bytes. */
export function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const b = Buffer.allocUnsafe(9 + payload.length);
  frameHeader(b, 0, payload.length, type, flags, stream);
  payload.copy(b, 9);
  return b;
}

/**
 * One call's bytes (HEADERS with END_HEADERS, then DATA with END_STREAM carrying `body`) with the stream ids
 * left at 0; {@link setCallStream} fills them in.
 */
export function callTemplate(headerBlock: Buffer, body: Buffer): Buffer {
  return Buffer.concat([
    frame(FRAME_HEADERS, FLAG_END_HEADERS, 0, headerBlock),
    frame(FRAME_DATA, FLAG_END_STREAM, 0, body),
  ]);
}

/** Writes stream id `stream` into the copy of a call template at `at` (HEADERS block `blockLen` long). */
export function setCallStream(buf: Buffer, at: number, blockLen: number, stream: number): void {
  buf.writeUInt32BE(stream, at + 5);
  buf.writeUInt32BE(stream, at + 9 + blockLen + 5);
}

/**
 * Whether a response header block starts with `:status: 200`. Every HPACK encoder sends it as static entry 8
 * (one byte, 0x88); dynamic table size updates (001xxxxx) may come first. Other first fields mean another
 * status (or an encoder this reader does not follow): the call counts as failed, never as a success.
 */
export function blockIsStatus200(block: Buffer, at = 0): boolean {
  let i = at;
  while (i < block.length && ((block[i] as number) & 0xe0) === 0x20) {
    // A size update: a 5-bit prefix integer, continued while the high bit is set.
    if (((block[i] as number) & 0x1f) === 0x1f) {
      i++;
      while (i < block.length && ((block[i] as number) & 0x80) !== 0) i++;
    }
    i++;
  }
  return block[i] === 0x88;
}

/** Receives frames of one connection, whatever the chunking of the byte stream. */
export class FrameReader {
  private pending: Buffer | undefined;

  constructor(
    private readonly onFrame: (type: number, flags: number, stream: number, payload: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let at = 0;
    while (buf.length - at >= 9) {
      const len = buf.readUIntBE(at, 3);
      if (buf.length - at < 9 + len) break;
      const type = buf[at + 3] as number;
      const flags = buf[at + 4] as number;
      const stream = buf.readUInt32BE(at + 5) & 0x7fffffff;
      this.onFrame(type, flags, stream, buf.subarray(at + 9, at + 9 + len));
      at += 9 + len;
    }
    if (at < buf.length) this.pending = buf.subarray(at);
  }
}

// --- statistics -------------------------------------------------------------------------------------------

/** Nearest-rank percentile of sorted values; NaN when empty. */
export function pct(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

// --- the load ---------------------------------------------------------------------------------------------

/** Settings of one run. */
export interface OpenLoopOptions {
  port: number;
  path: string;
  body: Buffer;
  /** Calls per second over all connections. */
  rate: number;
  seconds: number;
  /** Seconds of calls at the same rate before the measured ones (sent, not counted). */
  warmupSec: number;
  connections: number;
  /** How long to wait for calls still open after the last one was due. */
  drainMs?: number;
  /** A call may wait this long past its due time for later ones to share its write (ms; 0 by default). */
  coalesceMs?: number;
}

/** Per-call state, by call index. */
interface Calls {
  /** ms (performance.now) the call was due. */
  due(k: number): number;
  /** ms from due time to the call's end (NaN: not ended). */
  latency: Float64Array;
  /** ms from due time to the write. */
  late: Float64Array;
  /** 0 open, 1 ok, 2 failed. */
  state: Uint8Array;
  /** 1 once its response headers said `:status: 200`. */
  status200: Uint8Array;
}

class Connection {
  private readonly socket: Socket;
  private nextStream = 1;
  /** stream id -> call index. */
  private readonly open = new Map<number, number>();
  private readonly queue: number[] = [];
  private queueHead = 0;
  private maxStreams = Number.POSITIVE_INFINITY;
  private sendWindow = 65_535;
  private received = 0;
  /** A HEADERS frame with END_STREAM whose block goes on in CONTINUATION frames. */
  private endAfterHeaders = -1;
  dead = false;
  ready: Promise<void>;

  constructor(
    port: number,
    private readonly template: Buffer,
    private readonly blockLen: number,
    private readonly bodyLen: number,
    private readonly calls: Calls,
    private readonly onEnd: () => void,
    private readonly onError: (message: string) => void,
  ) {
    this.socket = connect({ port, host: "127.0.0.1", noDelay: true });
    const reader = new FrameReader((type, flags, stream, payload) =>
      this.onFrame(type, flags, stream, payload),
    );
    let settled = false;
    this.ready = new Promise<void>((resolve, reject) => {
      this.onSettings = () => {
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      this.socket.once("error", (e) => {
        if (!settled) {
          settled = true;
          reject(e);
        }
      });
    });
    this.socket.on("connect", () => {
      // Preface; SETTINGS: no push, 1 GiB stream windows; the connection window raised to match.
      const settings = Buffer.alloc(12);
      settings.writeUInt16BE(0x2, 0);
      settings.writeUInt32BE(0, 2);
      settings.writeUInt16BE(0x4, 6);
      settings.writeUInt32BE(1 << 30, 8);
      const inc = Buffer.alloc(4);
      inc.writeUInt32BE((1 << 30) - 65_535, 0);
      this.socket.write(
        Buffer.concat([
          Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
          frame(FRAME_SETTINGS, 0, 0, settings),
          frame(FRAME_WINDOW_UPDATE, 0, 0, inc),
        ]),
      );
    });
    this.socket.on("data", (chunk: Buffer) => {
      reader.push(chunk);
      this.onEnd();
    });
    this.socket.on("error", (e) => this.onError(`connection: ${e.message}`));
    this.socket.on("close", () => this.fail("connection closed"));
  }

  private onSettings: () => void = () => {};

  /** Marks every open and queued call failed, and every later one: the connection is gone. */
  private fail(why: string): void {
    if (this.dead) return;
    this.dead = true;
    if (this.open.size > 0 || this.queue.length > this.queueHead) this.onError(why);
    for (const k of this.open.values()) this.calls.state[k] = 2;
    this.open.clear();
    for (let i = this.queueHead; i < this.queue.length; i++) this.calls.state[this.queue[i] as number] = 2;
    this.queue.length = 0;
    this.queueHead = 0;
  }

  get openCalls(): number {
    return this.open.size + this.queue.length - this.queueHead;
  }

  enqueue(k: number): void {
    if (this.dead) this.calls.state[k] = 2;
    else this.queue.push(k);
  }

  /**
   * Writes as many queued calls as the peer's stream limit and window allow, in one write, once the oldest
   * has waited `coalesceMs` past its due time (0: at once).
   */
  flush(now: number, coalesceMs: number): void {
    if (this.dead) return;
    let n = this.queue.length - this.queueHead;
    if (n === 0 || now - this.calls.due(this.queue[this.queueHead] as number) < coalesceMs) return;
    n = Math.min(
      n,
      this.maxStreams - this.open.size,
      Math.floor(this.sendWindow / Math.max(1, this.bodyLen)),
    );
    if (n <= 0) return;
    const size = this.template.length;
    const out = Buffer.allocUnsafe(n * size);
    for (let i = 0; i < n; i++) {
      const k = this.queue[this.queueHead++] as number;
      this.template.copy(out, i * size);
      const id = this.nextStream;
      this.nextStream += 2;
      setCallStream(out, i * size, this.blockLen, id);
      this.open.set(id, k);
      this.calls.late[k] = now - this.calls.due(k);
    }
    this.sendWindow -= n * this.bodyLen;
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
    this.socket.write(out);
  }

  private finish(stream: number, ok: boolean): void {
    const k = this.open.get(stream);
    if (k === undefined) return;
    this.open.delete(stream);
    const c = this.calls;
    c.latency[k] = performance.now() - c.due(k);
    c.state[k] = ok && c.status200[k] === 1 ? 1 : 2;
  }

  private onFrame(type: number, flags: number, stream: number, p: Buffer): void {
    switch (type) {
      case FRAME_HEADERS: {
        const k = this.open.get(stream);
        if (k !== undefined && this.calls.status200[k] === 0) {
          let at = 0;
          if (flags & FLAG_PADDED) at += 1;
          if (flags & FLAG_PRIORITY) at += 5;
          // Only the first block of a call holds :status; trailers come later with END_STREAM.
          if (blockIsStatus200(p, at)) this.calls.status200[k] = 1;
          else this.calls.status200[k] = 2;
        }
        if (flags & FLAG_END_STREAM) {
          if (flags & FLAG_END_HEADERS) this.finish(stream, true);
          else this.endAfterHeaders = stream;
        }
        return;
      }
      case FRAME_CONTINUATION:
        if (flags & FLAG_END_HEADERS && this.endAfterHeaders === stream) {
          this.endAfterHeaders = -1;
          this.finish(stream, true);
        }
        return;
      case FRAME_DATA:
        this.received += p.length;
        if (this.received >= 1 << 29) {
          const inc = Buffer.alloc(4);
          inc.writeUInt32BE(this.received, 0);
          this.socket.write(frame(FRAME_WINDOW_UPDATE, 0, 0, inc));
          this.received = 0;
        }
        if (flags & FLAG_END_STREAM) this.finish(stream, true);
        return;
      case FRAME_RST_STREAM:
        this.finish(stream, false);
        return;
      case FRAME_SETTINGS:
        if (flags & FLAG_ACK) return;
        for (let i = 0; i + 6 <= p.length; i += 6) {
          const id = p.readUInt16BE(i);
          const v = p.readUInt32BE(i + 2);
          if (id === 0x3) this.maxStreams = v;
          // Request bodies are a few bytes: any stream window holds one.
        }
        this.socket.write(frame(FRAME_SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
        this.onSettings();
        return;
      case FRAME_PING:
        if (!(flags & FLAG_ACK)) this.socket.write(frame(FRAME_PING, FLAG_ACK, 0, p));
        return;
      case FRAME_WINDOW_UPDATE:
        if (stream === 0) this.sendWindow += p.readUInt32BE(0) & 0x7fffffff;
        return;
      case FRAME_GOAWAY: {
        const last = p.readUInt32BE(0) & 0x7fffffff;
        for (const [id, k] of this.open) {
          if (id > last) {
            this.calls.state[k] = 2;
            this.open.delete(id);
          }
        }
        this.onError(`GOAWAY (last stream ${last}, code ${p.length >= 8 ? p.readUInt32BE(4) : "?"})`);
        // No new streams on it; calls at or below `last` may still finish.
        this.dead = true;
        for (let i = this.queueHead; i < this.queue.length; i++)
          this.calls.state[this.queue[i] as number] = 2;
        this.queue.length = 0;
        this.queueHead = 0;
        return;
      }
      default:
        return;
    }
  }

  close(): void {
    this.dead = true;
    this.socket.destroy();
  }
}

/** Runs the load and measures it. */
export async function runOpenLoop(o: OpenLoopOptions): Promise<OpenLoopReport> {
  const interval = 1000 / o.rate;
  const warm = Math.round(o.warmupSec * o.rate);
  const total = warm + Math.round(o.seconds * o.rate);
  let start = 0;
  const calls: Calls = {
    due: (k) => start + k * interval,
    latency: new Float64Array(total).fill(Number.NaN),
    late: new Float64Array(total).fill(Number.NaN),
    state: new Uint8Array(total),
    status200: new Uint8Array(total),
  };
  let firstError = "";
  const onError = (m: string) => {
    if (firstError === "") firstError = m;
  };
  const block = requestHeaderBlock(`127.0.0.1:${o.port}`, o.path);
  const template = callTemplate(block, o.body);
  let next = 0;
  const conns: Connection[] = [];
  let timer: NodeJS.Timeout | undefined;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  let lastDueAt = Number.POSITIVE_INFINITY;

  // Starts every call that is due, on its connection; called by a 1 ms timer and after every read, so that
  // under load the calls leave close to their due times rather than on the timer's millisecond ticks.
  const coalesceMs = o.coalesceMs ?? 0;
  const pump = () => {
    if (start === 0) return;
    const now = performance.now();
    while (next < total && start + next * interval <= now) {
      (conns[next % conns.length] as Connection).enqueue(next);
      next++;
    }
    let open = 0;
    for (const c of conns) {
      c.flush(now, coalesceMs);
      open += c.openCalls;
    }
    if (next >= total && (open === 0 || now > lastDueAt + (o.drainMs ?? 5000))) done();
  };

  for (let i = 0; i < o.connections; i++) {
    conns.push(new Connection(o.port, template, block.length, o.body.length, calls, pump, onError));
  }
  const cpu0 = process.cpuUsage();
  try {
    await Promise.all(conns.map((c) => c.ready));
    start = performance.now();
    lastDueAt = calls.due(total - 1);
    timer = setInterval(pump, 1);
    pump();
    await finished;
  } finally {
    if (timer !== undefined) clearInterval(timer);
    for (const c of conns) c.close();
  }
  const end = performance.now();
  const cpu = process.cpuUsage(cpu0);

  const measured = total - warm;
  const lat = new Float64Array(measured);
  const late: number[] = [];
  let succeeded = 0;
  let failed = 0;
  let unfinished = 0;
  let lastEnd = calls.due(warm);
  for (let k = warm; k < total; k++) {
    const l = calls.latency[k] as number;
    const s = calls.state[k];
    if (s === 1) succeeded++;
    else if (s === 2) failed++;
    else unfinished++;
    // A call that never ended counts at its age when the run stopped waiting: it was at least that slow.
    lat[k - warm] = Number.isNaN(l) ? end - calls.due(k) : l;
    if (!Number.isNaN(l)) lastEnd = Math.max(lastEnd, calls.due(k) + l);
    const w = calls.late[k] as number;
    if (!Number.isNaN(w)) late.push(w);
  }
  lat.sort();
  const lateSorted = Float64Array.from(late).sort();
  const window = (Math.max(lastEnd, calls.due(total - 1)) - calls.due(warm)) / 1000;
  return {
    offeredPerSec: o.rate,
    achievedPerSec: window > 0 ? succeeded / window : 0,
    succeeded,
    failed,
    unfinished,
    p50Ms: pct(lat, 0.5),
    p90Ms: pct(lat, 0.9),
    p99Ms: pct(lat, 0.99),
    p999Ms: pct(lat, 0.999),
    maxMs: lat.length > 0 ? (lat[lat.length - 1] as number) : Number.NaN,
    lateP50Ms: pct(lateSorted, 0.5),
    lateP99Ms: pct(lateSorted, 0.99),
    lateMaxMs: lateSorted.length > 0 ? (lateSorted[lateSorted.length - 1] as number) : Number.NaN,
    cpuUsPerCall: (cpu.user + cpu.system) / Math.max(1, total),
    connections: o.connections,
    seconds: o.seconds,
    warmupSec: o.warmupSec,
    firstError,
  };
}

// --- command line -----------------------------------------------------------------------------------------

function arg(name: string, dflt?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}

async function main(): Promise<number> {
  const port = Number(arg("port"));
  const bodyFile = arg("body");
  const rate = Number(arg("rate"));
  const o = {
    port,
    path: arg("path", "/helloworld.Greeter/SayHello") as string,
    rate,
    seconds: Number(arg("seconds", "10")),
    warmupSec: Number(arg("warmup", "1")),
    connections: Number(arg("connections", "8")),
    coalesceMs: Number(arg("coalesce-ms", "0")),
  };
  if (
    !(port > 0) ||
    bodyFile === undefined ||
    !(rate > 0) ||
    !(o.seconds > 0) ||
    !(o.warmupSec >= 0) ||
    !(o.connections >= 1) ||
    !(o.coalesceMs >= 0)
  ) {
    process.stderr.write(
      "usage: open-loop.ts --port N --body FILE --rate R [--path P] [--seconds S] [--warmup S] [--connections C] [--coalesce-ms MS]\n",
    );
    return 2;
  }
  try {
    const r = await runOpenLoop({ ...o, body: readFileSync(bodyFile) });
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  } catch (e: unknown) {
    process.stderr.write(`open-loop: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`open-loop: ${String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
