/**
 * Malformed messages (RFC 9113 sections 8.2 and 8.3): the checks on field names and values (made once per
 * literal as HPACK decodes it, so indexed fields cost nothing), and on the shape of request and response
 * header lists. A malformed request is reset with PROTOCOL_ERROR and never forwarded; a malformed response
 * ends its call with a gRPC error. Each check returns why ("" when the input is fine), for the message.
 */

/** Connection-specific fields (section 8.2.2): malformed in either direction. */
const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

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
    if (CONNECTION_SPECIFIC.has(name)) {
      h.problem = `connection-specific field ${name}`;
      return;
    }
    if (name === "te") {
      if (value !== "trailers") {
        h.problem = `te "${printable(value)}" (only "trailers" is allowed)`;
        return;
      }
    } else if (name === "content-length") {
      if (!/^\d{1,15}$/.test(value) || (h.contentLength >= 0 && Number(value) !== h.contentLength)) {
        h.problem = `content-length "${printable(value)}"`;
        return;
      }
      h.contentLength = Number(value);
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
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
  }
  return "";
}

/**
 * Why a response's header list is malformed (section 8.3.2: one `:status`, first; no other pseudo-header; no
 * connection-specific field), or "".
 */
export function responseProblem(fields: readonly string[]): string {
  let status = false;
  let regular = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (name !== ":status") return `pseudo-header ${printable(name)} is not one of a response`;
      if (regular) return "pseudo-header :status after a regular field";
      if (status) return "pseudo-header :status twice";
      status = true;
      continue;
    }
    regular = true;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
  }
  return status ? "" : "no :status";
}
