/**
 * CORS for gRPC-Web calls from browsers (TrafficPolicy `cors`, as the Gateway API's HTTPRoute CORS filter
 * defines its fields): the answer to a preflight, and the headers added to an actual response. Without a
 * policy nothing is added, and a preflight is refused (403) with a message saying so.
 */
import type { IrCors } from "../../ir/routing-table.js";

/** Response headers every CORS-enabled gRPC-Web answer exposes: its status lives in them. */
export const GRPC_EXPOSED = ["grpc-status", "grpc-message", "grpc-status-details-bin"] as const;

/** Compiled origin patterns, per (immutable) policy object of a table. */
const compiled = new WeakMap<IrCors, RegExp>();

function escapeRe(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether `origin` is allowed: exact (case-insensitive), `*`, or a pattern with `*` for a run of characters. */
export function originAllowed(cors: IrCors, origin: string): boolean {
  let re = compiled.get(cors);
  if (re === undefined) {
    const alts = cors.allowOrigins.map((o) => (o === "*" ? ".*" : o.split("*").map(escapeRe).join("[^/:]+")));
    re = new RegExp(`^(?:${alts.length === 0 ? "(?!)" : alts.join("|")})$`, "i");
    compiled.set(cors, re);
  }
  return re.test(origin);
}

/** `Access-Control-Allow-Origin`: the origin itself, or `*` when any is allowed without credentials. */
function allowOrigin(cors: IrCors, origin: string): string {
  return cors.allowOrigins.includes("*") && !cors.allowCredentials ? "*" : origin;
}

/** What the gateway answers to a preflight: its status and headers (flat list), and why when refused. */
export interface PreflightAnswer {
  status: number;
  headers: string[];
  message: string;
}

/**
 * The answer to a CORS preflight (OPTIONS with `origin` and `access-control-request-method`) for a route
 * whose policy is `cors` (undefined: none applies).
 */
export function preflight(
  cors: IrCors | undefined,
  origin: string,
  requestMethod: string,
  requestHeaders: string,
): PreflightAnswer {
  if (cors === undefined) {
    return { status: 403, headers: [], message: "CORS is not enabled for this route (TrafficPolicy cors)" };
  }
  if (!originAllowed(cors, origin)) {
    return {
      status: 403,
      headers: ["vary", "origin"],
      message: `origin ${origin} is not allowed (${cors.source})`,
    };
  }
  const anyMethod = cors.allowMethods.includes("*");
  if (!anyMethod && !cors.allowMethods.includes(requestMethod.toUpperCase())) {
    return {
      status: 403,
      headers: ["vary", "origin"],
      message: `method ${requestMethod} is not allowed (${cors.source})`,
    };
  }
  const h = ["access-control-allow-origin", allowOrigin(cors, origin)];
  if (cors.allowCredentials) h.push("access-control-allow-credentials", "true");
  h.push("access-control-allow-methods", anyMethod ? requestMethod : cors.allowMethods.join(", "));
  const asked = requestHeaders.trim();
  const headers = cors.allowHeaders.includes("*") ? asked : cors.allowHeaders.join(", ");
  if (headers !== "") h.push("access-control-allow-headers", headers);
  h.push("access-control-max-age", String(cors.maxAgeSeconds), "vary", "origin");
  return { status: 204, headers: h, message: "" };
}

/** Headers added to an actual response for `origin` (none when the origin is not allowed). */
export function responseCors(cors: IrCors, origin: string): string[] {
  if (!originAllowed(cors, origin)) return ["vary", "origin"];
  const h = ["access-control-allow-origin", allowOrigin(cors, origin)];
  if (cors.allowCredentials) h.push("access-control-allow-credentials", "true");
  const expose: string[] = [...GRPC_EXPOSED];
  for (const e of cors.exposeHeaders) if (!expose.includes(e)) expose.push(e);
  h.push("access-control-expose-headers", expose.join(", "), "vary", "origin");
  return h;
}
