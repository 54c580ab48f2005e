/**
 * One access-log line per call. The data plane reports calls on its hot path, so recording a call only
 * queues the report (with the time it ended); lines are formatted and written in batches, at most
 * {@link ACCESS_FLUSH_MS} after a call ends, sooner once {@link ACCESS_BATCH_LINES} are waiting.
 *
 * Access lines bypass the logger's per-line work: their fields are fixed and never secret, so they need no
 * redaction. Each line is built from cached pieces behind the same `level`/`time`/`msg` prefix the logger
 * writes, and a batch is one write to the logger's own destination (which renders it for `--log-format
 * pretty` too). Profiles showed the logger's redaction and serialisation at about a third of the relay's
 * CPU per call. Batching by time matters when calls arrive one at a time: written on the next turn of the
 * event loop, every line was a write of its own, handed to a libuv thread, and cost the relay 12 to 25 us
 * per call at 9,000 calls/s.
 * A burst beyond {@link ACCESS_QUEUE_LIMIT} pending lines is dropped and counted, so logging can never hold
 * unbounded memory or slow the proxy down.
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
  #queue: CallInfo[] = [];
  /** When each queued call ended (ms since the epoch), in step with `#queue`. */
  #ended: number[] = [];
  #timer: NodeJS.Timeout | undefined = undefined;
  #immediate = false;
  #dropped = 0;
  readonly #log: Logger;
  readonly #stream: { write(chunk: string): unknown };
  readonly #maxWrite: number;
  readonly #fields: string;
  /** The fields a (listener, route, backend) fixes, as JSON text ending in a comma. */
  readonly #fixed = new PerTarget<string>();
  /** Authorities, paths and endpoints as JSON strings: they repeat from call to call. */
  #quoted = new Map<string, string>();

  constructor(log: Logger, opts: AccessLogOptions = {}) {
    this.#log = log;
    this.#stream = loggerStream(log);
    // Measured in characters: each is in the Latin-1 range (HTTP/2 header values are decoded as Latin-1, the
    // rest is ASCII), so it takes at most two bytes in UTF-8.
    this.#maxWrite = opts.maxWriteBytes !== undefined ? Math.floor(opts.maxWriteBytes / 2) : Infinity;
    const fields = opts.fields !== undefined ? JSON.stringify(opts.fields).slice(1, -1) : "";
    this.#fields = fields === "" ? "" : `${fields},`;
  }

  /** Queues one line. Cheap: no formatting or I/O happens here. */
  record(info: CallInfo): void {
    const n = this.#queue.length;
    if (n >= ACCESS_QUEUE_LIMIT) {
      this.#dropped++;
    } else {
      this.#queue.push(info);
      this.#ended.push(Date.now());
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
    const batch = this.#queue;
    const ended = this.#ended;
    if (batch.length === 0 && this.#dropped === 0) return;
    this.#queue = [];
    this.#ended = [];
    if (batch.length > 0 && this.#log.isLevelEnabled("info")) {
      const max = this.#maxWrite;
      let out = "";
      // Calls of a batch end within a few milliseconds: the prefix is rebuilt only when the time changes.
      let at = -1;
      let prefix = "";
      for (let i = 0; i < batch.length; i++) {
        const t = ended[i] as number;
        if (t !== at) {
          at = t;
          prefix = `{"level":"info","time":"${new Date(t).toISOString()}",${this.#fields}"msg":"access",`;
        }
        const line = `${prefix}${this.#fieldsOf(batch[i] as CallInfo)}}\n`;
        if (out.length > 0 && out.length + line.length > max) {
          this.#stream.write(out);
          out = "";
        }
        out += line;
      }
      this.#stream.write(out);
    }
    if (this.#dropped > 0) {
      this.#log.warn({ dropped: this.#dropped }, "access log lines dropped");
      this.#dropped = 0;
    }
  };

  /**
   * The fields of {@link accessLine} as JSON text without braces. Built from pieces: the fields a
   * (listener, route, backend) fixes are formatted once, strings that repeat are quoted once, so a line
   * costs a few concatenations rather than an object and a `JSON.stringify`.
   */
  #fieldsOf(info: CallInfo): string {
    let s = this.#fixedOf(info);
    s += `"authority":${this.#quote(info.authority)},"path":${this.#quote(info.path)},`;
    if (info.endpoint !== undefined) s += `"endpoint":${this.#quote(info.endpoint)},`;
    s += `"grpcStatus":${num(info.grpcStatus)},"grpcCode":${JSON.stringify(grpcCodeName(info.grpcStatus))}`;
    s += `,"httpStatus":${num(info.httpStatus)},"durationMs":${num(Math.round(info.durationMs * 1000) / 1000)}`;
    s += `,"requestBytes":${num(info.requestBytes)},"responseBytes":${num(info.responseBytes)}`;
    if (info.gatewayError !== undefined) s += `,"gatewayError":${JSON.stringify(info.gatewayError)}`;
    return s;
  }

  #fixedOf(info: CallInfo): string {
    if (this.#fixed.listeners >= FIXED_LIMIT) this.#fixed.clear();
    return this.#fixed.get(info, fixedFields);
  }

  #quote(v: string): string {
    let q = this.#quoted.get(v);
    if (q === undefined) {
      if (this.#quoted.size >= QUOTED_LIMIT) this.#quoted = new Map();
      q = JSON.stringify(v);
      this.#quoted.set(v, q);
    }
    return q;
  }
}

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
  return `${JSON.stringify(fields).slice(1, -1)},`;
}

/** A number as JSON: `null` for NaN and infinities, which JSON cannot hold. */
function num(n: number): string {
  return Number.isFinite(n) ? String(n) : "null";
}
