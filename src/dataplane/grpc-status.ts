/**
 * Every mapping between HTTP/2, Node and gRPC status lives here, with the writer for gateway-made
 * (trailers-only) answers and the `grpc-timeout` / `grpc-message` codecs. Shared with the frame-level relay,
 * so the exports are stable.
 */
import { constants as h2, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { GRPC_STATUS_NAMES } from "../api/schema/traffic-policy.js";

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** gRPC status code names, indexed by code (the gRPC status code table; kept with the schema that reads them). */
export const GRPC_CODE_NAMES: readonly string[] = GRPC_STATUS_NAMES;

/** The name of a gRPC status code, or the number as text for codes outside the table. */
export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? String(code);
}

/** Wire names of the headers the data plane reads or writes. */
export const HEADER_GRPC_STATUS = "grpc-status";
export const HEADER_GRPC_MESSAGE = "grpc-message";
export const HEADER_GRPC_TIMEOUT = "grpc-timeout";
export const HEADER_CONTENT_TYPE = "content-type";
export const HEADER_TE = "te";
/** Content type of gateway-made gRPC answers. */
export const GRPC_CONTENT_TYPE = "application/grpc";

/**
 * HTTP status of a non-gRPC upstream answer -> gRPC code, per gRPC's "HTTP to gRPC Status Code Mapping"
 * (doc/http-grpc-status-mapping.md): 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
 * 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE, anything else UNKNOWN.
 */
export function grpcCodeFromHttpStatus(status: number): number {
  switch (status) {
    case 400:
      return GrpcCode.INTERNAL;
    case 401:
      return GrpcCode.UNAUTHENTICATED;
    case 403:
      return GrpcCode.PERMISSION_DENIED;
    case 404:
      return GrpcCode.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcCode.UNAVAILABLE;
    default:
      return GrpcCode.UNKNOWN;
  }
}

/**
 * RST_STREAM error code received from a peer -> gRPC code (gRPC's PROTOCOL-HTTP2 "Errors" table, as grpc-js
 * applies it). `connectionLost`: Node synthesizes a CANCEL code when the connection drops, which is
 * UNAVAILABLE rather than CANCELLED.
 */
export function grpcCodeFromRstCode(code: number, connectionLost = false): number {
  switch (code) {
    case h2.NGHTTP2_REFUSED_STREAM:
      return GrpcCode.UNAVAILABLE;
    case h2.NGHTTP2_CANCEL:
      return connectionLost ? GrpcCode.UNAVAILABLE : GrpcCode.CANCELLED;
    case h2.NGHTTP2_ENHANCE_YOUR_CALM:
      return GrpcCode.RESOURCE_EXHAUSTED;
    case h2.NGHTTP2_INADEQUATE_SECURITY:
      return GrpcCode.PERMISSION_DENIED;
    default:
      // NO_ERROR before trailers, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, ...
      return GrpcCode.INTERNAL;
  }
}

/** Node error codes of a connection that could not be made or was lost: the upstream is unavailable. */
const UNAVAILABLE_NODE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENETDOWN",
  "EPIPE",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_HTTP2_PING_CANCEL",
  "ERR_HTTP2_SOCKET_UNBOUND",
  "ERR_HTTP2_STREAM_CANCEL",
  "ERR_SOCKET_CLOSED",
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_HAS_EXPIRED",
]);

/**
 * A Node error on the upstream side -> gRPC code, walking the `cause` chain (connect-node's habit):
 * connection failures are UNAVAILABLE; a stream error carries its RST code; anything else is UNKNOWN.
 */
export function grpcCodeFromError(err: unknown): number {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined) {
      if (UNAVAILABLE_NODE_CODES.has(code)) return GrpcCode.UNAVAILABLE;
      if (code === "ERR_HTTP2_STREAM_ERROR") {
        const m = /NGHTTP2_([A-Z_]+)/.exec(e.message);
        const rst = m ? (h2 as unknown as Record<string, number>)[`NGHTTP2_${m[1]}`] : undefined;
        return rst === undefined ? GrpcCode.INTERNAL : grpcCodeFromRstCode(rst);
      }
    }
    e = e.cause;
  }
  return GrpcCode.UNKNOWN;
}

