/**
 * A raw HTTP/2 attacker over node:net, shared by the attack tests (test/attacks/) and the benchmark's attacks
 * phase (bench/attacks/): it builds frames with the relay's own encoders (frames.ts, hpack.ts), writes them
 * as fast as the socket takes them, and accounts for every frame the server answers (by type, RST_STREAM and
 * GOAWAY codes, `:status` and `grpc-status` of response header blocks) and for when the GOAWAY and the close
 * came. It imports nothing from the tests' gRPC kit, so the benchmark can use it alone.
 * @internal test-only
 */
import { once } from "node:events";
import * as net from "node:net";
import { performance } from "node:perf_hooks";
import {
  ErrorCode,
  Flag,
  FrameType,
  frame,
  PREFACE,
  settingsFrame,
} from "../../src/dataplane/relay/frames.js";
import { HpackDecoder, HpackEncoder } from "../../src/dataplane/relay/hpack.js";

export { ErrorCode, Flag, FrameType, frame, PREFACE, settingsFrame };

/** Payload of the PINGs that tell when the server has read everything sent before them. */
const FENCE = Buffer.from("fence!!!", "latin1");

/** A frame the attacker received (payload kept only for GOAWAY, RST_STREAM and header blocks). */
export interface SeenFrame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
  /** Header blocks: the decoded fields, names and values in turn. */
  fields?: string[];
}

/** The first GOAWAY a connection received. */
export interface SeenGoaway {
  code: number;
  lastStreamId: number;
  /** Its debug data (latin1), which servers use to say why. */
  debug: string;
}

/**
 * Everything a server sent on one connection, read frame by frame from chunks cut anywhere. Header blocks
 * (HEADERS and their CONTINUATION frames) are decoded in order, as HPACK requires, and their `:status` and
 * `grpc-status` counted; nothing else is kept unless `keep` is set.
 */
export class FrameTally {
  /** Frames received, by type. */
  readonly counts = new Map<number, number>();
  /** RST_STREAM frames received, by error code. */
  readonly resets = new Map<number, number>();
  /** Response header blocks by `:status <n>` and `grpc-status <n>` (a trailers-only answer counts in both). */
  readonly answers = new Map<string, number>();
  /** Frames of interest in arrival order (GOAWAY, RST_STREAM, decoded header blocks), when `keep`. */
  readonly kept: SeenFrame[] = [];
  goaway: SeenGoaway | undefined;
  /** performance.now() when the first GOAWAY arrived. */
  goawayAt: number | undefined;
  frames = 0;
  bytes = 0;
  /** ACKs of {@link Attacker.fence} PINGs received. */
  fences = 0;
  /** Set when the bytes stop making sense as frames (a header block HPACK cannot decode); reading stops. */
  broken: string | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private readonly dec = new HpackDecoder(4096, 1 << 24);
  /** A header block waiting for its CONTINUATION frames. */
  private block: { head: SeenFrame; parts: Buffer[] } | undefined;

  constructor(private readonly keep = true) {}

