/**
 * GRPCRoute (gateway.networking.k8s.io/v1): the standard CRD's structural rules, defaults, limits and CEL
 * rules, with the CEL messages quoted exactly. What the CRD leaves to controllers (regular expression
 * validity, unsupported values, missing backends, unique rule names) is reported by the translator as
 * status, not here.
 */
import {
  GATEWAY_GROUP,
  type GRPCBackendRef,
  type GRPCHeaderMatch,
  type GRPCMethodMatch,
  type GRPCRouteFilter,
  type GRPCRouteMatch,
  type GRPCRouteRule,
  type GRPCRouteSpec,
  type HTTPHeader,
  type HTTPHeaderFilter,
  type HTTPRequestMirrorFilter,
  type ParentReference,
} from "../types.js";
import {
  checkStr,
  item,
  join,
  noteUnknown,
  type Obj,
  PATTERNS,
  pattern,
  type Reader,
  readInt,
  readList,
  readObj,
  readObjList,
  readStr,
  show,
} from "./reader.js";
import { readBackendObjectRef } from "./refs.js";

/** Limits of the GRPCRoute CRD (v1.3 and later). */
export const GRPCROUTE_LIMITS = {
  parentRefs: 32,
  hostnames: 16,
  rules: 16,
  matchesPerRule: 64,
  matchesTotal: 128,
  headersPerMatch: 16,
  filters: 16,
  headerFilterEntries: 16,
  backendRefs: 16,
  serviceLength: 1024,
  methodLength: 1024,
  headerNameLength: 256,
  headerValueLength: 4096,
  weightMax: 1_000_000,
} as const;

const MATCH_TYPES = ["Exact", "RegularExpression"] as const;
const FILTER_TYPES = [
  "ResponseHeaderModifier",
  "RequestHeaderModifier",
  "RequestMirror",
  "ExtensionRef",
] as const;
type FilterType = (typeof FILTER_TYPES)[number];

/** The member field of each filter type (the union's discriminator). */
const FILTER_MEMBERS: Record<FilterType, string> = {
  RequestHeaderModifier: "requestHeaderModifier",
  ResponseHeaderModifier: "responseHeaderModifier",
  RequestMirror: "requestMirror",
  ExtensionRef: "extensionRef",
};

const SERVICE_CHARS = pattern(
  "^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$",
  "service must only contain valid characters (matching ^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$)",
);
const METHOD_CHARS = pattern(
  "^[A-Za-z_][A-Za-z_0-9]*$",
  "method must only contain valid characters (matching ^[A-Za-z_][A-Za-z_0-9]*$)",
);

export function readGRPCRouteSpec(r: Reader, o: Obj): GRPCRouteSpec {
  // `spec` has been required since v1.4.
  const spec = readObj(r, o, "spec", "", { required: true }) ?? {};
  noteUnknown(r, spec, "spec", ["parentRefs", "hostnames", "rules", "useDefaultGateways"]);

  const parentItems = readObjList(r, spec, "parentRefs", "spec", { max: GRPCROUTE_LIMITS.parentRefs });
  const parentRefs = parentItems.map(({ obj, path }) => readParentRef(r, obj, path));
  checkParentRefRules(r, parentItems, parentRefs);

  const hostnames: string[] = [];
  readList(r, spec, "hostnames", "spec", { max: GRPCROUTE_LIMITS.hostnames }).forEach((v, i) => {
    const p = item("spec.hostnames", i);
    if (typeof v !== "string") r.fail(p, `Invalid value: ${show(v)}: must be of type string`);
    else if (checkStr(r, v, p, { min: 1, max: 253, pattern: PATTERNS.hostname })) hostnames.push(v);
  });

  const ruleItems = readObjList(r, spec, "rules", "spec", { max: GRPCROUTE_LIMITS.rules });
  const rules = ruleItems.map(({ obj, path }) => readRule(r, obj, path));
  let total = 0;
  for (const { obj } of ruleItems) if (Array.isArray(obj.matches)) total += obj.matches.length;
  if (total > GRPCROUTE_LIMITS.matchesTotal) {
    r.fail(
      "spec.rules",
      `Invalid value: ${total} matches: While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128`,
    );
  }
  return { parentRefs, hostnames, rules };
}

