/**
 * gRPC health checks (`grpc.health.v1.Health/Check`) of one endpoint, over its pooled HTTP/2 connections,
 * as a TrafficPolicy's `healthCheck` asks: every `interval` a Check call with `timeout` for an answer.
 * SERVING passes; NOT_SERVING takes the endpoint out at once; anything else (SERVICE_UNKNOWN, a gRPC error
 * such as UNIMPLEMENTED, no answer in time, no connection) is a failure, and `unhealthyThreshold` of them in a
 * row take it out. `healthyThreshold` passes in a row bring it back. An endpoint starts healthy (its
 * EndpointSlice said it was ready) and is checked at once.
 *
 * The two messages are tiny protobufs of one field each (`HealthCheckRequest.service` = 1, string;
 * `HealthCheckResponse.status` = 1, enum), written and read here directly rather than through a protobuf
 * library the relay would otherwise not need.
 */
import type { IrHealthCheck } from "../../ir/routing-table.js";
import type { H2Connection, H2Stream } from "./connection.js";
import { ErrorCode } from "./frames.js";
import type { SideStream } from "./mirror.js";
import type { PoolWaiter, UpstreamPool } from "./upstream.js";

export const HEALTH_PATH = "/grpc.health.v1.Health/Check";

/** `HealthCheckResponse.ServingStatus`. */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;
const STATUS_NAMES = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/** A gRPC-framed `HealthCheckRequest { service }`. */
export function encodeHealthRequest(service: string): Buffer {
  const name = Buffer.from(service, "utf8");
  const len: number[] = [];
  for (let n = name.length; ; n >>>= 7) {
    if (n < 0x80) {
      len.push(n);
      break;
    }
    len.push((n & 0x7f) | 0x80);
  }
  const msg = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, ...len]), name]);
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  msg.copy(frame, 5);
  return frame;
}

/**
 * The `status` of a gRPC-framed `HealthCheckResponse`; undefined when the bytes are not one (a compressed
 * or cut frame). Unknown fields are skipped as protobuf says.
 */
export function decodeHealthResponse(frame: Buffer): number | undefined {
  if (frame.length < 5 || frame[0] !== 0) return undefined;
  const len = frame.readUInt32BE(1);
  if (frame.length !== 5 + len) return undefined;
  let status: number = ServingStatus.UNKNOWN;
  let i = 5;
  const varint = (): number | undefined => {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = frame[i++];
      if (b === undefined) return undefined;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
    return undefined;
  };
  while (i < frame.length) {
    const key = varint();
    if (key === undefined) return undefined;
    const wire = key & 7;
    const field = Math.floor(key / 8);
    if (wire === 0) {
      const v = varint();
      if (v === undefined) return undefined;
      if (field === 1) status = v;
    } else if (wire === 2) {
      const n = varint();
      if (n === undefined || i + n > frame.length) return undefined;
      i += n;
    } else if (wire === 5) i += 4;
    else if (wire === 1) i += 8;
    else return undefined;
  }
  return i === frame.length ? status : undefined;
}

/** Checks one endpoint on a timer; its pool owns it and stops it when the endpoint leaves the table. */
export class HealthChecker {
  private timer: NodeJS.Timeout | undefined = undefined;
  private probe: HealthProbe | null = null;
  private passes = 0;
  private fails = 0;
  private stopped = false;
  private readonly request: Buffer;

  constructor(
    readonly pool: UpstreamPool,
    readonly config: IrHealthCheck,
    /** Told each time the endpoint's health changes. */
    private readonly changed: (pool: UpstreamPool, reason: string) => void,
  ) {
    this.request = encodeHealthRequest(config.service);
    this.timer = setTimeout(runCheck, 0, this);
    this.timer.unref();
  }

  /** @internal Starts one check. */
  run(): void {
    this.timer = undefined;
    if (this.stopped || this.pool.retired) return;
    const probe = new HealthProbe(this, this.request);
    this.probe = probe;
    probe.timer = setTimeout(probeTimeout, this.config.timeoutMs, probe);
    probe.timer.unref();
    this.pool.acquire(probe);
  }