/**
 * gRPC code -> RST_STREAM code to send to a peer when the gateway ends its stream: CANCEL for everything
 * except a resource limit (ENHANCE_YOUR_CALM) and a refused stream (REFUSED_STREAM for UNAVAILABLE is not
 * used: the peer may have seen the stream).
 */
export function rstCodeFromGrpcCode(code: number): number {
  return code === GrpcCode.RESOURCE_EXHAUSTED ? h2.NGHTTP2_ENHANCE_YOUR_CALM : h2.NGHTTP2_CANCEL;
}

// ---------------------------------------------------------------------------------------------------------------
// grpc-message: percent-encoding of every byte outside printable ASCII, and '%' itself (PROTOCOL-HTTP2).

/** Percent-encodes a status message for the `grpc-message` header. */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte < 0x20 || byte > 0x7e || byte === 0x25
        ? `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
        : String.fromCharCode(byte);
  }
  return out;
}

/** Decodes a `grpc-message` value; malformed escapes are kept as they are. */
export function decodeGrpcMessage(value: string): string {
  if (!value.includes("%")) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c & 0xff);
  }
  return Buffer.from(bytes).toString("utf8");
}

// ---------------------------------------------------------------------------------------------------------------
// grpc-timeout: "TimeoutValue TimeoutUnit", at most 8 digits, units H M S m u n (PROTOCOL-HTTP2).

const TIMEOUT_UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/** Parses a `grpc-timeout` header into milliseconds; undefined when absent or malformed (then ignored). */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined || value.length < 2 || value.length > 9) return undefined;
  const unit = TIMEOUT_UNIT_MS[value[value.length - 1] as string];
  if (unit === undefined) return undefined;
  const digits = value.slice(0, -1);
  if (!/^\d+$/.test(digits)) return undefined;
  return Number(digits) * unit;
}

/** Formats milliseconds as a `grpc-timeout` value (at most 8 digits, the finest unit that fits). */
export function formatGrpcTimeout(ms: number): string {
  const v = Math.max(0, Math.ceil(ms));
  if (v < 1e8) return `${v}m`;
  const s = Math.ceil(v / 1000);
  if (s < 1e8) return `${s}S`;
  return `${Math.min(99_999_999, Math.ceil(s / 60))}M`;
}

// ---------------------------------------------------------------------------------------------------------------
// Gateway-made answers.

/**
 * Headers of a trailers-only gRPC response: HTTP 200, gRPC content type, `grpc-status` and a percent-encoded
 * `grpc-message`, all in one HEADERS frame with END_STREAM.
 */
export function trailersOnlyHeaders(code: number, message: string): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    ":status": 200,
    [HEADER_CONTENT_TYPE]: GRPC_CONTENT_TYPE,
    [HEADER_GRPC_STATUS]: String(code),
  };
  if (message !== "") headers[HEADER_GRPC_MESSAGE] = encodeGrpcMessage(message);
  return headers;
}

/**
 * Ends `stream` with a gateway-made gRPC status as a trailers-only response. When response headers were
 * already sent (the caller owns sending trailers then) the stream is reset instead; when it is already closed,
 * nothing happens. Never throws.
 */
export function writeTrailersOnly(stream: ServerHttp2Stream, code: number, message: string): void {
  if (stream.destroyed || stream.closed) return;
  try {
    if (!stream.headersSent) stream.respond(trailersOnlyHeaders(code, message), { endStream: true });
    else stream.close(rstCodeFromGrpcCode(code));
  } catch {
    stream.destroy();
  }
}

/** Answers `stream` with a plain HTTP status and no gRPC status (the Lattice profile's fixed 404 / 500). */
export function writeHttpStatus(stream: ServerHttp2Stream, status: number, message: string): void {
  if (stream.destroyed || stream.closed) return;
  try {
    if (stream.headersSent) {
      stream.close(h2.NGHTTP2_CANCEL);
      return;
    }
    stream.respond({ ":status": status, "content-type": "text/plain; charset=utf-8" });
    stream.end(message === "" ? undefined : `${message}\n`);
  } catch {
    stream.destroy();
  }
}
