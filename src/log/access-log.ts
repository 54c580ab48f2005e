/**
 * One access-log line per call. The data plane reports calls on its hot path, so recording a call only
 * appends its line, as bytes, to a batch buffer; batches are written at most {@link ACCESS_FLUSH_MS} after a
 * call ends, sooner once {@link ACCESS_BATCH_LINES} are waiting. Each line keeps the time its call ended.
 *
 * Access lines bypass the logger's per-line work: their fields are fixed and never secret, so they need no
 * redaction. Each line is written behind the same `level`/`time`/`msg` prefix the logger writes, and a batch
 * is one write to the logger's own destination (which renders it for `--log-format pretty` too). Profiles
 * showed the logger's redaction and serialisation at about a third of the relay's CPU per call. Batching by
 * time matters when calls arrive one at a time: written on the next turn of the event loop, every line was
 * a write of its own, handed to a libuv thread, and cost the relay 12 to 25 us per call at 9,000 calls/s.
 * Writing lines as bytes rather than joining strings matters for the tail: the joined pieces were about a
 * fifth of what the relay allocated per call, and what a process allocates sets how often it stops for a
 * young-generation collection.
 * A burst beyond {@link ACCESS_QUEUE_LIMIT} pending lines (or {@link ACCESS_QUEUE_BYTES}) is dropped and
 * counted, so logging can never hold unbounded memory or slow the proxy down.
 */

import { grpcCodeName } from "../dataplane/grpc-status.js";
import type { CallInfo } from "../dataplane/types.js";
import { gatewayOf, listenerSection, PerTarget, routeParts } from "./call-fields.js";
import { type Logger, loggerStream } from "./logger.js";

/** Pending lines above which new ones are dropped (and counted in a warning line). */
export const ACCESS_QUEUE_LIMIT = 10_000;
/** Longest a line waits to be written (ms). */
export const ACCESS_FLUSH_MS = 10;
/** Pending lines that are written on the next turn of the event loop rather than waiting for the timer. */
export const ACCESS_BATCH_LINES = 256;

/** The fields of an access-log line (besides `level`, `time` and `msg: "access"`). */
export interface AccessLine {
  /** `namespace/name` of the Gateway; empty when no listener matched. */
  gateway: string;
  /** Listener section name (or `port/<n>` when no listener matched). */
  listener: string;
  authority: string;
  /** `/<service>/<method>`. */
  path: string;
  /** `namespace/name` of the GRPCRoute; absent when no route matched. */
  route?: string;
  /** Rule index within the route. */
  rule?: number;
  /** Backend cluster: `service/<ns>/<name>/port/<port>`. */
  backend?: string;
  /** Upstream `host:port`. */
  endpoint?: string;
  grpcStatus: number;
  /** Name of the gRPC status (`OK`, `UNAVAILABLE`, ...). */
  grpcCode: string;
  httpStatus: number;
  /** Why the gateway answered the call itself. */
  gatewayError?: string;
  /** Milliseconds, with microsecond precision. */
  durationMs: number;
  requestBytes: number;
  responseBytes: number;
}

/** Maps a call report to its access-log fields. */
export function accessLine(info: CallInfo): AccessLine {
  const line: AccessLine = {
    gateway: gatewayOf(info),
    listener: listenerSection(info.listener),
    authority: info.authority,
    path: info.path,
    grpcStatus: info.grpcStatus,
    grpcCode: grpcCodeName(info.grpcStatus),
    httpStatus: info.httpStatus,
    durationMs: Math.round(info.durationMs * 1000) / 1000,
    requestBytes: info.requestBytes,
    responseBytes: info.responseBytes,
  };
  if (info.route !== undefined) {
    const parts = routeParts(info.route);
    line.route = parts.route;
    if (parts.rule !== "") line.rule = Number(parts.rule);
  }
  if (info.backend !== undefined) line.backend = info.backend;
  if (info.endpoint !== undefined) line.endpoint = info.endpoint;
  if (info.gatewayError !== undefined) line.gatewayError = info.gatewayError;
  return line;
}

export interface AccessLogOptions {
  /**
   * Most bytes per write: a batch is cut at line ends into writes of at most this size (a longer line goes
   * alone). Workers sharing stdout use the pipe's atomic write size. Default: one write per batch.
   */
  maxWriteBytes?: number;
  /** Fields written first on every line (the worker's number). */
  fields?: Record<string, unknown>;
}

