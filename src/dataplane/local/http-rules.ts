/**
 * `google.api.http` path templates: `/v1/{name=shelves/*}/books/{book_id}:verb`, as the HttpRule
 * documentation defines them (`*` one segment, `**` the rest, variables with a field path and an optional
 * sub-template, a final `:verb`), compiled once and matched against request paths.
 */
import type { HttpRule } from "./descriptors.js";

type Part = { kind: "lit"; value: string } | { kind: "one" } | { kind: "rest" };

export interface PathTemplate {
  parts: Part[];
  /** Variables: field path and the parts they cover, [start, end). */
  vars: { field: string; start: number; end: number }[];
  verb: string;
}

/** One HTTP binding of a method: verb, template, and where the body goes. */
export interface HttpBinding {
  method: string;
  template: PathTemplate;
  /** `*`: the whole body is the request; a field name: the body is that field; "": no body. */
  body: string;
  /** A field of the response sent as the whole body; "": the response. */
  responseBody: string;
}

/** Parses a template; undefined when it is malformed. */
export function parseTemplate(t: string): PathTemplate | undefined {
  if (!t.startsWith("/")) return undefined;
  let rest = t.slice(1);
  let verb = "";
  // A verb follows the last segment, outside any variable.
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.indexOf(":", lastSlash + 1);
  if (colon >= 0 && rest.indexOf("}", colon) < 0) {
    verb = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const parts: Part[] = [];
  const vars: PathTemplate["vars"] = [];
  let i = 0;
  const segment = (s: string): boolean => {
    if (s === "*") parts.push({ kind: "one" });
    else if (s === "**") parts.push({ kind: "rest" });
    else if (s !== "" && !/[{}=*]/.test(s)) parts.push({ kind: "lit", value: s });
    else return false;
    return true;
  };
  while (i < rest.length) {
    if (rest[i] === "{") {
      const close = rest.indexOf("}", i);
      if (close < 0) return undefined;
      const inner = rest.slice(i + 1, close);
      const eq = inner.indexOf("=");
      const field = eq < 0 ? inner : inner.slice(0, eq);
      const sub = eq < 0 ? "*" : inner.slice(eq + 1);
      if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(field)) return undefined;
      const start = parts.length;
      for (const s of sub.split("/")) if (!segment(s)) return undefined;
      vars.push({ field, start, end: parts.length });
      i = close + 1;
    } else {
      let end = rest.indexOf("/", i);
      if (end < 0) end = rest.length;
      if (!segment(rest.slice(i, end))) return undefined;
      i = end;
    }
    if (i < rest.length) {
      if (rest[i] !== "/") return undefined;
      i++;
      if (i === rest.length) return undefined;
    }
  }
  // `**` only as the last segment.
  const rest2 = parts.findIndex((p) => p.kind === "rest");
  if (rest2 >= 0 && rest2 !== parts.length - 1) return undefined;
  return { parts, vars, verb };
}

/**
 * Matches a request path (without its query) against a template: the variables' values (percent-decoded;
 * a multi-segment value keeps its slashes), or undefined when it does not match.
 */
export function matchTemplate(t: PathTemplate, path: string): Map<string, string> | undefined {
  if (!path.startsWith("/")) return undefined;
  let p = path.slice(1);
  if (t.verb !== "") {
    if (!p.endsWith(`:${t.verb}`)) return undefined;
    p = p.slice(0, -(t.verb.length + 1));
  }
  const segs = p === "" ? [] : p.split("/");
  const parts = t.parts;
  const hasRest = parts.length > 0 && parts[parts.length - 1]!.kind === "rest";
  if (hasRest ? segs.length < parts.length - 1 : segs.length !== parts.length) return undefined;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part.kind === "rest") break;
    const seg = segs[i]!;
    if (part.kind === "lit" ? seg !== part.value : seg === "") return undefined;
  }
  const out = new Map<string, string>();
  for (const v of t.vars) {
    const end = v.end === parts.length && hasRest ? segs.length : v.end;
    const value = segs.slice(v.start, end);
    try {
      out.set(
        v.field,
        value.length === 1
          ? decodeURIComponent(value[0]!)
          : value.map((x) => decodeURIComponent(x).replaceAll("/", "%2F")).join("/"),
      );
    } catch {
      return undefined;
    }
  }
  return out;
}

/** The bindings of one `google.api.http` rule (and its additional bindings); malformed ones are skipped. */
export function bindingsOf(rule: HttpRule): HttpBinding[] {
  const out: HttpBinding[] = [];
  const add = (r: HttpRule): void => {
    let method = "";
    let path = "";
    for (const m of ["get", "put", "post", "delete", "patch"] as const) {
      const v = r[m];
      if (v !== undefined && v !== "") {
        method = m.toUpperCase();
        path = v;
      }
    }
    if (method === "" && r.custom?.kind !== undefined && r.custom.path !== undefined) {
      method = r.custom.kind.toUpperCase();
      path = r.custom.path;
    }
    const template = method === "" ? undefined : parseTemplate(path);
    if (template !== undefined) {
      out.push({ method, template, body: r.body ?? "", responseBody: r.responseBody ?? "" });
    }
  };
  add(rule);
  for (const b of rule.additionalBindings ?? []) add(b);
  return out;
}
