/**
 * Header handling on the proxy path: what is forwarded upstream and back (hop-by-hop headers dropped,
 * `te: trailers` kept, nothing added that users would not expect) and the Gateway API header modifiers.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";
import type { IrHeaderModifier } from "../ir/routing-table.js";

/**
 * Connection-specific headers (RFC 9113 section 8.2.2) never cross the proxy; HTTP/2 forbids most of them,
 * and `host` is carried as `:authority`.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
  "host",
]);

/** Is this header dropped when forwarding? (`te` is kept only as `trailers`, which gRPC requires.) */
export function isHopByHop(name: string, value: unknown): boolean {
  if (HOP_BY_HOP.has(name)) return true;
  return name === "te" && value !== "trailers";
}

/**
 * The headers sent upstream for a request: pseudo-headers rebuilt (`:scheme` of the upstream, `:authority` of
 * the call as the client sent it, since Gateway API forwards the original host), then every regular header
 * except hop-by-hop ones.
 */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  method: string,
  path: string,
  authority: string,
  tls: boolean,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ":method": method,
    ":scheme": tls ? "https" : "http",
    ":path": path,
    ":authority": authority,
  };
  for (const name in incoming) {
    if (name.charCodeAt(0) === 0x3a /* : */) continue;
    const v = incoming[name];
    if (v === undefined || isHopByHop(name, v)) continue;
    out[name] = v;
  }
  return out;
}

/** The response headers sent to the client: upstream's, minus hop-by-hop ones. */
export function downstreamResponseHeaders(incoming: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    const v = incoming[name];
    if (v === undefined) continue;
    if (name.charCodeAt(0) === 0x3a) {
      if (name === ":status") out[name] = v;
      continue;
    }
    if (isHopByHop(name, v)) continue;
    out[name] = v;
  }
  return out;
}

/** Trailers forwarded to the client (pseudo and hop-by-hop headers dropped). */
export function forwardTrailers(incoming: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    const v = incoming[name];
    if (v === undefined || name.charCodeAt(0) === 0x3a || isHopByHop(name, v)) continue;
    out[name] = v;
  }
  return out;
}

/** Names a modifier must never touch: pseudo-headers and the connection-specific ones. */
function protectedName(name: string): boolean {
  return name.charCodeAt(0) === 0x3a || HOP_BY_HOP.has(name) || name === "te";
}

/**
 * Applies a Gateway API header modifier in place: `set` replaces, `add` appends another value, `remove`
 * deletes; names compare without regard to case (IR names are lowercase; header objects from Node are too).
 */
export function applyHeaderModifier(headers: OutgoingHttpHeaders, m: IrHeaderModifier | undefined): void {
  if (m === undefined) return;
  for (const { name, value } of m.set) {
    const n = name.toLowerCase();
    if (!protectedName(n)) headers[n] = value;
  }
  for (const { name, value } of m.add) {
    const n = name.toLowerCase();
    if (protectedName(n)) continue;
    const cur = headers[n];
    if (cur === undefined) headers[n] = value;
    else if (Array.isArray(cur)) headers[n] = [...cur, value];
    else headers[n] = [String(cur), value];
  }
  for (const name of m.remove) {
    const n = name.toLowerCase();
    if (!protectedName(n)) delete headers[n];
  }
}
