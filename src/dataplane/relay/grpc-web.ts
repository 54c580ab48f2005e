/**
 * gRPC-Web (PROTOCOL-WEB.md of the grpc repository) in front of an ordinary relayed call: the request becomes
 * a gRPC call upstream (`content-type: application/grpc`, `te: trailers`, the body base64-decoded in text
 * mode), and the response is translated back: headers with a gRPC-Web content type, DATA as it comes
 * (base64 in text mode, each piece padded), trailers as a body frame flagged 0x80. A trailers-only answer
 * keeps its status in the headers.
 *
 * `WebFront` is the call's client side (`RelayCall.dconn`); its subclasses write to an HTTP/2 stream
 * (`web-h2.ts`) or an HTTP/1.1 response (`http1.ts`). Flow control holds as on the plain path: request bytes
 * are returned to the client once forwarded, response bytes to the backend once written to the client,
 * counted through `ByteMap`s where base64 or trailer frames make the two sides' byte counts differ.
 */
import { GrpcCode } from "../grpc-status.js";
import { EMPTY_QUEUE, type RelayCall } from "./call.js";
import type { H2Stream } from "./connection.js";
import { responseCors } from "./cors.js";

const EMPTY = Buffer.alloc(0);

/** Whether a content-type is one of gRPC-Web's (`application/grpc-web`, `-text`, with `+proto`, ...). */
export function isGrpcWebType(ct: string): boolean {
  return ct.startsWith("application/grpc-web");
}

/** Whether a gRPC-Web content-type is the text (base64) one. */
export function isTextType(ct: string): boolean {
  return ct.startsWith("application/grpc-web-text");
}

/**
 * The upstream field list of a gRPC-Web request, from its regular fields `from` (name, value pairs, names
 * lowercase, without pseudo-headers or hop-by-hop fields): appended to `up` with `content-type:
 * application/grpc`, `te: trailers`, and no `content-length` (a text body's length changes).
 */
export function upstreamFields(from: readonly string[], up: string[], start: number): void {
  for (let i = start; i < from.length; i += 2) {
    const name = from[i]!;
    if (name === "content-type" || name === "content-length" || name === "te") continue;
    up.push(name, from[i + 1]!);
  }
  up.push("content-type", "application/grpc", "te", "trailers");
}

/** A streaming base64 decoder: quanta split between reads are carried over; padding may end any quantum. */
export class Base64Decoder {
  private carry = "";
  bad = false;

  /** The bytes of the whole quanta received so far; sets `bad` on a character outside base64. */
  push(chunk: Buffer): Buffer {
    const s = this.carry + chunk.toString("latin1");
    const whole = s.length - (s.length % 4);
    this.carry = s.slice(whole);
    if (whole === 0) return EMPTY;
    const body = whole === s.length ? s : s.slice(0, whole);
    if (!/^[A-Za-z0-9+/=]*$/.test(body)) {
      this.bad = true;
      return EMPTY;
    }
    const pad = body.indexOf("=");
    if (pad < 0 || pad >= whole - 2) return Buffer.from(body, "base64");
    // Padding inside: each quantum decodes on its own.
    const parts: Buffer[] = [];
    for (let i = 0; i < whole; i += 4) parts.push(Buffer.from(body.slice(i, i + 4), "base64"));
    return Buffer.concat(parts);
  }

  /** Whether the body ended on a whole quantum (and was base64 throughout). */
  end(): boolean {
    return this.carry === "" && !this.bad;
  }
}

/**
 * Byte counts of pieces in order, on two sides of a translation (`outer`: the client's bytes, `inner`: the
 * call's), released on one side (`by`): a piece's bytes on the other side are released when it is released
 * whole.
 */
export class ByteMap {
  private mine: number[] = [];
  private theirs: number[] = [];
  private head = 0;
  /** Bytes of the head piece already released. */
  private part = 0;

