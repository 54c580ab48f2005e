/**
 * Header lists of the relay: flat `[name, value, ...]` arrays as HPACK decodes them. Filtering of
 * connection-specific headers and the Gateway API header modifiers, with the same rules as the node:http2
 * data path.
 */
import type { IrHeaderModifier } from "../../ir/routing-table.js";
import type { RequestHeaders } from "../router.js";

/**
 * Connection-specific headers never forwarded (RFC 9113 section 8.2.2), plus `te` unless it is `trailers`,
 * which gRPC requires end to end.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
]);

/** Whether a regular (non-pseudo) header goes to the other side. */
export function forwardable(name: string, value: string): boolean {
  if (HOP_BY_HOP.has(name)) return false;
  if (name === "te") return value === "trailers";
  return true;
}

/** The request's regular headers as the router reads them (repeated names become arrays). */
export function headerRecord(fields: readonly string[]): RequestHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.charCodeAt(0) === 0x3a /* : */) continue;
    const value = fields[i + 1]!;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (typeof prev === "string") out[name] = [prev, value];
    else prev.push(value);
  }
  return out;
}

/**
 * Applies a header modifier in place: `set` replaces every value of a name, `add` appends one more value,
 * `remove` drops the name. Names compare without regard to case; pseudo-headers are never touched.
 */
export function applyModifier(fields: string[], m: IrHeaderModifier): void {
  // HTTP/2 field names must be lowercase (RFC 9113 section 8.2.1); Gateway API names are case-insensitive.
  for (const { name, value } of m.set) {
    const n = name.toLowerCase();
    if (n.charCodeAt(0) === 0x3a) continue;
    removeName(fields, n);
    fields.push(n, value);
  }
  for (const { name, value } of m.add) {
    const n = name.toLowerCase();
    if (n.charCodeAt(0) === 0x3a) continue;
    fields.push(n, value);
  }
  for (const name of m.remove) {
    const n = name.toLowerCase();
    if (n.charCodeAt(0) === 0x3a) continue;
    removeName(fields, n);
  }
}

function removeName(fields: string[], name: string): void {
  let w = 0;
  for (let r = 0; r < fields.length; r += 2) {
    if (fields[r] === name) continue;
    if (w !== r) {
      fields[w] = fields[r]!;
      fields[w + 1] = fields[r + 1]!;
    }
    w += 2;
  }
  fields.length = w;
}

/** The first value of `name`, or undefined. */
export function fieldValue(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
