/**
 * Calls the gateway answers itself ("local" calls: reflection, JSON transcoding), and how they are served
 * over a relay client stream.
 *
 * A local handler sees its request as a `LocalCall` (request DATA as it arrives, the end, the client going
 * away) and answers through a `LocalResponse` (an HTTP status and headers, body bytes, the end with or
 * without trailers). The relay's `RelayCall` keeps one in `local`: its DATA goes there instead of to a
 * backend, and the call is reported (access log, metrics) like any other when the answer ends.
 */
import type { RelayCall } from "../relay/call.js";

/** The request side of a local call, as the handler sees it. */
export interface LocalCall {
  /** Request DATA (flow control is the caller's business: it is consumed already). */
  data(chunk: Buffer, end: boolean): void;
  /** The client reset the stream or went away: stop and drop what is pending. */
  abort(): void;
}

/** Where a local handler writes its answer. */
export interface LocalResponse {
  /** Response headers (names lowercase). */
  head(status: number, fields: readonly string[]): void;
  write(data: Buffer): void;
  /** Ends the answer: trailers (gRPC) or none; `grpcStatus` is what the call's report says. */
  end(trailers: readonly string[] | null, grpcStatus: number): void;
  /** Bytes written and not yet sent to the client (a streaming handler waits while this is large). */
  queued(): number;
  /** The client is gone or the answer ended. */
  readonly closed: boolean;
}

/** A `LocalResponse` on a relay client stream, which reports the call when it ends. */
export class RelayLocalResponse implements LocalResponse {
  constructor(private readonly call: RelayCall) {}

  get closed(): boolean {
    return this.call.done;
  }

  head(status: number, fields: readonly string[]): void {
    const c = this.call;
    if (c.done) return;
    c.dconn.writeHeaders(c.dst, [":status", String(status), ...fields], false);
    c.respStarted = true;
    c.httpStatus = status;
  }

  write(data: Buffer): void {
    const c = this.call;
    if (c.done || data.length === 0) return;
    c.responseBytes += data.length;
    c.dconn.writeData(c.dst, data, false);
  }

  end(trailers: readonly string[] | null, grpcStatus: number): void {
    const c = this.call;
    if (c.done) return;
    if (trailers !== null) c.dconn.writeHeaders(c.dst, [...trailers], true);
    else c.dconn.writeData(c.dst, null, true);
    c.finish(grpcStatus);
  }

  queued(): number {
    return this.call.done ? 0 : (this.call.dconn.queuedBytes?.(this.call.dst) ?? 0);
  }
}

/** Response fields of a gRPC answer's headers. */
export const GRPC_RESPONSE_HEADERS: readonly string[] = ["content-type", "application/grpc"];
