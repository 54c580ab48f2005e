/**
 * gRPC-Web and CORS preflights on HTTP/2 client connections: a request the plain path does not take
 * (`downstream.ts` asks here when its method is not POST or its content-type is gRPC-Web's) becomes a
 * gRPC-Web call behind a `WebH2Front`, or a preflight the gateway answers itself.
 */
import type { RequestHeaders } from "../router.js";
import { RelayCall } from "./call.js";
import { CONNECTION_LOST, type H2Connection, type H2Stream } from "./connection.js";
import { preflight } from "./cors.js";
import { isGrpcWebType, isTextType, upstreamFields, WebFront, type WebRequest } from "./grpc-web.js";
import { fieldValue, headerRecord } from "./headers.js";
import type { PortState, RelayListener } from "./listener.js";
import { routeCall } from "./route-call.js";
import { requestHead } from "./validate.js";

export { isGrpcWebType } from "./grpc-web.js";

const EMPTY = Buffer.alloc(0);
const NO_HEADERS: RequestHeaders = Object.freeze({});

/** The message of a gRPC-Web call on a Gateway that disables it. */
export const WEB_DISABLED =
  "gRPC-Web is disabled on this Gateway (annotation grpcroute.dev/grpc-web: disabled)";

/** A gRPC-Web call's client side on an HTTP/2 stream; the stream's `ctx`. */
export class WebH2Front extends WebFront {
  constructor(
    readonly conn: H2Connection,
    readonly st: H2Stream,
    req: WebRequest,
  ) {
    super(req);
  }

  protected sendHead(status: number, fields: string[], end: boolean): void {
    this.conn.writeHeaders(this.st, [":status", String(status), ...fields], end);
  }

  protected sendBody(data: Buffer | null, end: boolean): void {
    this.conn.writeData(this.st, data, end);
  }

  protected returnRequest(n: number): void {
    this.conn.consume(this.st, n);
  }

  /** A second header block from the client (trailers): only its END_STREAM matters here. */
  requestTrailers(endStream: boolean): void {
    if (endStream) this.requestData(EMPTY, true);
  }

  /** The client reset the stream, or the connection was lost. */
  reset(code: number): void {
    if (code === CONNECTION_LOST) {
      this.cancel("client connection lost");
      return;
    }
    const live = !this.call.done;
    this.cancel("cancelled by the client");
    if (live) this.conn.prematureReset();
  }
}

/**
 * A gRPC-Web call from its request line and regular fields (`from`, from index `start`), behind `front`:
 * routed like any call (`routeCall`), or answered 415 where the Gateway disables gRPC-Web. Shared by HTTP/2
 * and HTTP/1.1.
 */
export function startWebCall(
  l: RelayListener,
  front: WebFront,
  dst: H2Stream,
  authority: string,
  path: string,
  from: readonly string[],
  start: number,
  endStream: boolean,
): RelayCall {
  const host = l.host;
  const state: PortState = l.state;
  const up = [":method", "", ":scheme", "", ":path", "", ":authority", ""];
  upstreamFields(from, up, start);
  const call = new RelayCall(host, front, dst, authority, path);
  front.call = call;
  call.web = true;
  host.callStarted();
  call.listenerName = l.portName;
  if (endStream) front.requestData(EMPTY, true);
  const m = state.router.match(authority, path, state.matchesHeaders ? headerRecord(up) : NO_HEADERS);
  if (m.listener?.grpcWebDisabled === true) {
    call.listenerName = m.listener.name;
    call.answerDirect({ kind: "direct", httpStatus: 415, message: WEB_DISABLED });
    return call;
  }
  routeCall(call, state, m, "POST", up, up.slice());
  return call;
}

/**
 * A request on an HTTP/2 stream that is not a plain gRPC call: a gRPC-Web call or a CORS preflight is taken
 * here (true); anything else goes the plain way (false). Reads `requestHead`, as `readRequest` left it.
 */
export function startWebStream(conn: H2Connection, st: H2Stream, up: string[], endStream: boolean): boolean {
  const l = conn.owner as RelayListener;
  const method = requestHead.method;
  const path = requestHead.path;
  let authority = requestHead.authority;
  if (authority === "") authority = fieldValue(up, "host") ?? "";
  const origin = fieldValue(up, "origin") ?? "";
  if (method === "OPTIONS") {
    const asked = fieldValue(up, "access-control-request-method");
    if (origin === "" || asked === undefined) return false;
    const a = answerPreflight(l.state, authority, path, up, origin, asked);
    const end = a.message === "";
    const fields = [":status", String(a.status), ...a.headers];
    if (!end) fields.push("content-type", "text/plain; charset=utf-8");
    conn.writeHeaders(st, fields, end);
    if (!end) conn.writeData(st, Buffer.from(`${a.message}\n`), true);
    return true;
  }
  const ct = requestHead.contentType;
  if (method !== "POST" || !isGrpcWebType(ct)) return false;
  const front = new WebH2Front(conn, st, {
    text: isTextType(ct),
    origin,
    maxRequestBytes: conn.limits.grpcWebMaxRequestBytes,
  });
  st.ctx = front;
  startWebCall(l, front, st, authority, path, up, 8, endStream);
  return true;
}

/** A preflight's answer: the CORS policy of the route an actual request to `path` would take. */
export function answerPreflight(
  state: PortState,
  authority: string,
  path: string,
  fields: readonly string[],
  origin: string,
  requestMethod: string,
): ReturnType<typeof preflight> {
  const m = state.router.match(authority, path, state.matchesHeaders ? headerRecord(fields) : NO_HEADERS);
  if (m.listener?.grpcWebDisabled === true) return { status: 403, headers: [], message: WEB_DISABLED };
  return preflight(
    m.route?.policy?.cors,
    origin,
    requestMethod,
    fieldValue(fields, "access-control-request-headers") ?? "",
  );
}