  /** Reads a chunk; frames split across chunks are completed by the next ones. */
  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.broken !== undefined) return;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let p = 0;
    while (this.buf.length - p >= 9) {
      const len = this.buf.readUIntBE(p, 3);
      if (this.buf.length - p < 9 + len) break;
      const f: SeenFrame = {
        type: this.buf[p + 3] as number,
        flags: this.buf[p + 4] as number,
        id: this.buf.readUInt32BE(p + 5) & 0x7fffffff,
        payload: this.buf.subarray(p + 9, p + 9 + len),
      };
      p += 9 + len;
      this.onFrame(f);
    }
    // Keep only the unread tail, copied, so a large chunk is not held for a few bytes.
    this.buf = p === this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(p));
  }

  /** Frames of `type` received so far. */
  count(type: number): number {
    return this.counts.get(type) ?? 0;
  }

  private onFrame(f: SeenFrame): void {
    this.frames++;
    this.counts.set(f.type, (this.counts.get(f.type) ?? 0) + 1);
    if (f.type === FrameType.GOAWAY && f.payload.length >= 8) {
      if (this.goaway === undefined) {
        this.goaway = {
          lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff,
          code: f.payload.readUInt32BE(4),
          debug: f.payload.subarray(8).toString("latin1"),
        };
        this.goawayAt = performance.now();
      }
      if (this.keep) this.kept.push({ ...f, payload: Buffer.from(f.payload) });
    } else if (f.type === FrameType.RST_STREAM && f.payload.length >= 4) {
      const code = f.payload.readUInt32BE(0);
      this.resets.set(code, (this.resets.get(code) ?? 0) + 1);
      if (this.keep) this.kept.push({ ...f, payload: Buffer.from(f.payload) });
    } else if (f.type === FrameType.PING && f.flags & Flag.ACK && f.payload.equals(FENCE)) {
      this.fences++;
    } else if (f.type === FrameType.HEADERS) {
      this.block = { head: f, parts: [headerFragment(f)] };
      if (f.flags & Flag.END_HEADERS) this.endBlock();
    } else if (f.type === FrameType.CONTINUATION && this.block !== undefined) {
      this.block.parts.push(f.payload);
      if (f.flags & Flag.END_HEADERS) this.endBlock();
    }
  }

  private endBlock(): void {
    const b = this.block;
    this.block = undefined;
    if (b === undefined) return;
    const bytes = b.parts.length === 1 ? (b.parts[0] as Buffer) : Buffer.concat(b.parts);
    let fields: string[];
    try {
      fields = this.dec.decode(bytes, 0, bytes.length).fields;
    } catch (e: unknown) {
      this.broken = `a header block on stream ${b.head.id} did not decode: ${e instanceof Error ? e.message : e}`;
      return;
    }
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i];
      if (name === ":status" || name === "grpc-status") {
        const key = `${name} ${fields[i + 1]}`;
        this.answers.set(key, (this.answers.get(key) ?? 0) + 1);
      }
    }
    if (this.keep) this.kept.push({ ...b.head, payload: Buffer.from(bytes), fields });
  }
}

/** The header block fragment of a HEADERS frame: without its padding and priority fields. */
function headerFragment(f: SeenFrame): Buffer {
  let start = 0;
  let end = f.payload.length;
  if (f.flags & Flag.PADDED) {
    end -= f.payload[0] ?? 0;
    start = 1;
  }
  if (f.flags & Flag.PRIORITY) start += 5;
  return f.payload.subarray(start, Math.max(start, end));
}

/**
 * A hand-driven HTTP/2 client: writes raw bytes, and tallies every frame the server answers (see
 * {@link FrameTally}); with `keep` (the tests' default) it also keeps the GOAWAY, RST_STREAM and header
 * blocks it got, so a flood of ACKs does not fill memory.
 */
export class Attacker {
  readonly tally: FrameTally;
  readonly closed: Promise<void>;
  isClosed = false;
  readonly enc = new HpackEncoder();
  /** performance.now() when the connection was established, and when it closed. */
  readonly openedAt = performance.now();
  closedAt: number | undefined;
  private notify: (() => void) | null = null;

