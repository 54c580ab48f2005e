/**
 * TrafficPolicy `cors`: the CORS answers the gateway gives browsers' gRPC-Web calls, with the fields and
 * limits of the Gateway API's HTTPRoute CORS filter (HTTPCORSFilter): up to 64 origins, `scheme://host[:port]`
 * with `*` standing for a run of host characters, or `*` alone; up to 9 methods (or `*`); up to 64 allowed
 * and 64 exposed header names (or `*` for allowed ones); `maxAge` in seconds, at least 1, default 5; and
 * `allowCredentials`, which `*` origins cannot be combined with.
 */
import type { PolicyCors } from "../types.js";
import {
  item,
  noteUnknown,
  type Obj,
  pattern,
  type Reader,
  readBool,
  readInt,
  readList,
  show,
} from "./reader.js";

export const CORS_LIMITS = { origins: 64, methods: 9, headers: 64, maxAgeDefault: 5 } as const;

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "*"];
const ORIGIN = pattern(
  "^(\\*|[a-z][a-z0-9+.-]*://(\\*\\.)?[a-zA-Z0-9.-]+(:[0-9]{1,5})?)$",
  "must be * or scheme://host[:port], the host optionally starting with *.",
);
const HEADER = pattern("^(\\*|[A-Za-z0-9!#$%&'*+.^_`|~-]+)$", "must be a header name");

function readStrings(
  r: Reader,
  o: Obj,
  key: string,
  path: string,
  max: number,
  check: (v: string, p: string) => boolean,
): string[] {
  const out: string[] = [];
  readList(r, o, key, path, { max }).forEach((v, i) => {
    const p = item(`${path}.${key}`, i);
    if (typeof v !== "string") {
      r.fail(p, `Invalid value: ${show(v)}: must be of type string`);
      return;
    }
    if (!check(v, p)) return;
    if (out.includes(v)) r.fail(p, `Duplicate value: ${show(v)}`);
    else out.push(v);
  });
  return out;
}

export function readCors(r: Reader, o: Obj, path: string): PolicyCors {
  noteUnknown(r, o, path, [
    "allowOrigins",
    "allowMethods",
    "allowHeaders",
    "exposeHeaders",
    "maxAge",
    "allowCredentials",
  ]);
  const matches = (re: typeof ORIGIN) => (v: string, p: string) => {
    if (re.re.test(v)) return true;
    r.fail(p, `Invalid value: ${show(v)}: ${re.message}`);
    return false;
  };
  const out: PolicyCors = {
    allowOrigins: readStrings(r, o, "allowOrigins", path, CORS_LIMITS.origins, matches(ORIGIN)),
    allowMethods: readStrings(r, o, "allowMethods", path, CORS_LIMITS.methods, (v, p) => {
      if (METHODS.includes(v)) return true;
      r.fail(
        p,
        `Unsupported value: ${show(v)}: supported values: ${METHODS.map((m) => `"${m}"`).join(", ")}`,
      );
      return false;
    }),
    allowHeaders: readStrings(r, o, "allowHeaders", path, CORS_LIMITS.headers, matches(HEADER)),
    exposeHeaders: readStrings(r, o, "exposeHeaders", path, CORS_LIMITS.headers, matches(HEADER)),
    maxAge:
      readInt(r, o, "maxAge", path, { min: 1, max: 86_400, default: CORS_LIMITS.maxAgeDefault }) ??
      CORS_LIMITS.maxAgeDefault,
    allowCredentials: readBool(r, o, "allowCredentials", path) ?? false,
  };
  if (out.allowCredentials && out.allowOrigins.includes("*")) {
    r.fail(`${path}.allowOrigins`, 'Invalid value: "*": cannot be combined with allowCredentials: true');
  }
  if (out.allowMethods.includes("*") && out.allowMethods.length > 1) {
    r.fail(`${path}.allowMethods`, 'Invalid value: "*": must be the only method when given');
  }
  return out;
}