  /** @internal A check is over: `status` SERVING passes; anything else fails (NOT_SERVING at once). */
  result(probe: HealthProbe, status: number | undefined, why: string): void {
    if (probe !== this.probe) return;
    this.probe = null;
    if (this.stopped) return;
    const pool = this.pool;
    if (status === ServingStatus.SERVING) {
      this.fails = 0;
      this.passes++;
      if (!pool.healthy && this.passes >= this.config.healthyThreshold) {
        pool.healthy = true;
        this.changed(pool, `${this.passes} health check(s) passed in a row`);
      }
    } else {
      this.passes = 0;
      this.fails++;
      const notServing = status === ServingStatus.NOT_SERVING;
      if (pool.healthy && (notServing || this.fails >= this.config.unhealthyThreshold)) {
        pool.healthy = false;
        this.changed(
          pool,
          notServing
            ? `health check: ${why}`
            : `${this.fails} health check(s) failed in a row, the last: ${why}`,
        );
      }
    }
    this.timer = setTimeout(runCheck, this.config.intervalMs, this);
    this.timer.unref();
  }

  /** Stops checking (the endpoint left the table, or the data plane closes). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.probe?.abandon();
    this.probe = null;
  }
}

function runCheck(c: HealthChecker): void {
  c.run();
}

function probeTimeout(p: HealthProbe): void {
  p.timer = undefined;
  p.finish(undefined, `no answer within ${p.checker.config.timeoutMs} ms`);
}

/** One Check call on the pool's connection. */
export class HealthProbe implements PoolWaiter, SideStream {
  timer: NodeJS.Timeout | undefined = undefined;
  private conn: H2Connection | null = null;
  private st: H2Stream | null = null;
  private body: Buffer = Buffer.alloc(0);
  private done = false;
  private grpcStatus = "";

  constructor(
    readonly checker: HealthChecker,
    private readonly request: Buffer,
  ) {}

  bind(conn: H2Connection): void {
    if (this.done) {
      this.checker.pool.release(conn);
      return;
    }
    const pool = this.checker.pool;
    this.conn = conn;
    const fields = [
      ":method",
      "POST",
      ":scheme",
      pool.secure ? "https" : "http",
      ":path",
      HEALTH_PATH,
      ":authority",
      pool.tlsServerName ?? pool.address,
      "content-type",
      "application/grpc",
      "te",
      "trailers",
      "grpc-timeout",
      `${this.checker.config.timeoutMs}m`,
      "user-agent",
      "grpcroute-health-check",
    ];
    this.st = conn.openStream(fields, false, this);
    conn.writeData(this.st, this.request, true);
  }

  connectFailed(reason: string): void {
    this.finish(undefined, reason);
  }

  sideHeaders(_conn: H2Connection, _st: H2Stream, fields: string[], endStream: boolean): void {
    let status = "";
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === ":status") status = fields[i + 1] ?? "";
      else if (fields[i] === "grpc-status") this.grpcStatus = fields[i + 1] ?? "";
    }
    if (status !== "" && status !== "200") {
      this.finish(undefined, `HTTP ${status}`);
      return;
    }
    if (!endStream) return;
    if (this.grpcStatus !== "0") {
      this.finish(undefined, `gRPC status ${this.grpcStatus || "missing"}`);
      return;
    }
    const s = decodeHealthResponse(this.body);
    this.finish(s, s === undefined ? "a malformed HealthCheckResponse" : (STATUS_NAMES[s] ?? `status ${s}`));
  }

  sideData(conn: H2Connection, st: H2Stream, data: Buffer, endStream: boolean): void {
    conn.consume(st, data.length);
    // A HealthCheckResponse is a few bytes; more is not one.
    if (this.body.length + data.length <= 64) this.body = Buffer.concat([this.body, data]);
    else this.body = Buffer.alloc(1);
    if (endStream) this.finish(undefined, "the answer ended without trailers");
  }

  sideReset(_conn: H2Connection, _st: H2Stream, code: number): void {
    this.finish(undefined, code < 0 ? "connection lost" : `stream reset (HTTP/2 error ${code})`);
  }

  /** The check is over (`status` SERVING passes). */
  finish(status: number | undefined, why: string): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.release();
    this.checker.result(this, status, why);
  }

  /** The checker stopped: let go of the stream without a result. */
  abandon(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.release();
  }

  private release(): void {
    const conn = this.conn;
    const st = this.st;
    if (conn !== null && st !== null) {
      if (!st.closed) conn.resetStream(st, ErrorCode.CANCEL);
      this.checker.pool.release(conn);
    } else if (conn === null) {
      this.checker.pool.cancel(this);
    }
    this.conn = null;
    this.st = null;
  }
}
