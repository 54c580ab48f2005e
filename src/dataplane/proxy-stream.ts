/**
 * One proxied call: from the client's HTTP/2 stream to an upstream stream and back, without decoding
 * protobuf or holding whole messages. DATA is forwarded chunk by chunk with backpressure both ways (a slow
 * reader pauses the other side, so memory stays bounded by the flow-control windows); response headers,
 * trailers and trailers-only answers are forwarded as such; `grpc-timeout` is forwarded and enforced; a reset
 * on either side cancels the other; upstream failures become the right gRPC status.
 *
 * Hot path: stream events go to module-level named handlers that find their call through a symbol; the only
 * per-call closure is the upstream request callback. Nothing is logged here: `onCallEnd` reports each call.
 */
import {
  type ClientHttp2Stream,
  constants as h2,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import type { IrDirect, IrRoute } from "../ir/routing-table.js";
import {
  encodeGrpcMessage,
  GrpcCode,
  grpcCodeFromError,
  grpcCodeFromHttpStatus,
  grpcCodeFromRstCode,
  HEADER_GRPC_MESSAGE,
  HEADER_GRPC_STATUS,
  HEADER_GRPC_TIMEOUT,
  parseGrpcTimeout,
  writeHttpStatus,
  writeTrailersOnly,
} from "./grpc-status.js";
import {
  applyHeaderModifier,
  downstreamResponseHeaders,
  forwardTrailers,
  upstreamRequestHeaders,
} from "./headers.js";
import type { RouteMatch } from "./router.js";
import {
  type BackendPlan,
  type ForwardPlan,
  type MirrorPlan,
  pickBackend,
  type TableRuntime,
} from "./runtime.js";
import { trace } from "./trace.js";
import type { CallInfo } from "./types.js";
import type { EndpointState } from "./upstream/cluster.js";

/** Request bytes kept so a stream the upstream refused (GOAWAY, REFUSED_STREAM) can be sent again. */
const REPLAY_LIMIT = 64 * 1024;
/** Bytes a mirror may have queued before it is dropped: a mirror never slows the main call. */
const MIRROR_LIMIT = 1024 * 1024;

const kCall = Symbol("grpcroute.call");

/** What a call needs from the data plane that runs it. */
export interface CallHost {
  /** Called once when a call starts. */
  callStarted(): void;
  /** Called once when a call ends. */
  callEnded(call: ProxyCall): void;
}

type StreamWithCall = { [kCall]?: ProxyCall };

function callOf(s: ServerHttp2Stream | ClientHttp2Stream): ProxyCall | undefined {
  return (s as unknown as StreamWithCall)[kCall];
}

/** A copy of the request sent to a mirror backend; its answer is discarded. */
class MirrorStream {
  stream: ClientHttp2Stream | undefined;
  pending: Buffer[] | undefined = [];
  pendingBytes = 0;
  ended = false;
  dead = false;

  write(chunk: Buffer): void {
    if (this.dead) return;
    const s = this.stream;
    if (s === undefined) {
      this.pendingBytes += chunk.length;
      if (this.pendingBytes > MIRROR_LIMIT) this.drop();
      else this.pending?.push(chunk);
      return;
    }
    if (s.writableLength > MIRROR_LIMIT) {
      this.drop();
      return;
    }
    s.write(chunk);
  }

  end(): void {
    this.ended = true;
    if (!this.dead && this.stream !== undefined) this.stream.end();
  }

  drop(): void {
    this.dead = true;
    this.pending = undefined;
    const s = this.stream;
    if (s !== undefined && !s.closed) s.close(h2.NGHTTP2_CANCEL);
  }

  attach(s: ClientHttp2Stream): void {
    this.stream = s;
    s.on("error", ignore);
    s.on("response", ignore);
    // Discard the answer.
    s.resume();
    if (this.dead) {
      s.close(h2.NGHTTP2_CANCEL);
      return;
    }
    const pending = this.pending ?? [];
    this.pending = undefined;
    for (const c of pending) s.write(c);
    if (this.ended) s.end();
  }
}

function ignore(): void {}

/** State of one call. Created per client stream; finished exactly once (`onCallEnd`). */
export class ProxyCall {
  readonly startedAt = performance.now();
  upstream: ClientHttp2Stream | undefined;
  backend: BackendPlan | undefined;
  endpoint: EndpointState | undefined;
  /** Status to send as trailers when the response ends (from upstream, or gateway-made). */
  trailers: OutgoingHttpHeaders | undefined;
  grpcStatus = -1;
  httpStatus = 0;
  gatewayError: string | undefined;
  requestBytes = 0;
  responseBytes = 0;
  /** The client's request body ended. */
  requestEnded = false;
  /** Upstream response headers arrived. */
  responded = false;
  /** The upstream stream ended normally (END_STREAM received). */
  upstreamEnded = false;
  /** We wrote the whole answer to the client (or reset it ourselves). */
  answered = false;
  finished = false;
  connectRetried = false;
  refusedRetried = false;
  listening = false;
  replay: Buffer[] | undefined = [];
  replayBytes = 0;
  deadline: NodeJS.Timeout | undefined;
  timeoutMs: number | undefined;
  mirrors: MirrorStream[] | undefined;
  upHeaders: OutgoingHttpHeaders | undefined;
  upstreamError: Error | undefined;

  constructor(
    readonly host: CallHost,
    readonly client: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
    readonly runtime: TableRuntime,
    readonly match: RouteMatch,
    readonly listenerName: string,
    readonly authority: string,
    readonly path: string,
  ) {
    (client as unknown as StreamWithCall)[kCall] = this;
  }

  get route(): IrRoute | undefined {
    return this.match.route;
  }

  /** Plain data for `onCallEnd`. */
  info(): CallInfo {
    const info: CallInfo = {
      listener: this.listenerName,
      authority: this.authority,
      path: this.path,
      grpcStatus: this.grpcStatus,
      httpStatus: this.httpStatus,
      durationMs: performance.now() - this.startedAt,
      requestBytes: this.requestBytes,
      responseBytes: this.responseBytes,
    };
    const l = this.match.listener;
    if (l !== undefined) info.gateway = `${l.gateway.namespace}/${l.gateway.name}`;
    if (this.match.route !== undefined) info.route = this.match.route.name;
    if (this.backend?.cluster !== undefined) info.backend = this.backend.cluster.name;
    if (this.endpoint !== undefined) info.endpoint = this.endpoint.address;
    if (this.gatewayError !== undefined) info.gatewayError = this.gatewayError;
    return info;
  }
}

/** Starts a call on a client stream the router already matched. */
export function startCall(call: ProxyCall): void {
  const client = call.client;
  call.host.callStarted();
  client.on("error", ignore);
  client.on("close", onClientClose);
  const action = call.match.action;
  if (action.kind === "direct") {
    answerDirect(call, action, call.match.route === undefined ? noRouteDetail(call) : "");
    return;
  }
  const plan = call.runtime.forwards.get(action);
  if (plan === undefined || plan.total === 0 || plan.backends.length === 0) {
    answerDirect(call, plan?.allZero ?? allZero(call.match.route), "");
    return;
  }
  const backend = pickBackend(plan) as BackendPlan;
  call.backend = backend;
  if (backend.direct !== undefined || backend.cluster === undefined) {
    answerDirect(call, backend.direct ?? allZero(call.match.route), "");
    return;
  }
  const timeout = parseGrpcTimeout(headerString(call.headers[HEADER_GRPC_TIMEOUT]));
  if (timeout !== undefined) {
    call.timeoutMs = timeout;
    call.deadline = setTimeout(onDeadline, timeout, call);
    call.deadline.unref();
  }
  const up = upstreamRequestHeaders(
    call.headers,
    headerString(call.headers[":method"]) ?? "POST",
    call.path,
    call.authority,
    backend.cluster.ir.tls,
  );
  for (const m of backend.requestHeaders) applyHeaderModifier(up, m);
  call.upHeaders = up;
  if (plan.mirrors.length > 0) startMirrors(call, plan);
  const endpoint = backend.cluster.pick();
  if (endpoint === undefined) {
    fail(call, GrpcCode.UNAVAILABLE, `no ready endpoint for backend ${backend.cluster.name}`);
    return;
  }
  connectUpstream(call, endpoint);
}

function allZero(route: IrRoute | undefined): IrDirect {
  return {
    kind: "direct",
    grpcStatus: GrpcCode.UNAVAILABLE,
    message: `no backend can take the call${route ? ` (route ${route.name})` : ""}`,
  };
}

function noRouteDetail(call: ProxyCall): string {
  return ` (${call.match.listener === undefined ? "host" : "path"} ${call.match.listener === undefined ? JSON.stringify(call.authority) : JSON.stringify(call.path)})`;
}

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Answers with a gateway-made response and discards whatever the client still sends. */
function answerDirect(call: ProxyCall, d: IrDirect, detail: string): void {
  const message = detail === "" ? d.message : `${d.message}${detail}`;
  call.gatewayError = message;
  call.answered = true;
  if (d.httpStatus !== undefined) {
    call.httpStatus = d.httpStatus;
    call.grpcStatus = grpcCodeFromHttpStatus(d.httpStatus);
    writeHttpStatus(call.client, d.httpStatus, message);
  } else {
    call.httpStatus = 200;
    call.grpcStatus = d.grpcStatus ?? GrpcCode.UNAVAILABLE;
    writeTrailersOnly(call.client, call.grpcStatus, message);
  }
  call.client.resume();
}

/**
 * Ends the call with a gateway-made status: trailers-only when nothing was answered yet, else as trailers
 * after the data already sent; cancels the upstream stream and mirrors.
 */
function fail(call: ProxyCall, code: number, message: string): void {
  if (call.answered) return;
  if (trace.enabled) trace("call %s %s: gateway answers %d: %s", call.authority, call.path, code, message);
  call.answered = true;
  call.gatewayError = message;
  call.grpcStatus = code;
  const client = call.client;
  if (!client.headersSent) {
    call.httpStatus = 200;
    writeTrailersOnly(client, code, message);
  } else if (!client.writableEnded && !client.destroyed) {
    const t: OutgoingHttpHeaders = { [HEADER_GRPC_STATUS]: String(code) };
    if (message !== "") t[HEADER_GRPC_MESSAGE] = encodeGrpcMessage(message);
    call.trailers = t;
    client.end();
  } else if (!client.closed) {
    client.close(h2.NGHTTP2_CANCEL);
  }
  client.resume();
  cancelUpstream(call);
  dropMirrors(call);
}

function cancelUpstream(call: ProxyCall): void {
  const up = call.upstream;
  if (up !== undefined && !up.closed && !up.destroyed) {
    try {
      up.close(h2.NGHTTP2_CANCEL);
    } catch {
      up.destroy();
    }
  }
}

function onDeadline(call: ProxyCall): void {
  call.deadline = undefined;
  fail(call, GrpcCode.DEADLINE_EXCEEDED, `deadline exceeded (grpc-timeout ${call.timeoutMs} ms)`);
}

function connectUpstream(call: ProxyCall, endpoint: EndpointState): void {
  call.endpoint = endpoint;
  endpoint.inflight++;
  endpoint.pool.request(call.upHeaders as OutgoingHttpHeaders, (err, stream) =>
    onUpstreamStream(call, endpoint, err, stream),
  );
}

function releaseEndpoint(call: ProxyCall, endpoint: EndpointState): void {
  if (call.endpoint === endpoint) endpoint.inflight--;
}

function onUpstreamStream(
  call: ProxyCall,
  endpoint: EndpointState,
  err: Error | undefined,
  up: ClientHttp2Stream | undefined,
): void {
  if (call.answered || call.finished) {
    if (up !== undefined && !up.closed) up.close(h2.NGHTTP2_CANCEL);
    return;
  }
  if (err !== undefined && (err as { requestRejected?: boolean }).requestRejected === true) {
    fail(call, GrpcCode.INTERNAL, `cannot forward the request headers: ${err.message}`);
    return;
  }
  if (err !== undefined || up === undefined) {
    endpoint.recordFailure(Date.now());
    // A call whose connection could not be opened sent nothing yet: try one other endpoint.
    if (!call.connectRetried && call.backend?.cluster !== undefined) {
      call.connectRetried = true;
      const other = call.backend.cluster.pick(endpoint);
      if (other !== undefined) {
        releaseEndpoint(call, endpoint);
        connectUpstream(call, other);
        return;
      }
    }
    fail(
      call,
      GrpcCode.UNAVAILABLE,
      `cannot connect to upstream ${endpoint.address}: ${err?.message ?? "no stream"}`,
    );
    return;
  }
  call.upstream = up;
  (up as unknown as StreamWithCall)[kCall] = call;
  up.on("response", onUpstreamResponse);
  up.on("trailers", onUpstreamTrailers);
  up.on("data", onUpstreamData);
  up.on("end", onUpstreamEnd);
  up.on("error", onUpstreamError);
  up.on("close", onUpstreamClose);
  up.on("drain", onUpstreamDrain);
  // A stream sent again after a refusal replays what the first one carried.
  if (call.replay !== undefined && call.replay.length > 0) {
    for (const c of call.replay) up.write(c);
  }
  const client = call.client;
  if (!call.listening) {
    call.listening = true;
    client.on("data", onClientData);
    client.on("end", onClientEnd);
    client.on("drain", onClientDrain);
  } else if (client.isPaused()) {
    client.resume();
  }
  if (call.requestEnded) up.end();
}

// ---------------------------------------------------------------------------------------------------------------
// Request direction: client -> upstream.

function onClientData(this: ServerHttp2Stream, chunk: Buffer): void {
  const call = callOf(this);
  if (call === undefined || call.answered) return;
  call.requestBytes += chunk.length;
  const mirrors = call.mirrors;
  if (mirrors !== undefined) for (const m of mirrors) m.write(chunk);
  if (call.replay !== undefined) {
    call.replayBytes += chunk.length;
    if (call.replayBytes > REPLAY_LIMIT) call.replay = undefined;
    else call.replay.push(chunk);
  }
  const up = call.upstream;
  if (up === undefined || up.destroyed) return;
  if (!up.write(chunk)) this.pause();
}

function onUpstreamDrain(this: ClientHttp2Stream): void {
  const call = callOf(this);
  if (call !== undefined && !call.answered) call.client.resume();
}

function onClientEnd(this: ServerHttp2Stream): void {
  const call = callOf(this);
  if (call === undefined) return;
  call.requestEnded = true;
  if (call.mirrors !== undefined) for (const m of call.mirrors) m.end();
  const up = call.upstream;
  if (up !== undefined && !up.destroyed && !call.answered) up.end();
}

// ---------------------------------------------------------------------------------------------------------------
// Response direction: upstream -> client.

function onUpstreamResponse(this: ClientHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
  const call = callOf(this);
  if (call === undefined || call.answered) return;
  call.responded = true;
  call.replay = undefined;
  call.endpoint?.recordSuccess();
  const status = Number(headers[":status"]);
  const client = call.client;
  if (status !== 200) {
    fail(call, grpcCodeFromHttpStatus(status), `upstream answered HTTP ${status}, not gRPC`);
    return;
  }
  const ct = headerString(headers["content-type"]);
  // A grpc-status header makes it a gRPC answer even when a lax server left out the content type.
  if ((ct === undefined || !ct.startsWith("application/grpc")) && headers[HEADER_GRPC_STATUS] === undefined) {
    fail(call, GrpcCode.UNKNOWN, `upstream answered content-type ${ct ?? "(none)"}, not gRPC`);
    return;
  }
  const out = downstreamResponseHeaders(headers);
  const backend = call.backend;
  if (backend !== undefined) for (const m of backend.responseHeaders) applyHeaderModifier(out, m);
  call.httpStatus = 200;
  if (flags & h2.NGHTTP2_FLAG_END_STREAM) {
    // Trailers-only answer: the status is in these headers.
    call.grpcStatus = Number(headerString(headers[HEADER_GRPC_STATUS]) ?? GrpcCode.UNKNOWN);
    call.answered = true;
    try {
      client.respond(out, { endStream: true });
    } catch {
      client.destroy();
    }
    return;
  }
  try {
    client.respond(out, { waitForTrailers: true });
    client.on("wantTrailers", onClientWantTrailers);
  } catch {
    fail(call, GrpcCode.INTERNAL, "cannot forward the upstream response headers");
  }
}

function onUpstreamData(this: ClientHttp2Stream, chunk: Buffer): void {
  const call = callOf(this);
  if (call === undefined || call.answered) return;
  call.responseBytes += chunk.length;
  const client = call.client;
  if (client.destroyed || client.writableEnded) return;
  if (!client.write(chunk)) this.pause();
}

function onClientDrain(this: ServerHttp2Stream): void {
  const call = callOf(this);
  const up = call?.upstream;
  if (up !== undefined && !up.destroyed) up.resume();
}

function onUpstreamTrailers(this: ClientHttp2Stream, headers: IncomingHttpHeaders): void {
  const call = callOf(this);
  if (call === undefined || call.answered) return;
  call.trailers = forwardTrailers(headers);
  call.grpcStatus = Number(headerString(headers[HEADER_GRPC_STATUS]) ?? GrpcCode.UNKNOWN);
}

function onUpstreamEnd(this: ClientHttp2Stream): void {
  const call = callOf(this);
  if (call === undefined) return;
  call.upstreamEnded = true;
  if (call.answered) return;
  const client = call.client;
  if (!client.headersSent) return;
  if (call.trailers === undefined) {
    call.grpcStatus = GrpcCode.INTERNAL;
    call.gatewayError = "upstream ended the stream without a gRPC status";
    call.trailers = {
      [HEADER_GRPC_STATUS]: String(GrpcCode.INTERNAL),
      [HEADER_GRPC_MESSAGE]: encodeGrpcMessage(call.gatewayError),
    };
  }
  call.answered = true;
  if (!client.destroyed && !client.writableEnded) client.end();
}

function onClientWantTrailers(this: ServerHttp2Stream): void {
  const call = callOf(this);
  const t = call?.trailers ?? { [HEADER_GRPC_STATUS]: String(GrpcCode.INTERNAL) };
  try {
    this.sendTrailers(t);
  } catch {
    this.destroy();
  }
}

function onUpstreamError(this: ClientHttp2Stream, err: Error): void {
  const call = callOf(this);
  if (call !== undefined) call.upstreamError ??= err;
}

function onUpstreamClose(this: ClientHttp2Stream): void {
  const call = callOf(this);
  if (call === undefined || call.upstream !== this) return;
  if (call.answered || call.finished) return;
  if (call.upstreamEnded) return;
  const rst = this.rstCode ?? h2.NGHTTP2_NO_ERROR;
  const err = call.upstreamError;
  call.upstreamError = undefined;
  // The peer never processed the stream (GOAWAY above its last stream id, or REFUSED_STREAM): send it
  // again, once, when what was sent is still held.
  if (
    rst === h2.NGHTTP2_REFUSED_STREAM &&
    !call.responded &&
    call.replay !== undefined &&
    !call.refusedRetried
  ) {
    call.refusedRetried = true;
    call.upstream = undefined;
    const endpoint = call.endpoint;
    const cluster = call.backend?.cluster;
    const next = cluster?.pick() ?? endpoint;
    if (next !== undefined) {
      if (endpoint !== undefined) releaseEndpoint(call, endpoint);
      call.client.pause();
      connectUpstream(call, next);
      return;
    }
  }
  const session = this.session;
  const lost = session === undefined || session.destroyed || session.closed;
  if (lost && call.endpoint !== undefined && !call.responded) call.endpoint.recordFailure(Date.now());
  const code = err !== undefined ? grpcCodeFromError(err) : grpcCodeFromRstCode(rst, lost);
  const why = lost
    ? `upstream connection to ${call.endpoint?.address ?? "?"} lost${err ? `: ${err.message}` : ""}`
    : `upstream reset the stream (RST_STREAM code ${rst})`;
  fail(call, code === GrpcCode.CANCELLED && lost ? GrpcCode.UNAVAILABLE : code, why);
}

// ---------------------------------------------------------------------------------------------------------------
// End of the call.

function onClientClose(this: ServerHttp2Stream): void {
  const call = callOf(this);
  if (call === undefined || call.finished) return;
  call.finished = true;
  if (call.deadline !== undefined) clearTimeout(call.deadline);
  if (!call.answered) {
    // The client went away (RST_STREAM or lost connection): cancel upstream.
    call.answered = true;
    call.grpcStatus = GrpcCode.CANCELLED;
    call.gatewayError = "client cancelled the call";
    cancelUpstream(call);
  }
  if (!call.requestEnded) dropMirrors(call);
  if (call.endpoint !== undefined) call.endpoint.inflight--;
  if (call.grpcStatus < 0) call.grpcStatus = GrpcCode.UNKNOWN;
  call.host.callEnded(call);
}

// ---------------------------------------------------------------------------------------------------------------
// Mirrors: fire-and-forget copies that never delay or fail the main call.

function startMirrors(call: ProxyCall, plan: ForwardPlan): void {
  for (const m of plan.mirrors) {
    if (!sampled(m)) continue;
    const endpoint = m.cluster.pick();
    if (endpoint === undefined) continue;
    const ms = new MirrorStream();
    if (call.mirrors === undefined) call.mirrors = [ms];
    else call.mirrors.push(ms);
    const headers = upstreamRequestHeaders(
      call.headers,
      headerString(call.headers[":method"]) ?? "POST",
      call.path,
      call.authority,
      m.cluster.ir.tls,
    );
    endpoint.pool.request(headers, (err, s) => {
      if (err !== undefined || s === undefined) {
        ms.dead = true;
        ms.pending = undefined;
        return;
      }
      ms.attach(s);
    });
  }
}

function sampled(m: MirrorPlan): boolean {
  return m.numerator >= m.denominator || Math.random() * m.denominator < m.numerator;
}

function dropMirrors(call: ProxyCall): void {
  if (call.mirrors === undefined) return;
  for (const m of call.mirrors) if (!m.ended) m.drop();
}
