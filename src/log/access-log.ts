/**
 * One access-log line per call. The data plane reports calls on its hot path, so recording a call only
 * queues the report; lines are formatted and written in a batch on the next turn of the event loop.
 *
 * Access lines bypass the logger's per-line work: their fields are fixed and never secret, so they need no
 * redaction, and every call of a batch ended within one turn of the event loop, so the batch shares one
 * timestamp. Each line is one `JSON.stringify` of its fields behind the same `level`/`time`/`msg` prefix the
 * logger writes, and the batch is one write to the logger's own destination (which renders it for
 * `--log-format pretty` too). Profiles showed the logger's redaction and serialisation at about a third
 * of the relay's CPU per call.
 * A burst beyond {@link ACCESS_QUEUE_LIMIT} pending lines is dropped and counted, so logging can never hold
 * unbounded memory or slow the proxy down.
 */

import { grpcCodeName } from "../dataplane/grpc-status.js";
import type { CallInfo } from "../dataplane/types.js";
import { gatewayOf, listenerSection, routeParts } from "./call-fields.js";
import { type Logger, loggerStream } from "./logger.js";

/** Pending lines above which new ones are dropped (and counted in a warning line). */
export const ACCESS_QUEUE_LIMIT = 10_000;

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
  #scheduled = false;
  #dropped = 0;
  readonly #log: Logger;
  readonly #stream: { write(chunk: string): unknown };
  readonly #maxWrite: number;
  readonly #fields: string;

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
    if (this.#queue.length >= ACCESS_QUEUE_LIMIT) {
      this.#dropped++;
    } else {
      this.#queue.push(info);
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#drain);
    }
  }

  /** Writes every queued line now (used before exit). */
  flush(): void {
    this.#drain();
  }

  readonly #drain = (): void => {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length > 0 && this.#log.isLevelEnabled("info")) {
      const prefix = `{"level":"info","time":"${new Date().toISOString()}",${this.#fields}"msg":"access",`;
      const max = this.#maxWrite;
      let out = "";
      for (const info of batch) {
        const line = `${prefix}${JSON.stringify(accessLine(info)).slice(1)}\n`;
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
}
