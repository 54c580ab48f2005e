/**
 * The JSON of a transcoded request message: the body (whole, or as one field), then the path variables and
 * the query parameters set as fields by their (dotted) field paths, as the `google.api.http` rules say.
 * Query values are strings, which the proto3 JSON mapping accepts for every scalar but bool; a bool field
 * gets `true` / `false`, and a repeated field every value given.
 */
import type { DescField, DescMessage, JsonObject, JsonValue } from "@bufbuild/protobuf";

/** The field of `desc` named `name` (proto name or JSON name). */
function fieldOf(desc: DescMessage | undefined, name: string): DescField | undefined {
  return desc?.fields.find((f) => f.name === name || f.jsonName === name);
}

/** Sets `value` at the dotted field path in `json`; false when the path names no field. */
function setPath(desc: DescMessage, json: JsonObject, path: string, values: string[]): boolean {
  const names = path.split(".");
  let d: DescMessage | undefined = desc;
  let obj = json;
  for (let i = 0; i < names.length; i++) {
    const f = fieldOf(d, names[i]!);
    if (f === undefined) return false;
    if (i === names.length - 1) {
      const conv = (v: string): JsonValue =>
        f.fieldKind === "scalar" && f.scalar === 8 /* BOOL */ ? v === "true" : v;
      if (f.fieldKind === "list") {
        const scalarBool = f.listKind === "scalar" && f.scalar === 8;
        obj[f.jsonName] = values.map((v) => (scalarBool ? v === "true" : v));
      } else obj[f.jsonName] = conv(values[values.length - 1]!);
      return true;
    }
    if (f.fieldKind !== "message") return false;
    const next = obj[f.jsonName];
    const o: JsonObject = typeof next === "object" && next !== null && !Array.isArray(next) ? next : {};
    obj[f.jsonName] = o;
    obj = o;
    d = f.message;
  }
  return false;
}

export interface RequestParts {
  /** The parsed JSON body, or undefined when the binding takes none. */
  body: JsonValue | undefined;
  /** `*`, a field name, or "". */
  bodyField: string;
  vars: ReadonlyMap<string, string>;
  /** Query parameters (repeated ones in order); ignored when the body is the whole request. */
  query: URLSearchParams;
}

/** The request's JSON, or an error message naming what is wrong. */
export function requestJson(desc: DescMessage, p: RequestParts): JsonObject | string {
  let json: JsonObject = {};
  if (p.bodyField === "*") {
    if (p.body !== undefined) {
      if (typeof p.body !== "object" || p.body === null || Array.isArray(p.body)) {
        return `the request body must be a JSON object (${desc.typeName})`;
      }
      json = { ...p.body };
    }
  } else if (p.bodyField !== "" && p.body !== undefined) {
    const f = fieldOf(desc, p.bodyField);
    if (f === undefined) return `the body field ${p.bodyField} is not a field of ${desc.typeName}`;
    json[f.jsonName] = p.body;
  }
  for (const [path, value] of p.vars) {
    if (!setPath(desc, json, path, [value]))
      return `path variable ${path} is not a field of ${desc.typeName}`;
  }
  if (p.bodyField !== "*") {
    for (const key of new Set(p.query.keys())) {
      if (p.vars.has(key)) continue;
      if (!setPath(desc, json, key, p.query.getAll(key))) {
        return `query parameter ${key} is not a field of ${desc.typeName}`;
      }
    }
  }
  return json;
}