  private constructor(
    readonly socket: net.Socket,
    keep: boolean,
  ) {
    this.tally = new FrameTally(keep);
    socket.on("data", (d: Buffer) => {
      this.tally.push(d);
      this.wake();
    });
    socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.isClosed = true;
        this.closedAt = performance.now();
        this.wake();
        resolve();
      }),
    );
  }

  /**
   * Connects to 127.0.0.1:`port`; sends the preface and an empty SETTINGS unless `preface` is false. `keep`
   * (default true) keeps the frames of interest for {@link resetCode} and {@link headerBlocks}.
   */
  static async open(port: number, preface = true, keep = true): Promise<Attacker> {
    const socket = net.connect(port, "127.0.0.1");
    await once(socket, "connect");
    const a = new Attacker(socket, keep);
    if (preface) socket.write(Buffer.concat([PREFACE, settingsFrame([])]));
    return a;
  }

  private wake(): void {
    const n = this.notify;
    this.notify = null;
    n?.();
  }

  /** Frames received, by type (the tally's). */
  get counts(): Map<number, number> {
    return this.tally.counts;
  }

  /** Frames of interest received so far, in order (with `keep`). */
  get kept(): SeenFrame[] {
    return this.tally.kept;
  }

  /** Frames of `type` received so far. */
  count(type: number): number {
    return this.tally.count(type);
  }

  /** The first GOAWAY's error code, if one came. */
  goawayCode(): number | undefined {
    return this.tally.goaway?.code;
  }

  /** The RST_STREAM code the server sent on stream `id`, if any (with `keep`). */
  resetCode(id: number): number | undefined {
    return this.kept.find((f) => f.type === FrameType.RST_STREAM && f.id === id)?.payload.readUInt32BE(0);
  }

  /** The decoded header blocks received on stream `id`, in order (with `keep`). */
  headerBlocks(id: number): string[][] {
    const out: string[][] = [];
    for (const f of this.kept) if (f.fields !== undefined && f.id === id) out.push(f.fields);
    return out;
  }

  /** Resolves once `done()` holds (checked after every read and at close); rejects naming `what` after `ms`. */
  async until(done: () => boolean, what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (this.isClosed && !done()) throw new Error(`the connection closed before ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.notify = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Resolves when the server closed the connection; rejects naming `what` after `ms`. */
  async closedWithin(ms: number, what: string): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closed,
      new Promise<never>((_, reject) => {
        t = setTimeout(
          () => reject(new Error(`the gateway kept the connection open ${ms} ms after ${what}`)),
          ms,
        );
      }),
    ]).finally(() => clearTimeout(t));
  }

  /** Bytes written so far (the preface included). */
  get sentBytes(): number {
    return this.socket.bytesWritten;
  }

  /** Writes and waits until the socket took it (the server may close mid-way: errors are ignored). */
  async send(b: Buffer): Promise<void> {
    if (this.socket.destroyed) return;
    if (!this.socket.write(b)) {
      await Promise.race([once(this.socket, "drain"), this.closed]);
    }
  }

  /**
   * Resolves once the server has read everything written before: it answered a PING sent after it (a server
   * answers frames in order), it sent a GOAWAY or closed the connection, or `ms` passed. Says which.
   */
  async fence(ms: number): Promise<"read" | "goaway" | "closed" | "timeout"> {
    const want = this.tally.fences + 1;
    await this.send(frame(FrameType.PING, 0, 0, FENCE));
    try {
      await this.until(() => this.tally.fences >= want || this.tally.goaway !== undefined, "the fence", ms);
    } catch {
      // Closed, or no answer in time: said below.
    }
    if (this.tally.fences >= want) return "read";
    if (this.tally.goaway !== undefined) return "goaway";
    return this.isClosed ? "closed" : "timeout";
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A gRPC request header list for `path` (POST, h2c, `content-type: application/grpc`), as a header block. */
export function requestBlock(enc: HpackEncoder, path: string, extra: string[] = []): Buffer {
  return enc.encode([
    ":method",
    "POST",
    ":scheme",
    "http",
    ":path",
    path,
    ":authority",
    "x",
    "content-type",
    "application/grpc",
    "te",
    "trailers",
    ...extra,
  ]);
}

/** An empty gRPC request message (5-byte prefix, no payload). */
export const EMPTY_MESSAGE = Buffer.alloc(5);

/** `unit` repeated `n` times in one buffer: what one write of a flood carries. */
export function repeat(unit: Buffer, n: number): Buffer {
  const out = Buffer.allocUnsafe(unit.length * n);
  for (let i = 0; i < n; i++) unit.copy(out, i * unit.length);
  return out;
}

/** One frame of each flood of frames that cost the server work and ask nothing useful of it. */
export const FLOOD_FRAMES = {
  /** A PING: each asks for a 17-byte ACK. */
  ping: () => frame(FrameType.PING, 0, 0, Buffer.alloc(8)),
  /** An empty SETTINGS: each asks for a 9-byte ACK. */
  settings: () => settingsFrame([]),
  /** PRIORITY on an idle stream (deprecated by RFC 9113, ignored by servers). */
  priority: () => frame(FrameType.PRIORITY, 0, 3, Buffer.alloc(5)),
  /** A frame of an unknown type, which receivers must ignore (RFC 9113 section 4.1). */
  unknown: () => frame(0x20, 0, 0, Buffer.alloc(4)),
  /** An empty DATA frame without END_STREAM on stream `id`. */
  emptyData: (id: number) => frame(FrameType.DATA, 0, id),
  /** An empty CONTINUATION frame without END_HEADERS on stream `id`. */
  continuation: (id: number) => frame(FrameType.CONTINUATION, 0, id),
} as const;

/** A malformed request: its header list (and request body, default an empty message). */
export interface MalformedRequest {
  name: string;
  fields: string[];
  data?: Buffer;
}

/** Malformed requests to `path` (RFC 9113 sections 8.2 and 8.3): every server must refuse each of them. */
export function malformedRequests(path: string): MalformedRequest[] {
  const base = [":method", "POST", ":scheme", "http", ":path", path, ":authority", "x"];
  const grpc = ["content-type", "application/grpc", "te", "trailers"];
  return [
    { name: "an uppercase header name", fields: [...base, ...grpc, "X-Upper", "1"] },
    { name: "connection", fields: [...base, ...grpc, "connection", "close"] },
    { name: "keep-alive", fields: [...base, ...grpc, "keep-alive", "5"] },
    { name: "proxy-connection", fields: [...base, ...grpc, "proxy-connection", "close"] },
    { name: "transfer-encoding", fields: [...base, ...grpc, "transfer-encoding", "chunked"] },
    { name: "upgrade", fields: [...base, ...grpc, "upgrade", "h2c"] },
    { name: "te other than trailers", fields: [...base, "content-type", "application/grpc", "te", "gzip"] },
    {
      name: "a pseudo-header after a regular header",
      fields: [
        ":method",
        "POST",
        ":scheme",
        "http",
        "content-type",
        "application/grpc",
        ":path",
        path,
        ":authority",
        "x",
      ],
    },
    { name: "an unknown pseudo-header", fields: [...base, ":foo", "bar", ...grpc] },
    { name: "a duplicated pseudo-header", fields: [...base, ":path", path, ...grpc] },
    { name: "a response pseudo-header (:status)", fields: [...base, ":status", "200", ...grpc] },
    { name: "no :method", fields: [":scheme", "http", ":path", path, ":authority", "x", ...grpc] },
    { name: "no :scheme", fields: [":method", "POST", ":path", path, ":authority", "x", ...grpc] },
    { name: "no :path", fields: [":method", "POST", ":scheme", "http", ":authority", "x", ...grpc] },
    {
      name: "an empty :path",
      fields: [":method", "POST", ":scheme", "http", ":path", "", ":authority", "x", ...grpc],
    },
    { name: "a value with NUL", fields: [...base, ...grpc, "x-v", "a\u0000b"] },
    { name: "a value with CR LF", fields: [...base, ...grpc, "x-v", "a\r\nx-injected: 1"] },
    { name: "a value with leading whitespace", fields: [...base, ...grpc, "x-v", " a"] },
    { name: "a value with trailing whitespace", fields: [...base, ...grpc, "x-v", "a\t"] },
    { name: "a name with a space", fields: [...base, ...grpc, "x v", "a"] },
    {
      name: "content-length above the DATA",
      fields: [...base, ...grpc, "content-length", "10"],
      data: Buffer.alloc(5),
    },
    {
      name: "content-length below the DATA",
      fields: [...base, ...grpc, "content-length", "2"],
      data: Buffer.alloc(5),
    },
  ];
}

/** A name for an HTTP/2 error code (`ENHANCE_YOUR_CALM`), or its number when it has none. */
export function errorCodeName(code: number): string {
  for (const [name, c] of Object.entries(ErrorCode)) if (c === code) return name;
  return `0x${code.toString(16)}`;
}