/** Writes access-log lines in batches, off the call's own path. */
export class AccessLog {
  /** The lines recorded since the last write, as Latin-1 bytes. */
  readonly #out = new LineBuffer();
  /** Lines in `#out`, and where the writes of the next batch are cut (only with `maxWriteBytes`). */
  #lines = 0;
  #cuts: number[] = [];
  #segment = 0;
  #timer: NodeJS.Timeout | undefined = undefined;
  #immediate = false;
  #dropped = 0;
  readonly #log: Logger;
  readonly #stream: { write(chunk: string): unknown };
  readonly #maxWrite: number;
  readonly #fields: string;
  /** The fields a (listener, route, backend) fixes, as Latin-1-safe JSON text ending in a comma. */
  readonly #fixed = new PerTarget<string>();
  /** The line prefix up to `"msg":"access",` for the millisecond `#at`. */
  #at = -1;
  #prefix = "";

  constructor(log: Logger, opts: AccessLogOptions = {}) {
    this.#log = log;
    this.#stream = loggerStream(log);
    // Measured in characters: each is in the Latin-1 range (HTTP/2 header values are decoded as Latin-1, the
    // rest is ASCII or escaped), so it takes at most two bytes in UTF-8.
    this.#maxWrite = opts.maxWriteBytes !== undefined ? Math.floor(opts.maxWriteBytes / 2) : Infinity;
    const fields = opts.fields !== undefined ? latin1Json(JSON.stringify(opts.fields)).slice(1, -1) : "";
    this.#fields = fields === "" ? "" : `${fields},`;
  }

  /**
   * Records one line: its text goes into the batch buffer at once (no object is kept per call), and is
   * written with the batch. No I/O happens here.
   */
  record(info: CallInfo): void {
    if (!this.#log.isLevelEnabled("info")) return;
    const out = this.#out;
    const n = this.#lines;
    if (n >= ACCESS_QUEUE_LIMIT || out.len >= ACCESS_QUEUE_BYTES) {
      this.#dropped++;
    } else {
      const start = out.len;
      this.#write(info, Date.now());
      this.#lines = n + 1;
      if (out.len - this.#segment > this.#maxWrite && start > this.#segment) {
        this.#cuts.push(start);
        this.#segment = start;
      }
    }
    if (this.#timer === undefined) {
      // Unref'd: a pending line never holds the process open; shutdown paths call flush().
      this.#timer = setTimeout(this.#drain, ACCESS_FLUSH_MS);
      this.#timer.unref();
    } else if (n + 1 >= ACCESS_BATCH_LINES && !this.#immediate) {
      this.#immediate = true;
      setImmediate(this.#drain);
    }
  }

  /** Writes every queued line now (used before exit). */
  flush(): void {
    this.#drain();
  }

  readonly #drain = (): void => {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#immediate = false;
    if (this.#lines > 0) {
      const out = this.#out;
      let from = 0;
      for (const cut of this.#cuts) {
        this.#stream.write(out.text(from, cut));
        from = cut;
      }
      this.#stream.write(out.text(from, out.len));
      out.reset();
      this.#lines = 0;
      this.#cuts = [];
      this.#segment = 0;
    }
    if (this.#dropped > 0) {
      this.#log.warn({ dropped: this.#dropped }, "access log lines dropped");
      this.#dropped = 0;
    }
  };

  /**
   * Appends the line of {@link accessLine} (behind the logger's `level`/`time`/`msg` prefix) to the batch.
   * Built from pieces: the fields a (listener, route, backend) fixes are formatted once, strings and
   * numbers are written as bytes, so a line costs no object, string or `JSON.stringify` of its own.
   */
  #write(info: CallInfo, ended: number): void {
    if (ended !== this.#at) {
      this.#at = ended;
      this.#prefix = `{"level":"info","time":"${new Date(ended).toISOString()}",${this.#fields}"msg":"access",`;
    }
    const o = this.#out;
    o.latin1(this.#prefix);
    o.latin1(this.#fixedOf(info));
    o.latin1('"authority":');
    o.quoted(info.authority);
    o.latin1(',"path":');
    o.quoted(info.path);
    if (info.endpoint !== undefined) {
      o.latin1(',"endpoint":');
      o.quoted(info.endpoint);
    }
    o.latin1(',"grpcStatus":');
    o.int(info.grpcStatus);
    o.latin1(',"grpcCode":"');
    o.latin1(grpcCodeName(info.grpcStatus));
    o.latin1('","httpStatus":');
    o.int(info.httpStatus);
    o.latin1(',"durationMs":');
    o.millis(info.durationMs);
    o.latin1(',"requestBytes":');
    o.int(info.requestBytes);
    o.latin1(',"responseBytes":');
    o.int(info.responseBytes);
    if (info.gatewayError !== undefined) {
      o.latin1(',"gatewayError":');
      o.quoted(info.gatewayError);
    }
    o.latin1("}\n");
  }

  #fixedOf(info: CallInfo): string {
    if (this.#fixed.listeners >= FIXED_LIMIT) this.#fixed.clear();
    return this.#fixed.get(info, fixedFields);
  }
}

/**
 * A growing buffer of Latin-1 text. A batch of lines is handed to the log's destination as one string read
 * back from it: one flat string per write, instead of the many joined pieces a line of strings is made of.
 */
class LineBuffer {
  buf = Buffer.allocUnsafe(LINE_BUFFER_BYTES);
  len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Appends text whose characters are all at most U+00FF. */
  latin1(s: string): void {
    this.reserve(s.length);
    this.len += this.buf.write(s, this.len, "latin1");
  }

