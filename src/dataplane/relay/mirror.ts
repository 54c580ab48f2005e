/**
 * RequestMirror: a copy of a call's request sent to another backend, whose answer is read and dropped. A
 * mirror never delays or fails the call it copies: one that falls behind is abandoned.
 */
import type { IrMirror, RoutingTable } from "../../ir/routing-table.js";
import type { CallHost, RelayCall } from "./call.js";
import type { H2Connection, H2Stream } from "./connection.js";
import { ErrorCode } from "./frames.js";
import type { PoolWaiter, UpstreamPool } from "./upstream.js";

/**
 * A stream the relay opens on a backend connection for itself rather than for a client's call (a mirror copy,
 * a health check): the backend's frames on it go here.
 */
export interface SideStream {
  sideHeaders(conn: H2Connection, st: H2Stream, fields: string[], endStream: boolean): void;
  sideData(conn: H2Connection, st: H2Stream, data: Buffer, endStream: boolean): void;
  sideReset(conn: H2Connection, st: H2Stream, code: number): void;
}

/** A mirror copy that falls this far behind is dropped rather than buffered or allowed to slow the call. */
const MIRROR_BACKLOG_LIMIT = 1 << 20;

/** A mirrored copy of a call's request; its answer is read and dropped. */
export class MirrorStream implements PoolWaiter, SideStream {
  uconn: H2Connection | null = null;
  ust: H2Stream | null = null;
  queue: Buffer[] = [];
  queued = 0;
  reqEnded = false;
  dead = false;
  constructor(
    readonly pool: UpstreamPool,
    readonly fields: string[],
  ) {}

  bind(conn: H2Connection): void {
    if (this.dead) return;
    this.uconn = conn;
    const endNow = this.reqEnded && this.queue.length === 0;
    this.ust = conn.openStream(this.fields, endNow, this);
    if (endNow) return;
    for (const b of this.queue) conn.writeData(this.ust, b, false);
    this.queue = [];
    if (this.reqEnded) conn.writeData(this.ust, null, true);
  }

  connectFailed(): void {
    this.dead = true;
  }

  /** A piece of the call's request (`end`: its last). */
  write(data: Buffer, end: boolean): void {
    if (this.dead) return;
    if (end) this.reqEnded = true;
    if (this.ust !== null && this.uconn !== null) {
      if (this.uconn.queuedBytes(this.ust) > MIRROR_BACKLOG_LIMIT) {
        this.abandon();
        return;
      }
      this.uconn.writeData(this.ust, data, end);
      return;
    }
    this.queued += data.length;
    if (this.queued > MIRROR_BACKLOG_LIMIT) {
      this.abandon();
      return;
    }
    if (data.length > 0) this.queue.push(data);
  }

  /** Gives the copy up (the call ended first, or the copy fell behind). */
  abandon(): void {
    if (this.dead) return;
    this.dead = true;
    this.queue = [];
    if (this.uconn !== null && this.ust !== null) {
      this.uconn.resetStream(this.ust, ErrorCode.CANCEL);
      this.pool.release(this.uconn);
    } else {
      this.pool.cancel(this);
    }
  }

  sideHeaders(_conn: H2Connection, _st: H2Stream, _fields: string[], endStream: boolean): void {
    if (endStream) this.ended();
  }

  sideData(conn: H2Connection, st: H2Stream, data: Buffer, endStream: boolean): void {
    conn.consume(st, data.length);
    if (endStream) this.ended();
  }

  sideReset(): void {
    this.ended();
  }

  /** The mirror backend's answer is complete (or its stream went away). */
  ended(): void {
    this.dead = true;
    if (this.uconn !== null) this.pool.release(this.uconn);
  }
}

/** Starts the mirrors of a call's route that its sampling fraction selects. */
export function startMirrors(
  host: CallHost,
  call: RelayCall,
  mirrors: readonly IrMirror[],
  table: RoutingTable,
  fields: string[],
): void {
  for (const m of mirrors) {
    if (m.numerator <= 0 || Math.random() * m.denominator >= m.numerator) continue;
    const cluster = table.clusters[m.cluster];
    if (cluster === undefined || cluster.endpoints.length === 0) continue;
    const pool = host.pickPool(cluster, undefined);
    if (pool === undefined) continue;
    const mf = fields.slice();
    mf[3] = cluster.tls ? "https" : "http";
    const ms = new MirrorStream(pool, mf);
    ms.reqEnded = call.reqEnded;
    call.mirrors ??= [];
    call.mirrors.push(ms);
    pool.acquire(ms);
  }
}