function readParentRef(r: Reader, o: Obj, path: string): ParentReference {
  noteUnknown(r, o, path, ["group", "kind", "namespace", "name", "sectionName", "port"]);
  const ref: ParentReference = {
    group: readStr(r, o, "group", path, { max: 253, pattern: PATTERNS.group, default: GATEWAY_GROUP }) ?? "",
    kind: readStr(r, o, "kind", path, { min: 1, max: 63, pattern: PATTERNS.kind, default: "Gateway" }) ?? "",
    name: readStr(r, o, "name", path, { required: true, min: 1, max: 253 }) ?? "",
  };
  const ns = readStr(r, o, "namespace", path, { min: 1, max: 63, pattern: PATTERNS.dnsLabel });
  if (ns !== undefined) ref.namespace = ns;
  const section = readStr(r, o, "sectionName", path, { min: 1, max: 253, pattern: PATTERNS.sectionName });
  if (section !== undefined) ref.sectionName = section;
  const port = readInt(r, o, "port", path, { min: 1, max: 65535 });
  if (port !== undefined) ref.port = port;
  return ref;
}

/**
 * The standard CRD's two CEL rules on `parentRefs`. Two refs name the same parent when group, kind and name
 * are equal and their namespaces are both unset (or empty) or both set and equal; the namespace is compared
 * as written, not defaulted, exactly as the CEL expression does.
 */
function checkParentRefRules(r: Reader, items: { obj: Obj }[], refs: ParentReference[]): void {
  const rawNs = (i: number): string => {
    const v = items[i]?.obj.namespace;
    return typeof v === "string" ? v : "";
  };
  const section = (i: number): string => refs[i]?.sectionName ?? "";
  let mustSpecify = false;
  let mustBeUnique = false;
  for (let i = 0; i < refs.length; i++) {
    for (let j = i + 1; j < refs.length; j++) {
      const a = refs[i]!;
      const b = refs[j]!;
      if (a.group !== b.group || a.kind !== b.kind || a.name !== b.name || rawNs(i) !== rawNs(j)) continue;
      if ((section(i) === "") !== (section(j) === "")) mustSpecify = true;
      else if (section(i) === section(j)) mustBeUnique = true;
    }
  }
  if (mustSpecify) {
    r.fail(
      "spec.parentRefs",
      "Invalid value: array: sectionName must be specified when parentRefs includes 2 or more references to the same parent",
    );
  }
  if (mustBeUnique) {
    r.fail(
      "spec.parentRefs",
      "Invalid value: array: sectionName must be unique when parentRefs includes 2 or more references to the same parent",
    );
  }
}

function readRule(r: Reader, o: Obj, path: string): GRPCRouteRule {
  noteUnknown(r, o, path, ["name", "matches", "filters", "backendRefs", "sessionPersistence"]);
  const rule: GRPCRouteRule = {
    matches: readObjList(r, o, "matches", path, { max: GRPCROUTE_LIMITS.matchesPerRule }).map(
      ({ obj, path: p }) => readMatch(r, obj, p),
    ),
    filters: readFilters(r, o, path),
    backendRefs: readObjList(r, o, "backendRefs", path, { max: GRPCROUTE_LIMITS.backendRefs }).map(
      ({ obj, path: p }) => readBackendRef(r, obj, p),
    ),
  };
  const name = readStr(r, o, "name", path, { min: 1, max: 253, pattern: PATTERNS.sectionName });
  if (name !== undefined) rule.name = name;
  return rule;
}

function readMatch(r: Reader, o: Obj, path: string): GRPCRouteMatch {
  noteUnknown(r, o, path, ["method", "headers"]);
  const match: GRPCRouteMatch = { headers: [] };
  const m = readObj(r, o, "method", path);
  if (m !== undefined) match.method = readMethodMatch(r, m, join(path, "method"));
  const seen = new Set<string>();
  for (const { obj, path: p } of readObjList(r, o, "headers", path, {
    max: GRPCROUTE_LIMITS.headersPerMatch,
  })) {
    const h = readHeaderMatch(r, obj, p);
    // `headers` is a list-map keyed by `name`: the API server refuses an exact repeat of a key.
    if (h.name !== "" && seen.has(h.name)) r.fail(join(p, "name"), `Duplicate value: ${show(h.name)}`);
    seen.add(h.name);
    match.headers.push(h);
  }
  return match;
}