  /** Appends a string as a JSON string. */
  quoted(s: string): void {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0xff) {
        this.latin1(latin1Json(JSON.stringify(s)));
        return;
      }
    }
    this.reserve(s.length + 2);
    this.buf[this.len++] = 0x22;
    this.len += this.buf.write(s, this.len, "latin1");
    this.buf[this.len++] = 0x22;
  }

  /** Appends a number as JSON (`null` for NaN and infinities); non-negative integers digit by digit. */
  int(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      this.latin1(num(n));
      return;
    }
    let digits = 1;
    for (let v = n; v >= 10; v = Math.floor(v / 10)) digits++;
    this.reserve(digits);
    let o = this.len + digits;
    this.len = o;
    let v = n;
    do {
      this.buf[--o] = 0x30 + (v % 10);
      v = Math.floor(v / 10);
    } while (v > 0);
  }

  /** Appends milliseconds rounded to the microsecond, as `JSON.stringify` writes `Math.round(ms * 1000) / 1000`. */
  millis(ms: number): void {
    const us = Math.round(ms * 1000);
    if (!Number.isSafeInteger(us) || us < 0) {
      this.latin1(num(us / 1000));
      return;
    }
    this.int(Math.floor(us / 1000));
    const f = us % 1000;
    if (f === 0) return;
    this.reserve(4);
    const b = this.buf;
    b[this.len++] = 0x2e;
    b[this.len++] = 0x30 + Math.floor(f / 100);
    if (f % 100 === 0) return;
    b[this.len++] = 0x30 + (Math.floor(f / 10) % 10);
    if (f % 10 !== 0) b[this.len++] = 0x30 + (f % 10);
  }

  text(from: number, to: number): string {
    return this.buf.toString("latin1", from, to);
  }

  /** Empties the buffer; one grown by a burst of long lines is given back. */
  reset(): void {
    this.len = 0;
    if (this.buf.length > LINE_BUFFER_BYTES * 16) this.buf = Buffer.allocUnsafe(LINE_BUFFER_BYTES);
  }
}

/** JSON text with every character above U+00FF written as a `\\u` escape: the same JSON, all in Latin-1. */
function latin1Json(json: string): string {
  return json.replace(/[\u0100-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Initial size of the batch buffer (about 200 lines). */
const LINE_BUFFER_BYTES = 64 * 1024;
/** Bytes of pending lines above which new ones are dropped (and counted), as with {@link ACCESS_QUEUE_LIMIT}. */
export const ACCESS_QUEUE_BYTES = 8 * 1024 * 1024;

/** Bound of the fixed-fields cache; past it the cache starts over (lines stay right, only slower). */
const FIXED_LIMIT = 1000;

/** The fields of an access line that its (listener, route, backend) fix, as JSON text ending in a comma. */
function fixedFields(info: CallInfo): string {
  const fields: Record<string, unknown> = {
    gateway: gatewayOf(info),
    listener: listenerSection(info.listener),
  };
  if (info.route !== undefined) {
    const parts = routeParts(info.route);
    fields.route = parts.route;
    if (parts.rule !== "") fields.rule = Number(parts.rule);
  }
  if (info.backend !== undefined) fields.backend = info.backend;
  return `${latin1Json(JSON.stringify(fields)).slice(1, -1)},`;
}

/** A number as JSON: `null` for NaN and infinities, which JSON cannot hold. */
function num(n: number): string {
  return Number.isFinite(n) ? String(n) : "null";
}