  constructor(readonly by: "outer" | "inner") {}

  add(outer: number, inner: number): void {
    this.mine.push(this.by === "outer" ? outer : inner);
    this.theirs.push(this.by === "outer" ? inner : outer);
  }

  /** Releases `n` bytes of side `by`; returns the other side's bytes released with them. */
  release(n: number): number {
    const mine = this.mine;
    let out = 0;
    let left = this.part + n;
    while (this.head < mine.length && left >= mine[this.head]!) {
      left -= mine[this.head]!;
      out += this.theirs[this.head]!;
      this.head++;
    }
    this.part = left;
    if (this.head === mine.length) {
      mine.length = 0;
      this.theirs.length = 0;
      this.head = 0;
      this.part = 0;
    } else if (this.head > 64) {
      mine.splice(0, this.head);
      this.theirs.splice(0, this.head);
      this.head = 0;
    }
    return out;
  }

  /** The other side's bytes of the pieces not yet released whole. */
  heldOther(): number {
    let n = 0;
    for (let i = this.head; i < this.theirs.length; i++) n += this.theirs[i]!;
    return n;
  }
}

/** A trailer list as gRPC-Web's trailer frame: flag 0x80, length, `name: value\r\n` lines. */
export function trailerFrame(fields: readonly string[]): Buffer {
  let text = "";
  for (let i = 0; i < fields.length; i += 2) text += `${fields[i]}: ${fields[i + 1]}\r\n`;
  const body = Buffer.from(text, "latin1");
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = 0x80;
  out.writeUInt32BE(body.length, 1);
  body.copy(out, 5);
  return out;
}

/** What a front needs to know of the request it translates. */
export interface WebRequest {
  /** Text (base64) mode. */
  text: boolean;
  /** The `origin` header, "" without. */
  origin: string;
  /** Largest decoded request body. */
  maxRequestBytes: number;
}

/**
 * The client side of a gRPC-Web call. On HTTP/2 the client stream's `ctx` is the front: `done` is always true
 * and `ust` null so the plain path's checks send its frames to the rare branches, which hand them here.
 */
export abstract class WebFront {
  readonly done = true;
  readonly ust = null;
  /** The relayed call (set right after construction). */
  call!: RelayCall;
  private readonly decoder: Base64Decoder | null;
  /** Request: client bytes (base64) to call bytes; text mode only. */
  private readonly reqMap: ByteMap | null;
  /** Response: bytes written to the client to the backend's bytes they carry. */
  readonly respMap = new ByteMap("outer");
  /** 0: no response head yet; 1: gRPC-Web body; 2: raw body (a gateway-made HTTP answer); 3: ended. */
  private mode = 0;
  private received = 0;
  requestEnded = false;

  constructor(readonly req: WebRequest) {
    this.decoder = req.text ? new Base64Decoder() : null;
    this.reqMap = req.text ? new ByteMap("inner") : null;
  }

  /** Writes the response head (`fields`: a flat list without `:status`); `end` ends the response. */
  protected abstract sendHead(status: number, fields: string[], end: boolean): void;
  /** Writes response body bytes; `end` ends the response after them. */
  protected abstract sendBody(data: Buffer | null, end: boolean): void;
  /** `n` client bytes were forwarded: the client may send as many more. */
  protected abstract returnRequest(n: number): void;

  // ------------------------------------------------------------------------ ClientSide (what the call calls)

