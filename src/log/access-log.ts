/**
 * One access-log line per call. The data plane reports calls on its hot path, so recording a call only
 * queues the pieces of its line; batches are joined and written at most {@link ACCESS_FLUSH_MS} after a
 * call ends, sooner once {@link ACCESS_BATCH_LINES} are waiting. Each line keeps the time its call ended.
 *
 * Access lines bypass the logger's per-line work: their fields are fixed and never secret, so they need no
 * redaction. Each line is written behind the same `level`/`time`/`msg` prefix the logger writes, and a batch
 * is one write to the logger's own destination (which renders it for `--log-format pretty` too). Profiles
 * showed the logger's redaction and serialisation at about a third of the relay's CPU per call. Batching by
 * time matters when calls arrive one at a time: written on the next turn of the event loop, every line was
 * a write of its own, handed to a libuv thread, and cost the relay 12 to 25 us per call at 9,000 calls/s.
 * A line's pieces are mostly cached strings (the fields a route fixes, quoted authorities and paths, the
 * status fields), queued by reference and joined once per batch: joining them per line made a string of
 * every step, about a fifth of what the relay allocated per call, and allocation sets how often it stops
 * for a young-generation collection. (Writing lines as bytes into a buffer allocated least, but cost more
 * CPU per line than joining: a byte loop in JavaScript is slower than the engine's own copying.)
 * A burst beyond {@link ACCESS_QUEUE_LIMIT} pending lines (or {@link ACCESS_QUEUE_BYTES} characters) is
 * dropped and counted, so logging can never hold unbounded memory or slow the proxy down.
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
  /** `grpc`, or `grpc-web` for a call that came in as gRPC-Web. */
  protocol: "grpc" | "grpc-web";
  /** `namespace/name` of the GRPCRoute; absent when no route matched. */
  route?: string;
  /** Rule index within the route. */
  rule?: number;
  /** Backend cluster: `service/<ns>/<name>/port/<port>`. */
  backend?: string;
  /** Upstream `host:port`. */
  endpoint?: string;
  /** The backendRefs the call failed over from, and why (see `CallInfo.failover`). */
  failover?: string;
  /** Attempts the call took when a TrafficPolicy retried it (2 or more). */
  attempts?: number;
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
    protocol: info.protocol ?? "grpc",
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
  if (info.failover !== undefined) line.failover = info.failover;
  if (info.attempts !== undefined) line.attempts = info.attempts;
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
  /**
   * The pieces of the lines recorded since the last write, joined into one string per batch: a line adds
   * references to strings that are mostly cached, where joining them per line made a string of each step.
   */
  #pieces: string[] = [];
  /** Characters in `#pieces`; lines; where the writes of the next batch are cut (only with `maxWriteBytes`). */
  #chars = 0;
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
  /** The fields a (listener, route, backend) fixes, as JSON text ending in a comma. */
  readonly #fixed = new PerTarget<string>();
  /** The line prefix up to `"msg":"access",` for the millisecond `#at`. */
  #at = -1;
  #prefix = "";
  /** `"authority":"…"`, `,"path":"…"` and `,"endpoint":"…"` pieces: the values repeat from call to call. */
  #quoted = [new Map<string, string>(), new Map<string, string>(), new Map<string, string>()];
  /** `,"grpcStatus":…,"grpcCode":"…","httpStatus":…,"durationMs":` by status pair. */
  #statuses = new Map<number, string>();

  constructor(log: Logger, opts: AccessLogOptions = {}) {
    this.#log = log;
    this.#stream = loggerStream(log);
    // Measured in characters: each is in the Latin-1 range (HTTP/2 header values are decoded as Latin-1, the
    // rest is ASCII or escaped), so it takes at most two bytes in UTF-8.
    this.#maxWrite = opts.maxWriteBytes !== undefined ? Math.floor(opts.maxWriteBytes / 2) : Infinity;
    const fields = opts.fields !== undefined ? latin1Json(JSON.stringify(opts.fields)).slice(1, -1) : "";
    this.#fields = fields === "" ? "" : `${fields},`;
  }

  /** Records one line: its pieces are queued (no object is kept per call) and written with the batch. */
  record(info: CallInfo): void {
    if (!this.#log.isLevelEnabled("info")) return;
    const n = this.#lines;
    if (n >= ACCESS_QUEUE_LIMIT || this.#chars >= ACCESS_QUEUE_BYTES) {
      this.#dropped++;
    } else {
      const start = this.#chars;
      this.#write(info, Date.now());
      this.#lines = n + 1;
      if (this.#chars - this.#segment > this.#maxWrite && start > this.#segment) {
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
      const text = this.#pieces.join("");
      let from = 0;
      for (const cut of this.#cuts) {
        this.#stream.write(text.slice(from, cut));
        from = cut;
      }
      this.#stream.write(from === 0 ? text : text.slice(from));
      // The list is kept (its storage is reused), unless a burst grew it large.
      if (this.#pieces.length > PIECES_KEPT) this.#pieces = [];
      else this.#pieces.length = 0;
      this.#chars = 0;
      this.#lines = 0;
      this.#cuts = [];
      this.#segment = 0;
    }
    if (this.#dropped > 0) {
      this.#log.warn({ dropped: this.#dropped }, "access log lines dropped");
      this.#dropped = 0;
    }
  };

  /** Queues the line of {@link accessLine}, behind the logger's `level`/`time`/`msg` prefix. */
  #write(info: CallInfo, ended: number): void {
    if (ended !== this.#at) {
      this.#at = ended;
      this.#prefix = `{"level":"info","time":"${new Date(ended).toISOString()}",${this.#fields}"msg":"access",`;
    }
    const p = this.#pieces;
    const authority = this.#quote(0, '"authority":', info.authority);
    const path = this.#quote(1, ',"path":', info.path);
    const status = this.#status(info.grpcStatus, info.httpStatus);
    const duration = num(Math.round(info.durationMs * 1000) / 1000);
    const requestBytes = num(info.requestBytes);
    const responseBytes = num(info.responseBytes);
    const fixed = this.#fixedOf(info);
    const protocol = info.protocol === undefined ? PROTOCOL_GRPC : PROTOCOL_WEB;
    let chars =
      protocol.length +
      this.#prefix.length +
      fixed.length +
      authority.length +
      path.length +
      status.length +
      duration.length +
      requestBytes.length +
      responseBytes.length +
      REQUEST_BYTES.length +
      RESPONSE_BYTES.length;
    p.push(this.#prefix, fixed, authority, path, protocol);
    if (info.endpoint !== undefined) {
      const endpoint = this.#quote(2, ',"endpoint":', info.endpoint);
      p.push(endpoint);
      chars += endpoint.length;
    }
    if (info.failover !== undefined) {
      const f = `,"failover":${latin1Json(JSON.stringify(info.failover))}`;
      p.push(f);
      chars += f.length;
    }
    if (info.attempts !== undefined) {
      const a = `,"attempts":${num(info.attempts)}`;
      p.push(a);
      chars += a.length;
    }
    p.push(status, duration, REQUEST_BYTES, requestBytes, RESPONSE_BYTES, responseBytes);
    if (info.gatewayError !== undefined) {
      const e = `,"gatewayError":${latin1Json(JSON.stringify(info.gatewayError))}}\n`;
      p.push(e);
      chars += e.length;
    } else {
      p.push("}\n");
      chars += 2;
    }
    this.#chars += chars;
  }

  /** `key` and `value` as a JSON string, cached per field (`which`). */
  #quote(which: number, key: string, value: string): string {
    let cache = this.#quoted[which]!;
    let q = cache.get(value);
    if (q === undefined) {
      if (cache.size >= QUOTED_LIMIT) {
        cache = new Map();
        this.#quoted[which] = cache;
      }
      q = `${key}${latin1Json(JSON.stringify(value))}`;
      cache.set(value, q);
    }
    return q;
  }

  #status(grpcStatus: number, httpStatus: number): string {
    const key = grpcStatus * 1000 + httpStatus;
    let s = this.#statuses.get(key);
    if (s === undefined) {
      s =
        `,"grpcStatus":${num(grpcStatus)},"grpcCode":${JSON.stringify(grpcCodeName(grpcStatus))}` +
        `,"httpStatus":${num(httpStatus)},"durationMs":`;
      if (this.#statuses.size >= QUOTED_LIMIT) this.#statuses.clear();
      this.#statuses.set(key, s);
    }
    return s;
  }

  #fixedOf(info: CallInfo): string {
    if (this.#fixed.listeners >= FIXED_LIMIT) this.#fixed.clear();
    return this.#fixed.get(info, fixedFields);
  }
}

const REQUEST_BYTES = ',"requestBytes":';
const PROTOCOL_GRPC = ',"protocol":"grpc"';
const PROTOCOL_WEB = ',"protocol":"grpc-web"';
const RESPONSE_BYTES = ',"responseBytes":';
/** Pieces list length above which the list is dropped after a batch instead of reused. */
const PIECES_KEPT = ACCESS_BATCH_LINES * 16;

/** JSON text with every character above U+00FF written as a `\\u` escape: the same JSON, all in Latin-1. */
function latin1Json(json: string): string {
  return json.replace(/[\u0100-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Characters of pending lines above which new ones are dropped (and counted), as with {@link ACCESS_QUEUE_LIMIT}. */
export const ACCESS_QUEUE_BYTES = 8 * 1024 * 1024;

/** Bounds of the formatting caches; past them a cache starts over (lines stay right, only slower). */
const FIXED_LIMIT = 1000;
const QUOTED_LIMIT = 4096;

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