function readMethodMatch(r: Reader, o: Obj, path: string): GRPCMethodMatch {
  noteUnknown(r, o, path, ["type", "service", "method"]);
  const type = (readStr(r, o, "type", path, { oneOf: MATCH_TYPES, default: "Exact" }) ?? "Exact") as
    | "Exact"
    | "RegularExpression";
  // The character rules apply only to Exact matches; regular expressions are checked by the translator.
  const exact = o.type === undefined || o.type === null || o.type === "Exact";
  const service = readStr(r, o, "service", path, {
    max: GRPCROUTE_LIMITS.serviceLength,
    ...(exact ? { pattern: SERVICE_CHARS } : {}),
  });
  const method = readStr(r, o, "method", path, {
    max: GRPCROUTE_LIMITS.methodLength,
    ...(exact ? { pattern: METHOD_CHARS } : {}),
  });
  const has = (k: string): boolean => o[k] !== undefined && o[k] !== null;
  if (!has("service") && !has("method")) {
    r.fail(path, "Invalid value: object: One or both of 'service' or 'method' must be specified");
  }
  const out: GRPCMethodMatch = { type };
  if (service !== undefined) out.service = service;
  if (method !== undefined) out.method = method;
  return out;
}

function readHeaderMatch(r: Reader, o: Obj, path: string): GRPCHeaderMatch {
  noteUnknown(r, o, path, ["type", "name", "value"]);
  return {
    type: (readStr(r, o, "type", path, { oneOf: MATCH_TYPES, default: "Exact" }) ?? "Exact") as
      | "Exact"
      | "RegularExpression",
    name:
      readStr(r, o, "name", path, {
        required: true,
        min: 1,
        max: GRPCROUTE_LIMITS.headerNameLength,
        pattern: PATTERNS.headerName,
      }) ?? "",
    value:
      readStr(r, o, "value", path, { required: true, min: 1, max: GRPCROUTE_LIMITS.headerValueLength }) ?? "",
  };
}

function readBackendRef(r: Reader, o: Obj, path: string): GRPCBackendRef {
  noteUnknown(r, o, path, ["group", "kind", "name", "namespace", "port", "weight", "filters"]);
  return {
    ...readBackendObjectRef(r, o, path),
    weight: readInt(r, o, "weight", path, { min: 0, max: GRPCROUTE_LIMITS.weightMax, default: 1 }) ?? 1,
    filters: readFilters(r, o, path),
  };
}

/** `filters` of a rule or of a backendRef: the union rules and "cannot be repeated". */
function readFilters(r: Reader, o: Obj, path: string): GRPCRouteFilter[] {
  const out: GRPCRouteFilter[] = [];
  const counts = new Map<string, number>();
  for (const { obj, path: p } of readObjList(r, o, "filters", path, { max: GRPCROUTE_LIMITS.filters })) {
    const f = readFilter(r, obj, p);
    const t = obj.type;
    if (typeof t === "string") counts.set(t, (counts.get(t) ?? 0) + 1);
    if (f !== undefined) out.push(f);
  }
  const fp = join(path, "filters");
  for (const t of ["RequestHeaderModifier", "ResponseHeaderModifier"]) {
    if ((counts.get(t) ?? 0) > 1) r.fail(fp, `Invalid value: array: ${t} filter cannot be repeated`);
  }
  return out;
}

function readFilter(r: Reader, o: Obj, path: string): GRPCRouteFilter | undefined {
  noteUnknown(r, o, path, ["type", ...Object.values(FILTER_MEMBERS)]);
  const type = readStr(r, o, "type", path, { required: true, oneOf: FILTER_TYPES }) as FilterType | undefined;
  // The union's CEL rules: the member for `type` must be given, every other member must be absent.
  for (const [t, member] of Object.entries(FILTER_MEMBERS)) {
    const present = o[member] !== undefined && o[member] !== null;
    if (present && t !== type && type !== undefined) {
      r.fail(path, `Invalid value: object: filter.${member} must be nil if the filter.type is not ${t}`);
    }
    if (!present && t === type) {
      r.fail(path, `Invalid value: object: filter.${member} must be specified for ${t} filter.type`);
    }
  }
  if (type === undefined) return undefined;
  const member = FILTER_MEMBERS[type];
  const body = readObj(r, o, member, path);
  if (body === undefined) return undefined;
  const bp = join(path, member);
  switch (type) {
    case "RequestHeaderModifier":
      return { type, requestHeaderModifier: readHeaderFilter(r, body, bp) };
    case "ResponseHeaderModifier":
      return { type, responseHeaderModifier: readHeaderFilter(r, body, bp) };
    case "RequestMirror":
      return { type, requestMirror: readMirror(r, body, bp) };
    case "ExtensionRef": {
      noteUnknown(r, body, bp, ["group", "kind", "name"]);
      // `group` is required but may be "" (core).
      return {
        type,
        extensionRef: {
          group: readStr(r, body, "group", bp, { required: true, max: 253, pattern: PATTERNS.group }) ?? "",
          kind:
            readStr(r, body, "kind", bp, { required: true, min: 1, max: 63, pattern: PATTERNS.kind }) ?? "",
          name: readStr(r, body, "name", bp, { required: true, min: 1, max: 253 }) ?? "",
        },
      };
    }
  }
}

