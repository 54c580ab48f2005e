/**
 * Malformed messages (RFC 9113 sections 8.2 and 8.3): the checks on field names and values (made once per
 * literal as HPACK decodes it, so indexed fields cost nothing), and on the shape of request and response
 * header lists. A malformed request is reset with PROTOCOL_ERROR and never forwarded; a malformed response
 * ends its call with a gRPC error. Each check returns why ("" when the input is fine), for the message.
 */

/**
 * Connection-specific fields (section 8.2.2: connection, keep-alive, proxy-connection, transfer-encoding,
 * upgrade): malformed in either direction. Tested by length first, since every field of every call is
 * tested and almost none has one of these lengths.
 */
export function connectionSpecific(name: string): boolean {
  switch (name.length) {
    case 7:
      return name === "upgrade";
    case 10:
      return name === "connection" || name === "keep-alive";
    case 16:
      return name === "proxy-connection";
    case 17:
      return name === "transfer-encoding";
    default:
      return false;
  }
}

/** A decimal content-length of at most 15 digits, or -1. */
function contentLength(value: string): number {
  const n = value.length;
  if (n === 0 || n > 15) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** Why a field name is malformed (section 8.2.1), or "". */
export function nameProblem(name: string): string {
  const n = name.length;
  if (n === 0) return "an empty field name";
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    // Controls, space, uppercase and non-ASCII are refused; a colon only starts a pseudo-header.
    if (c <= 0x20 || c >= 0x7f || (c >= 0x41 && c <= 0x5a) || (c === 0x3a && i > 0)) {
      return `field name "${printable(name)}" is not lowercase token characters`;
    }
  }
  return "";
}

/** Why a field value is malformed (section 8.2.1), or "". */
export function valueProblem(name: string, value: string): string {
  const n = value.length;
  if (n === 0) return "";
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(n - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) {
    return `field ${printable(name)} has leading or trailing whitespace`;
  }
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d) return `field ${printable(name)} has a NUL, CR or LF`;
  }
  return "";
}

function printable(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s).slice(1, -1);
}

/** A request's pseudo-headers as `readRequest` found them: one object, reused, read before the next call. */
export const requestHead = {
  method: "",
  scheme: "",
  path: "",
  authority: "",
  contentLength: -1,
  /** `content-type`, "" when absent (gRPC-Web requests are told from gRPC ones by it). */
  contentType: "",
  problem: "",
};

const METHOD = 1;
const SCHEME = 2;
const PATH = 4;
const AUTHORITY = 8;

/**
 * Reads a request header list into {@link requestHead} and appends its regular fields to `up`: the
 * pseudo-headers first and once each, only the request ones, `te` only as `trailers`, no connection-specific
 * field, `:method`, `:scheme` and a non-empty `:path` present (section 8.3.1), `content-length` a number.
 */
export function readRequest(fields: readonly string[], up: string[]): void {
  const h = requestHead;
  h.method = "";
  h.scheme = "";
  h.path = "";
  h.authority = "";
  h.contentLength = -1;
  h.contentType = "";
  h.problem = "";
  let seen = 0;
  let regular = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 0x3a) {
      let bit = 0;
      if (name === ":path") {
        bit = PATH;
        h.path = value;
      } else if (name === ":authority") {
        bit = AUTHORITY;
        h.authority = value;
      } else if (name === ":method") {
        bit = METHOD;
        h.method = value;
      } else if (name === ":scheme") {
        bit = SCHEME;
        h.scheme = value;
      } else {
        h.problem = `pseudo-header ${printable(name)} is not one of a request`;
        return;
      }
      if (regular) {
        h.problem = `pseudo-header ${name} after a regular field`;
        return;
      }
      if (seen & bit) {
        h.problem = `pseudo-header ${name} twice`;
        return;
      }
      seen |= bit;
      continue;
    }
    regular = true;
    if (connectionSpecific(name)) {
      h.problem = `connection-specific field ${name}`;
      return;
    }
    if (name === "te") {
      if (value !== "trailers") {
        h.problem = `te "${printable(value)}" (only "trailers" is allowed)`;
        return;
      }
    } else if (name === "content-length") {
      const length = contentLength(value);
      if (length < 0 || (h.contentLength >= 0 && length !== h.contentLength)) {
        h.problem = `content-length "${printable(value)}"`;
        return;
      }
      h.contentLength = length;
    } else if (name === "content-type") {
      h.contentType = value;
    } else if (name === "http2-settings") {
      // Meaningful only in an HTTP/1.1 upgrade: dropped, as before.
      continue;
    }
    up.push(name, value);
  }
  if ((seen & (METHOD | SCHEME | PATH)) !== (METHOD | SCHEME | PATH)) {
    h.problem = ":method, :scheme and :path are required";
  } else if (h.path === "") {
    h.problem = "an empty :path";
  }
}

/** Why a trailer list is malformed (no pseudo-header, no connection-specific field), or "". */
export function trailersProblem(fields: readonly string[]): string {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.charCodeAt(0) === 0x3a) return `pseudo-header ${printable(name)} in trailers`;
    if (connectionSpecific(name)) return `connection-specific field ${name}`;
  }
  return "";
}

/** A response header or trailer list as `readResponse` found it: one object, reused, read at once. */
export const responseHead = {
  /** `:status` (header lists only). */
  status: "",
  /** `grpc-status`, or "" when absent. */
  grpcStatus: "",
  problem: "",
};

/**
 * Reads a backend's response header list (`head`) or trailer list in one pass: checks it (section 8.3.2: one
 * `:status`, first, no other pseudo-header; trailers: no pseudo-header; no connection-specific field), notes
 * `:status` and `grpc-status` in {@link responseHead}, and filters `fields` in place to what goes to the
 * client (`:status` and the regular fields, less `te` and `http2-settings`). The decoded list belongs to this
 * call alone, so it is reused rather than copied.
 */
export function readResponse(fields: string[], head: boolean): void {
  const h = responseHead;
  h.status = "";
  h.grpcStatus = "";
  h.problem = "";
  let status = false;
  let regular = false;
  let o = 0;
  const n = fields.length;
  for (let i = 0; i < n; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (!head) {
        h.problem = `pseudo-header ${printable(name)} in trailers`;
        return;
      }
      if (name !== ":status") {
        h.problem = `pseudo-header ${printable(name)} is not one of a response`;
        return;
      }
      if (regular) {
        h.problem = "pseudo-header :status after a regular field";
        return;
      }
      if (status) {
        h.problem = "pseudo-header :status twice";
        return;
      }
      status = true;
      h.status = value;
    } else {
      regular = true;
      const len = name.length;
      if (connectionSpecific(name)) {
        h.problem = `connection-specific field ${name}`;
        return;
      }
      if ((len === 2 && name === "te") || (len === 14 && name === "http2-settings")) continue;
      if (len === 11 && name === "grpc-status" && h.grpcStatus === "") h.grpcStatus = value;
    }
    fields[o++] = name;
    fields[o++] = value;
  }
  fields.length = o;
  if (head && !status) h.problem = "no :status";
}
