/**
 * Field readers for the schema checks: each reads one field of a plain object (as decoded from YAML or
 * JSON), applies the default an API server would apply, and records every rule the value breaks instead of
 * throwing. Messages follow the API server's field-error wording (`Required value`, `Unsupported value`,
 * `Too long`, `Too many`, `Invalid value`), so users recognise what `kubectl apply` would have said.
 *
 * Patterns are compiled with RE2 (linear time): the values they test come from users.
 */
import RE2 from "re2";

/** A plain decoded mapping. */
export type Obj = Record<string, unknown>;

/** One broken rule: the field path inside the object and what is wrong. */
export interface FieldProblem {
  path: string;
  message: string;
}

/** Collects the problems of one object while it is read. */
export class Reader {
  readonly errors: FieldProblem[] = [];
  readonly notes: FieldProblem[] = [];

  /** Records a rule the object breaks (the object is rejected). */
  fail(path: string, message: string): void {
    this.errors.push({ path, message });
  }

  /** Records something worth knowing that does not reject the object. */
  note(path: string, message: string): void {
    this.notes.push({ path, message });
  }
}

/** A named pattern; `message` replaces the default "should match" text (CEL rules quote their own). */
export interface Pattern {
  readonly re: RE2;
  readonly source: string;
  readonly message?: string;
}

export function pattern(source: string, message?: string): Pattern {
  return message === undefined ? { re: new RE2(source), source } : { re: new RE2(source), source, message };
}