function readHeaderFilter(r: Reader, o: Obj, path: string): HTTPHeaderFilter {
  noteUnknown(r, o, path, ["set", "add", "remove"]);
  const readHeaders = (key: "set" | "add"): HTTPHeader[] => {
    const seen = new Set<string>();
    return readObjList(r, o, key, path, { max: GRPCROUTE_LIMITS.headerFilterEntries }).map(
      ({ obj, path: p }) => {
        noteUnknown(r, obj, p, ["name", "value"]);
        const h = {
          name:
            readStr(r, obj, "name", p, {
              required: true,
              min: 1,
              max: GRPCROUTE_LIMITS.headerNameLength,
              pattern: PATTERNS.headerName,
            }) ?? "",
          value:
            readStr(r, obj, "value", p, {
              required: true,
              min: 1,
              max: GRPCROUTE_LIMITS.headerValueLength,
            }) ?? "",
        };
        // `set` and `add` are list-maps keyed by `name`.
        if (h.name !== "" && seen.has(h.name)) r.fail(join(p, "name"), `Duplicate value: ${show(h.name)}`);
        seen.add(h.name);
        return h;
      },
    );
  };
  const set = readHeaders("set");
  const add = readHeaders("add");
  const remove: string[] = [];
  const rp = join(path, "remove");
  readList(r, o, "remove", path, { max: GRPCROUTE_LIMITS.headerFilterEntries }).forEach((v, i) => {
    const p = item(rp, i);
    if (typeof v !== "string") {
      r.fail(p, `Invalid value: ${show(v)}: must be of type string`);
      return;
    }
    if (!checkStr(r, v, p, { min: 1, max: GRPCROUTE_LIMITS.headerNameLength, pattern: PATTERNS.headerName }))
      return;
    // `remove` is a set.
    if (remove.includes(v)) r.fail(p, `Duplicate value: ${show(v)}`);
    else remove.push(v);
  });
  return { set, add, remove };
}

function readMirror(r: Reader, o: Obj, path: string): HTTPRequestMirrorFilter {
  noteUnknown(r, o, path, ["backendRef", "percent", "fraction"]);
  const refObj = readObj(r, o, "backendRef", path, { required: true });
  const backendRef = readBackendObjectRef(r, refObj ?? {}, join(path, "backendRef"));
  if (refObj !== undefined)
    noteUnknown(r, refObj, join(path, "backendRef"), ["group", "kind", "name", "namespace", "port"]);
  const out: HTTPRequestMirrorFilter = { backendRef };
  const percent = readInt(r, o, "percent", path, { min: 0, max: 100 });
  if (percent !== undefined) out.percent = percent;
  const fr = readObj(r, o, "fraction", path);
  if (fr !== undefined) {
    const fp = join(path, "fraction");
    noteUnknown(r, fr, fp, ["numerator", "denominator"]);
    const numerator = readInt(r, fr, "numerator", fp, { required: true, min: 0 });
    const denominator = readInt(r, fr, "denominator", fp, { min: 1, default: 100 });
    if (numerator !== undefined && denominator !== undefined) {
      if (numerator > denominator) {
        r.fail(fp, "Invalid value: object: numerator must be less than or equal to denominator");
      }
      out.fraction = { numerator, denominator };
    }
  }
  const given = (k: string): boolean => o[k] !== undefined && o[k] !== null;
  if (given("percent") && given("fraction")) {
    r.fail(
      path,
      "Invalid value: object: Only one of percent or fraction may be specified in HTTPRequestMirrorFilter",
    );
  }
  return out;
}