  writeHeaders(_st: H2Stream, fields: string[], endStream: boolean): void {
    if (this.mode === 3) return;
    if (this.mode === 0) {
      let status = 200;
      const out: string[] = [];
      let grpc = false;
      for (let i = 0; i < fields.length; i += 2) {
        const name = fields[i]!;
        const value = fields[i + 1]!;
        if (name === ":status") status = Number(value);
        else if (name === "content-type" && value.startsWith("application/grpc")) {
          grpc = true;
          out.push(name, this.req.text ? "application/grpc-web-text+proto" : "application/grpc-web+proto");
        } else out.push(name, value);
      }
      const cors = this.call.route?.policy?.cors;
      if (cors !== undefined && this.req.origin !== "") out.push(...responseCors(cors, this.req.origin));
      this.mode = endStream ? 3 : grpc || status === 200 ? 1 : 2;
      this.sendHead(status, out, endStream);
      return;
    }
    // Trailers: the last body frame.
    const frame = trailerFrame(fields);
    const data = this.req.text ? Buffer.from(frame.toString("base64"), "latin1") : frame;
    this.mode = 3;
    this.respMap.add(data.length, 0);
    this.sendBody(data, true);
  }

  writeData(_st: H2Stream, data: Buffer | null, endStream: boolean): void {
    if (this.mode === 3) {
      if (data !== null && data.length > 0) this.releaseUpstream(data.length);
      return;
    }
    if (endStream) this.mode = 3;
    if (data === null || data.length === 0) {
      this.sendBody(null, endStream);
      return;
    }
    const out = this.mode === 1 && this.req.text ? Buffer.from(data.toString("base64"), "latin1") : data;
    this.respMap.add(out.length, data.length);
    this.sendBody(out, endStream);
  }

  consume(_st: H2Stream | null, n: number): void {
    const back = this.reqMap === null ? n : this.reqMap.release(n);
    if (back > 0) this.returnRequest(back);
  }

  // ------------------------------------------------------------------------------ what the client sends

  /** Request body bytes from the client; `end`: the body is complete. */
  requestData(data: Buffer, end: boolean): void {
    const call = this.call;
    if (call.done || this.requestEnded) {
      if (data.length > 0) this.returnRequest(data.length);
      return;
    }
    let body = data;
    if (this.decoder !== null) {
      body = data.length > 0 ? this.decoder.push(data) : EMPTY;
      if (body.length === 0) {
        if (data.length > 0) this.returnRequest(data.length);
      } else this.reqMap!.add(data.length, body.length);
      if (this.decoder.bad || (end && !this.decoder.end())) {
        call.fail(GrpcCode.INTERNAL, "gRPC-Web text request body is not base64 in whole quanta");
        return;
      }
    }
    this.received += body.length;
    if (this.received > this.req.maxRequestBytes) {
      call.fail(
        GrpcCode.RESOURCE_EXHAUSTED,
        `gRPC-Web request body exceeds ${this.req.maxRequestBytes} bytes (--grpc-web-max-request-bytes)`,
      );
      return;
    }
    if (end) this.requestEnded = true;
    // As downstreamHandler.onData for a plain call.
    call.requestBytes += body.length;
    if (end) call.reqEnded = true;
    const l = call.limits;
    if (l !== null && l.idleMs !== 0) l.lastActive = performance.now();
    if (call.mirrors !== null) for (const m of call.mirrors) m.write(body, end);
    if (call.ust !== null) call.sendUp(body, end);
    else if (body.length > 0) {
      if (call.reqQueue === EMPTY_QUEUE) call.reqQueue = [];
      call.reqQueue.push(body);
    }
  }

  /** `n` response bytes were written to the client (or dropped): the backend gets its window back. */
  released(n: number): void {
    this.releaseUpstream(this.respMap.release(n));
  }

  private releaseUpstream(n: number): void {
    const call = this.call;
    if (n > 0 && call.ust !== null && call.uconn !== null) call.uconn.consume(call.ust, n);
  }

  /** The client went away or reset the request. */
  cancel(why: string): void {
    const call = this.call;
    if (call.done) return;
    call.gatewayError = why;
    call.finish(GrpcCode.CANCELLED);
  }

  /** Text mode: client bytes not yet returned (for the flow-control books); -1 in binary mode (as a call). */
  requestHeld(): number {
    return this.reqMap === null ? -1 : this.reqMap.heldOther();
  }
}