const DNS1123_SUBDOMAIN_SRC = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/** Patterns of the Gateway API CRDs and of Kubernetes core validation. */
export const PATTERNS = {
  dnsSubdomain: pattern(DNS1123_SUBDOMAIN_SRC),
  dnsLabel: pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
  /** DNS-1035 label: Service names. */
  dns1035Label: pattern("^[a-z]([-a-z0-9]*[a-z0-9])?$"),
  hostname: pattern("^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
  group: pattern("^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
  kind: pattern("^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"),
  sectionName: pattern(DNS1123_SUBDOMAIN_SRC),
  headerName: pattern("^[A-Za-z0-9!#$%&'*+\\-.^_\\x60|~]+$"),
  controllerName: pattern(
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\/[A-Za-z0-9\\/\\-._~%!$&'()*+,;=:]+$",
  ),
  protocol: pattern(
    "^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\/[A-Za-z0-9]+$",
  ),
  addressType: pattern(
    "^Hostname|IPAddress|NamedAddress|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\/[A-Za-z0-9\\/\\-._~%!$&'()*+,;=:]+$",
  ),
  labelValue: pattern("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"),
  labelName: pattern("^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"),
  secretKey: pattern("^[-._a-zA-Z0-9]+$"),
  /** IANA service name (a named targetPort). */
  ianaSvcName: pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
} as const;

/** Joins a field path: `join("spec", "rules")` = `spec.rules`. */
export function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

/** Path of a list item: `item("spec.rules", 2)` = `spec.rules[2]`. */
export function item(path: string, i: number): string {
  return `${path}[${i}]`;
}

export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Length in characters (code points), as the API server counts `maxLength`. */
export function charLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

const SHORT_VALUE = 64;

/**
 * Renders a value for a message: short strings in full, long ones cut with their length, objects and
 * lists by their type (as the API server does).
 */
export function show(v: unknown): string {
  if (typeof v === "string") {
    const len = charLength(v);
    if (len <= SHORT_VALUE) return JSON.stringify(v);
    return `${JSON.stringify(Array.from(v).slice(0, 40).join(""))}... (${len} characters)`;
  }
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (v === null || v === undefined) return "null";
  if (Array.isArray(v)) return `array of ${v.length}`;
  return "object";
}

/** Reads `parent[key]`; YAML `null` counts as absent, as the API server treats it. */
function get(parent: Obj, key: string): unknown {
  const v = parent[key];
  return v === null ? undefined : v;
}

export interface ObjRule {
  required?: boolean;
}

/** Reads a nested mapping. */
export function readObj(
  r: Reader,
  parent: Obj,
  key: string,
  path: string,
  rule: ObjRule = {},
): Obj | undefined {
  const p = join(path, key);
  const v = get(parent, key);
  if (v === undefined) {
    if (rule.required) r.fail(p, "Required value");
    return undefined;
  }
  if (!isObj(v)) {
    r.fail(p, `Invalid value: ${show(v)}: must be of type object`);
    return undefined;
  }
  return v;
}

export interface StrRule {
  required?: boolean;
  /** Minimum length in characters; `required` alone does not forbid "". */
  min?: number;
  max?: number;
  pattern?: Pattern;
  /** Enum: the value must be one of these. */
  oneOf?: readonly string[];
  default?: string;
}

/** Checks a string value against a rule; returns false when it breaks one. */
export function checkStr(r: Reader, v: string, p: string, rule: StrRule): boolean {
  let ok = true;
  if (rule.oneOf !== undefined && !rule.oneOf.includes(v)) {
    r.fail(
      p,
      `Unsupported value: ${show(v)}: supported values: ${rule.oneOf.map((s) => `"${s}"`).join(", ")}`,
    );
    return false;
  }
  const len = rule.min !== undefined || rule.max !== undefined ? charLength(v) : 0;
  if (rule.min !== undefined && len < rule.min) {
    r.fail(p, `Invalid value: ${show(v)}: must be at least ${rule.min} characters long`);
    ok = false;
  }
  if (rule.max !== undefined && len > rule.max) {
    r.fail(p, `Too long: may not be more than ${rule.max} characters (got ${len})`);
    ok = false;
  }
  // A value already too long is not also matched: the pattern message would add nothing.
  if (ok && rule.pattern !== undefined && !rule.pattern.re.test(v)) {
    r.fail(
      p,
      `Invalid value: ${show(v)}: ${rule.pattern.message ?? `should match '${rule.pattern.source}'`}`,
    );
    ok = false;
  }
  return ok;
}

/** Reads a string field. Returns the default when absent, undefined when absent without default or invalid. */
export function readStr(
  r: Reader,
  parent: Obj,
  key: string,
  path: string,
  rule: StrRule = {},
): string | undefined {
  const p = join(path, key);
  const v = get(parent, key);
  if (v === undefined) {
    if (rule.required) r.fail(p, "Required value");
    return rule.default;
  }
  if (typeof v !== "string") {
    r.fail(p, `Invalid value: ${show(v)}: must be of type string`);
    return undefined;
  }
  return checkStr(r, v, p, rule) ? v : undefined;
}

export interface IntRule {
  required?: boolean;
  min?: number;
  max?: number;
  default?: number;
}

/** Checks an integer value against a rule; returns the number or undefined. */
export function checkInt(r: Reader, v: unknown, p: string, rule: IntRule): number | undefined {
  if (typeof v !== "number" || !Number.isInteger(v)) {
    r.fail(p, `Invalid value: ${show(v)}: must be of type integer`);
    return undefined;
  }
  if (rule.min !== undefined && v < rule.min) {
    r.fail(p, `Invalid value: ${v}: must be greater than or equal to ${rule.min}`);
    return undefined;
  }
  if (rule.max !== undefined && v > rule.max) {
    r.fail(p, `Invalid value: ${v}: must be less than or equal to ${rule.max}`);
    return undefined;
  }
  return v;
}

/** Reads an integer field. */
export function readInt(
  r: Reader,
  parent: Obj,
  key: string,
  path: string,
  rule: IntRule = {},
): number | undefined {
  const p = join(path, key);
  const v = get(parent, key);
  if (v === undefined) {
    if (rule.required) r.fail(p, "Required value");
    return rule.default;
  }
  return checkInt(r, v, p, rule);
}

/** Reads a boolean field. */
export function readBool(r: Reader, parent: Obj, key: string, path: string): boolean | undefined {
  const p = join(path, key);
  const v = get(parent, key);
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") {
    r.fail(p, `Invalid value: ${show(v)}: must be of type boolean`);
    return undefined;
  }
  return v;
}

export interface ListRule {
  required?: boolean;
  min?: number;
  max?: number;
}

/**
 * Reads a list field. Every item is still returned when the list is too long, so each item's own problems
 * are reported too (the API server reports all of them).
 */
export function readList(r: Reader, parent: Obj, key: string, path: string, rule: ListRule = {}): unknown[] {
  const p = join(path, key);
  const v = get(parent, key);
  if (v === undefined) {
    if (rule.required) r.fail(p, "Required value");
    return [];
  }
  if (!Array.isArray(v)) {
    r.fail(p, `Invalid value: ${show(v)}: must be of type array`);
    return [];
  }
  if (rule.min !== undefined && v.length < rule.min) {
    r.fail(p, `Invalid value: ${v.length} items: must have at least ${rule.min} items`);
  }
  if (rule.max !== undefined && v.length > rule.max) {
    r.fail(p, `Too many: ${v.length}: must have at most ${rule.max} items`);
  }
  return v;
}

/** Reads a list whose items must be mappings; non-mappings are reported and skipped. */
export function readObjList(
  r: Reader,
  parent: Obj,
  key: string,
  path: string,
  rule: ListRule = {},
): { obj: Obj; path: string }[] {
  const p = join(path, key);
  const out: { obj: Obj; path: string }[] = [];
  readList(r, parent, key, path, rule).forEach((v, i) => {
    if (isObj(v)) out.push({ obj: v, path: item(p, i) });
    else r.fail(item(p, i), `Invalid value: ${show(v)}: must be of type object`);
  });
  return out;
}

/** Reads a map of strings (labels, annotations, options). */
export function readStrMap(
  r: Reader,
  parent: Obj,
  key: string,
  path: string,
  rule: { maxEntries?: number } = {},
): Record<string, string> {
  const o = readObj(r, parent, key, path);
  const out: Record<string, string> = {};
  if (o === undefined) return out;
  const p = join(path, key);
  const keys = Object.keys(o);
  if (rule.maxEntries !== undefined && keys.length > rule.maxEntries) {
    r.fail(p, `Too many: ${keys.length}: must have at most ${rule.maxEntries} items`);
  }
  for (const k of keys) {
    const v = o[k];
    if (typeof v !== "string") {
      r.fail(`${p}[${k}]`, `Invalid value: ${show(v)}: must be of type string`);
      continue;
    }
    out[k] = v;
  }
  return out;
}

/** Notes the keys of `o` that the schema does not know: they are dropped, as a server prunes them. */
export function noteUnknown(r: Reader, o: Obj, path: string, known: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) r.note(join(path, k), `unknown field "${join(path, k)}" ignored`);
  }
}
