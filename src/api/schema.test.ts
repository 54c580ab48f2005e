/**
 * Schema rules an API server enforces, table-driven: each limit at its boundary (accepted) and just over
 * (rejected), each CEL rule with its exact message.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatIssue, parseText } from "./parse.js";

type Json = Record<string, unknown>;

const times = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

const BACKEND = { name: "svc", port: 8080 };
const PARENT = { name: "gw" };

/** A GRPCRoute document (JSON is YAML) with `spec` merged over a valid base. */
function route(spec: Json): string {
  return JSON.stringify({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GRPCRoute",
    metadata: { name: "r", namespace: "ns" },
    spec: { parentRefs: [PARENT], rules: [{ backendRefs: [BACKEND] }], ...spec },
  });
}

/** A route with one rule built from `rule`. */
function ruleRoute(rule: Json): string {
  return route({ rules: [{ backendRefs: [BACKEND], ...rule }] });
}

function gateway(spec: Json): string {
  return JSON.stringify({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: "gw" },
    spec: {
      gatewayClassName: "grpcroute",
      listeners: [{ name: "http", port: 80, protocol: "HTTP" }],
      ...spec,
    },
  });
}

const listener = (i: number, extra: Json = {}): Json => ({
  name: `l${i}`,
  port: 1000 + i,
  protocol: "HTTP",
  ...extra,
});

const mirror = (extra: Json = {}): Json => ({
  type: "RequestMirror",
  requestMirror: { backendRef: { name: "m", port: 9 }, ...extra },
});

const headerFilter = (key: "set" | "add" | "remove", n: number): Json => ({
  type: "RequestHeaderModifier",
  requestHeaderModifier: {
    [key]: key === "remove" ? times(n, (i) => `h${i}`) : times(n, (i) => ({ name: `h${i}`, value: "v" })),
  },
});

const label63 = "a".repeat(63);
const host = (len: number): string => {
  // Labels of at most 63 characters joined by dots, exactly `len` characters long.
  const parts: string[] = [];
  let left = len;
  while (left > 0) {
    const n = Math.min(63, left === 64 ? 62 : left);
    parts.push("a".repeat(n));
    left -= n + 1;
  }
  return parts.join(".");
};

interface Case {
  name: string;
  yaml: string;
  /** Substrings that must each appear in some error; empty: the object must be accepted. */
  wantErrors: string[];
}

const cases: Case[] = [
  // --- limits: at the boundary and just over --------------------------------------------------------
  { name: "16 rules", yaml: route({ rules: times(16, () => ({ backendRefs: [BACKEND] })) }), wantErrors: [] },
  {
    name: "17 rules",
    yaml: route({ rules: times(17, () => ({ backendRefs: [BACKEND] })) }),
    wantErrors: ["spec.rules: Too many: 17: must have at most 16 items"],
  },
  {
    name: "64 matches in a rule",
    yaml: ruleRoute({ matches: times(64, (i) => ({ method: { service: `s${i}` } })) }),
    wantErrors: [],
  },
  {
    name: "65 matches in a rule",
    yaml: ruleRoute({ matches: times(65, (i) => ({ method: { service: `s${i}` } })) }),
    wantErrors: ["spec.rules[0].matches: Too many: 65: must have at most 64 items"],
  },
  {
    name: "128 matches in a route",
    yaml: route({
      rules: times(2, () => ({ matches: times(64, () => ({ headers: [{ name: "a", value: "b" }] })) })),
    }),
    wantErrors: [],
  },
  {
    name: "129 matches in a route",
    yaml: route({
      rules: [
        ...times(2, () => ({ matches: times(64, () => ({ headers: [{ name: "a", value: "b" }] })) })),
        { matches: [{}] },
      ],
    }),
    wantErrors: [
      "spec.rules: Invalid value: 129 matches: While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128",
    ],
  },
  {
    name: "16 headers in a match",
    yaml: ruleRoute({ matches: [{ headers: times(16, (i) => ({ name: `h${i}`, value: "v" })) }] }),
    wantErrors: [],
  },
  {
    name: "17 headers in a match",
    yaml: ruleRoute({ matches: [{ headers: times(17, (i) => ({ name: `h${i}`, value: "v" })) }] }),
    wantErrors: ["spec.rules[0].matches[0].headers: Too many: 17: must have at most 16 items"],
  },
  { name: "16 backendRefs", yaml: ruleRoute({ backendRefs: times(16, () => BACKEND) }), wantErrors: [] },
  {
    name: "17 backendRefs",
    yaml: ruleRoute({ backendRefs: times(17, () => BACKEND) }),
    wantErrors: ["spec.rules[0].backendRefs: Too many: 17: must have at most 16 items"],
  },
  { name: "16 filters", yaml: ruleRoute({ filters: times(16, () => mirror()) }), wantErrors: [] },
  {
    name: "17 filters",
    yaml: ruleRoute({ filters: times(17, () => mirror()) }),
    wantErrors: ["spec.rules[0].filters: Too many: 17: must have at most 16 items"],
  },
  {
    name: "17 filters on a backendRef",
    yaml: ruleRoute({ backendRefs: [{ ...BACKEND, filters: times(17, () => mirror()) }] }),
    wantErrors: ["spec.rules[0].backendRefs[0].filters: Too many: 17"],
  },
  ...(["set", "add", "remove"] as const).flatMap((k): Case[] => [
    { name: `16 ${k} entries`, yaml: ruleRoute({ filters: [headerFilter(k, 16)] }), wantErrors: [] },
    {
      name: `17 ${k} entries`,
      yaml: ruleRoute({ filters: [headerFilter(k, 17)] }),
      wantErrors: [
        `spec.rules[0].filters[0].requestHeaderModifier.${k}: Too many: 17: must have at most 16 items`,
      ],
    },
  ]),
  {
    name: "32 parentRefs",
    yaml: route({ parentRefs: times(32, (i) => ({ name: "gw", sectionName: `s${i}` })) }),
    wantErrors: [],
  },
  {
    name: "33 parentRefs",
    yaml: route({ parentRefs: times(33, (i) => ({ name: "gw", sectionName: `s${i}` })) }),
    wantErrors: ["spec.parentRefs: Too many: 33: must have at most 32 items"],
  },
  { name: "16 hostnames", yaml: route({ hostnames: times(16, (i) => `h${i}.example.com`) }), wantErrors: [] },
  {
    name: "17 hostnames",
    yaml: route({ hostnames: times(17, (i) => `h${i}.example.com`) }),
    wantErrors: ["spec.hostnames: Too many: 17: must have at most 16 items"],
  },
  { name: "hostname of 253 characters", yaml: route({ hostnames: [host(253)] }), wantErrors: [] },
  {
    name: "hostname of 254 characters",
    yaml: route({ hostnames: [host(254)] }),
    wantErrors: ["spec.hostnames[0]: Too long: may not be more than 253 characters (got 254)"],
  },
  {
    name: "service of 1024 characters",
    yaml: ruleRoute({ matches: [{ method: { service: "s".repeat(1024) } }] }),
    wantErrors: [],
  },
  {
    name: "service of 1025 characters",
    yaml: ruleRoute({ matches: [{ method: { service: "s".repeat(1025) } }] }),
    wantErrors: [
      "spec.rules[0].matches[0].method.service: Too long: may not be more than 1024 characters (got 1025)",
    ],
  },
  {
    name: "method of 1024 characters",
    yaml: ruleRoute({ matches: [{ method: { service: "s", method: "m".repeat(1024) } }] }),
    wantErrors: [],
  },
  {
    name: "method of 1025 characters",
    yaml: ruleRoute({ matches: [{ method: { method: "m".repeat(1025) } }] }),
    wantErrors: ["spec.rules[0].matches[0].method.method: Too long: may not be more than 1024"],
  },
  {
    name: "regex service of 1025 characters",
    yaml: ruleRoute({ matches: [{ method: { type: "RegularExpression", service: ".".repeat(1025) } }] }),
    wantErrors: ["method.service: Too long"],
  },
  {
    name: "header name of 256 characters",
    yaml: ruleRoute({ matches: [{ headers: [{ name: "h".repeat(256), value: "v" }] }] }),
    wantErrors: [],
  },
  {
    name: "header name of 257 characters",
    yaml: ruleRoute({ matches: [{ headers: [{ name: "h".repeat(257), value: "v" }] }] }),
    wantErrors: [
      "spec.rules[0].matches[0].headers[0].name: Too long: may not be more than 256 characters (got 257)",
    ],
  },
  {
    name: "header value of 4096 characters",
    yaml: ruleRoute({ matches: [{ headers: [{ name: "h", value: "v".repeat(4096) }] }] }),
    wantErrors: [],
  },
  {
    name: "header value of 4097 characters",
    yaml: ruleRoute({ matches: [{ headers: [{ name: "h", value: "v".repeat(4097) }] }] }),
    wantErrors: ["headers[0].value: Too long: may not be more than 4096 characters (got 4097)"],
  },
  {
    name: "set value of 4097 characters",
    yaml: ruleRoute({
      filters: [
        {
          type: "ResponseHeaderModifier",
          responseHeaderModifier: { set: [{ name: "a", value: "v".repeat(4097) }] },
        },
      ],
    }),
    wantErrors: ["responseHeaderModifier.set[0].value: Too long: may not be more than 4096"],
  },
  { name: "weight 0", yaml: ruleRoute({ backendRefs: [{ ...BACKEND, weight: 0 }] }), wantErrors: [] },
  {
    name: "weight 1000000",
    yaml: ruleRoute({ backendRefs: [{ ...BACKEND, weight: 1_000_000 }] }),
    wantErrors: [],
  },
  {
    name: "weight 1000001",
    yaml: ruleRoute({ backendRefs: [{ ...BACKEND, weight: 1_000_001 }] }),
    wantErrors: [
      "spec.rules[0].backendRefs[0].weight: Invalid value: 1000001: must be less than or equal to 1000000",
    ],
  },
  {
    name: "weight -1",
    yaml: ruleRoute({ backendRefs: [{ ...BACKEND, weight: -1 }] }),
    wantErrors: ["weight: Invalid value: -1: must be greater than or equal to 0"],
  },
  {
    name: "weight 1.5",
    yaml: ruleRoute({ backendRefs: [{ ...BACKEND, weight: 1.5 }] }),
    wantErrors: ["weight: Invalid value: 1.5: must be of type integer"],
  },
  { name: "backend port 1", yaml: ruleRoute({ backendRefs: [{ name: "s", port: 1 }] }), wantErrors: [] },
  {
    name: "backend port 65535",
    yaml: ruleRoute({ backendRefs: [{ name: "s", port: 65535 }] }),
    wantErrors: [],
  },
  {
    name: "backend port 0",
    yaml: ruleRoute({ backendRefs: [{ name: "s", port: 0 }] }),
    wantErrors: ["backendRefs[0].port: Invalid value: 0: must be greater than or equal to 1"],
  },
  {
    name: "backend port 65536",
    yaml: ruleRoute({ backendRefs: [{ name: "s", port: 65536 }] }),
    wantErrors: ["backendRefs[0].port: Invalid value: 65536: must be less than or equal to 65535"],
  },
  {
    name: "backend port as a string",
    yaml: ruleRoute({ backendRefs: [{ name: "s", port: "8080" }] }),
    wantErrors: ['backendRefs[0].port: Invalid value: "8080": must be of type integer'],
  },
  {
    name: "parentRef port 65536",
    yaml: route({ parentRefs: [{ name: "gw", port: 65536 }] }),
    wantErrors: ["spec.parentRefs[0].port: Invalid value: 65536"],
  },
  { name: "mirror percent 100", yaml: ruleRoute({ filters: [mirror({ percent: 100 })] }), wantErrors: [] },
  {
    name: "mirror percent 101",
    yaml: ruleRoute({ filters: [mirror({ percent: 101 })] }),
    wantErrors: ["requestMirror.percent: Invalid value: 101: must be less than or equal to 100"],
  },
  {
    name: "mirror fraction equal",
    yaml: ruleRoute({ filters: [mirror({ fraction: { numerator: 5, denominator: 5 } })] }),
    wantErrors: [],
  },
  {
    name: "mirror fraction over one",
    yaml: ruleRoute({ filters: [mirror({ fraction: { numerator: 6, denominator: 5 } })] }),
    wantErrors: [
      "requestMirror.fraction: Invalid value: object: numerator must be less than or equal to denominator",
    ],
  },
  {
    name: "mirror fraction default denominator 100",
    yaml: ruleRoute({ filters: [mirror({ fraction: { numerator: 101 } })] }),
    wantErrors: ["numerator must be less than or equal to denominator"],
  },
  {
    name: "mirror fraction denominator 0",
    yaml: ruleRoute({ filters: [mirror({ fraction: { numerator: 0, denominator: 0 } })] }),
    wantErrors: ["fraction.denominator: Invalid value: 0: must be greater than or equal to 1"],
  },
  {
    name: "mirror percent and fraction",
    yaml: ruleRoute({ filters: [mirror({ percent: 5, fraction: { numerator: 1 } })] }),
    wantErrors: ["Only one of percent or fraction may be specified in HTTPRequestMirrorFilter"],
  },
  {
    name: "mirror without port",
    yaml: ruleRoute({ filters: [{ type: "RequestMirror", requestMirror: { backendRef: { name: "m" } } }] }),
    wantErrors: [
      "filters[0].requestMirror.backendRef: Invalid value: object: Must have port for Service reference",
    ],
  },
  {
    name: "mirror without backendRef",
    yaml: ruleRoute({ filters: [{ type: "RequestMirror", requestMirror: {} }] }),
    wantErrors: ["requestMirror.backendRef: Required value"],
  },
  { name: "64 listeners", yaml: gateway({ listeners: times(64, (i) => listener(i)) }), wantErrors: [] },
  {
    name: "65 listeners",
    yaml: gateway({ listeners: times(65, (i) => listener(i)) }),
    wantErrors: ["spec.listeners: Too many: 65: must have at most 64 items"],
  },
  {
    name: "no listeners",
    yaml: gateway({ listeners: [] }),
    wantErrors: ["spec.listeners: Invalid value: 0 items: must have at least 1 items"],
  },
  {
    name: "listener port 65536",
    yaml: gateway({ listeners: [listener(0, { port: 65536 })] }),
    wantErrors: ["spec.listeners[0].port: Invalid value: 65536: must be less than or equal to 65535"],
  },
  {
    name: "label value of 63 characters",
    yaml: JSON.stringify({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "n", labels: { a: label63 } },
    }),
    wantErrors: [],
  },
  {
    name: "label value of 64 characters",
    yaml: JSON.stringify({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "n", labels: { a: `${label63}a` } },
    }),
    wantErrors: ["metadata.labels[a]: Too long: may not be more than 63 characters (got 64)"],
  },
  // --- CEL rules and patterns -----------------------------------------------------------------------
  {
    name: "method match without service or method",
    yaml: ruleRoute({ matches: [{ method: { type: "Exact" } }] }),
    wantErrors: [
      "spec.rules[0].matches[0].method: Invalid value: object: One or both of 'service' or 'method' must be specified",
    ],
  },
  {
    name: "exact service with a slash",
    yaml: ruleRoute({ matches: [{ method: { service: "a/b" } }] }),
    wantErrors: [
      'method.service: Invalid value: "a/b": service must only contain valid characters (matching ^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$)',
    ],
  },
  {
    name: "exact service with leading dot and capitals",
    yaml: ruleRoute({ matches: [{ method: { service: ".Helloworld.Greeter_2" } }] }),
    wantErrors: [],
  },
  {
    name: "exact method with a dot",
    yaml: ruleRoute({ matches: [{ method: { service: "s", method: "Say.Hello" } }] }),
    wantErrors: [
      'method.method: Invalid value: "Say.Hello": method must only contain valid characters (matching ^[A-Za-z_][A-Za-z_0-9]*$)',
    ],
  },
  {
    name: "regular expression values are not checked by the schema",
    yaml: ruleRoute({ matches: [{ method: { type: "RegularExpression", service: "(", method: "a/b" } }] }),
    wantErrors: [],
  },
  {
    name: "unknown method match type",
    yaml: ruleRoute({ matches: [{ method: { type: "Prefix", service: "s" } }] }),
    wantErrors: ['method.type: Unsupported value: "Prefix": supported values: "Exact", "RegularExpression"'],
  },
  {
    name: "unknown header match type",
    yaml: ruleRoute({ matches: [{ headers: [{ type: "Prefix", name: "a", value: "b" }] }] }),
    wantErrors: ['headers[0].type: Unsupported value: "Prefix"'],
  },
  {
    name: "header name with a space",
    yaml: ruleRoute({ matches: [{ headers: [{ name: "a b", value: "b" }] }] }),
    wantErrors: ['headers[0].name: Invalid value: "a b": should match'],
  },
  {
    name: "header match without value",
    yaml: ruleRoute({ matches: [{ headers: [{ name: "a" }] }] }),
    wantErrors: ["headers[0].value: Required value"],
  },
  {
    name: "repeated header match name",
    yaml: ruleRoute({
      matches: [
        {
          headers: [
            { name: "a", value: "1" },
            { name: "a", value: "2" },
          ],
        },
      ],
    }),
    wantErrors: ['headers[1].name: Duplicate value: "a"'],
  },
  {
    name: "header names differing in case are distinct keys",
    yaml: ruleRoute({
      matches: [
        {
          headers: [
            { name: "a", value: "1" },
            { name: "A", value: "2" },
          ],
        },
      ],
    }),
    wantErrors: [],
  },
  {
    name: "backendRef without port",
    yaml: ruleRoute({ backendRefs: [{ name: "svc" }] }),
    wantErrors: ["spec.rules[0].backendRefs[0]: Invalid value: object: Must have port for Service reference"],
  },
  {
    name: "backendRef of another kind without port",
    yaml: ruleRoute({ backendRefs: [{ group: "example.com", kind: "Thing", name: "t" }] }),
    wantErrors: [],
  },
  {
    name: "backendRef without name",
    yaml: ruleRoute({ backendRefs: [{ port: 80 }] }),
    wantErrors: ["backendRefs[0].name: Required value"],
  },
  {
    name: "filter without its member",
    yaml: ruleRoute({ filters: [{ type: "RequestMirror" }] }),
    wantErrors: ["filter.requestMirror must be specified for RequestMirror filter.type"],
  },
  {
    name: "filter with another member",
    yaml: ruleRoute({
      filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: {}, responseHeaderModifier: {} }],
    }),
    wantErrors: [
      "filter.responseHeaderModifier must be nil if the filter.type is not ResponseHeaderModifier",
    ],
  },
  {
    name: "filter of unknown type",
    yaml: ruleRoute({ filters: [{ type: "URLRewrite" }] }),
    wantErrors: ['filters[0].type: Unsupported value: "URLRewrite"'],
  },
  {
    name: "repeated RequestHeaderModifier",
    yaml: ruleRoute({ filters: [headerFilter("set", 1), headerFilter("add", 1)] }),
    wantErrors: [
      "spec.rules[0].filters: Invalid value: array: RequestHeaderModifier filter cannot be repeated",
    ],
  },
  {
    name: "repeated ResponseHeaderModifier on a backendRef",
    yaml: ruleRoute({
      backendRefs: [
        {
          ...BACKEND,
          filters: times(2, () => ({
            type: "ResponseHeaderModifier",
            responseHeaderModifier: { remove: ["x"] },
          })),
        },
      ],
    }),
    wantErrors: [
      "backendRefs[0].filters: Invalid value: array: ResponseHeaderModifier filter cannot be repeated",
    ],
  },
  {
    name: "RequestMirror may repeat",
    yaml: ruleRoute({ filters: [mirror(), mirror()] }),
    wantErrors: [],
  },
  {
    name: "ExtensionRef needs group, kind and name",
    yaml: ruleRoute({ filters: [{ type: "ExtensionRef", extensionRef: { name: "x" } }] }),
    wantErrors: ["extensionRef.group: Required value", "extensionRef.kind: Required value"],
  },
  {
    name: "repeated set name",
    yaml: ruleRoute({
      filters: [
        {
          type: "RequestHeaderModifier",
          requestHeaderModifier: {
            set: [
              { name: "a", value: "1" },
              { name: "a", value: "2" },
            ],
          },
        },
      ],
    }),
    wantErrors: ['set[1].name: Duplicate value: "a"'],
  },
  {
    name: "repeated remove name",
    yaml: ruleRoute({
      filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: { remove: ["a", "a"] } }],
    }),
    wantErrors: ['remove[1]: Duplicate value: "a"'],
  },
  {
    name: "two refs to one parent, one without sectionName",
    yaml: route({ parentRefs: [{ name: "gw" }, { name: "gw", sectionName: "https" }] }),
    wantErrors: [
      "sectionName must be specified when parentRefs includes 2 or more references to the same parent",
    ],
  },
  {
    name: "two refs to one parent with one sectionName",
    yaml: route({
      parentRefs: [
        { name: "gw", sectionName: "a" },
        { name: "gw", sectionName: "a" },
      ],
    }),
    wantErrors: [
      "sectionName must be unique when parentRefs includes 2 or more references to the same parent",
    ],
  },
  {
    name: "two refs to one parent without sectionName",
    yaml: route({ parentRefs: [{ name: "gw" }, { name: "gw" }] }),
    wantErrors: [
      "sectionName must be unique when parentRefs includes 2 or more references to the same parent",
    ],
  },
  {
    name: "refs to one parent with distinct sectionNames",
    yaml: route({
      parentRefs: [
        { name: "gw", sectionName: "a" },
        { name: "gw", sectionName: "b" },
      ],
    }),
    wantErrors: [],
  },
  {
    name: "refs to one name in different namespaces",
    yaml: route({ parentRefs: [{ name: "gw" }, { name: "gw", namespace: "other" }] }),
    wantErrors: [],
  },
  {
    name: "sectionName with capitals",
    yaml: route({ parentRefs: [{ name: "gw", sectionName: "HTTPS" }] }),
    wantErrors: ['spec.parentRefs[0].sectionName: Invalid value: "HTTPS": should match'],
  },
  {
    name: "parentRef without name",
    yaml: route({ parentRefs: [{ sectionName: "a" }] }),
    wantErrors: ["spec.parentRefs[0].name: Required value"],
  },
  {
    name: "uppercase hostname",
    yaml: route({ hostnames: ["Example.com"] }),
    wantErrors: ['spec.hostnames[0]: Invalid value: "Example.com": should match'],
  },
  { name: "wildcard hostname", yaml: route({ hostnames: ["*.example.com"] }), wantErrors: [] },
  {
    name: "wildcard inside a hostname",
    yaml: route({ hostnames: ["a.*.example.com"] }),
    wantErrors: ['spec.hostnames[0]: Invalid value: "a.*.example.com"'],
  },
  {
    name: "hostname with a port",
    yaml: route({ hostnames: ["example.com:443"] }),
    wantErrors: ['spec.hostnames[0]: Invalid value: "example.com:443"'],
  },
  {
    name: "rule name with capitals",
    yaml: ruleRoute({ name: "Rule" }),
    wantErrors: ['spec.rules[0].name: Invalid value: "Rule": should match'],
  },
  {
    name: "route without spec",
    yaml: JSON.stringify({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GRPCRoute",
      metadata: { name: "r" },
    }),
    wantErrors: ["spec: Required value"],
  },
  {
    name: "rules not a list",
    yaml: route({ rules: { a: 1 } }),
    wantErrors: ["spec.rules: Invalid value: object: must be of type array"],
  },
  {
    name: "route name with capitals",
    yaml: JSON.stringify({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GRPCRoute",
      metadata: { name: "Greeter" },
      spec: {},
    }),
    wantErrors: ['metadata.name: Invalid value: "Greeter": should match'],
  },
  {
    name: "object without name",
    yaml: JSON.stringify({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GRPCRoute",
      metadata: {},
      spec: {},
    }),
    wantErrors: ["metadata.name: Required value"],
  },
  {
    name: "bad creationTimestamp",
    yaml: JSON.stringify({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GRPCRoute",
      metadata: { name: "r", creationTimestamp: "yesterday" },
      spec: {},
    }),
    wantErrors: ['metadata.creationTimestamp: Invalid value: "yesterday": must be an RFC 3339 time'],
  },
  {
    name: "GRPCRoute v1alpha2 is not served",
    yaml: route({}).replace("gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1alpha2"),
    wantErrors: ['apiVersion: Unsupported value: "gateway.networking.k8s.io/v1alpha2"'],
  },
  {
    name: "every violation is reported",
    yaml: ruleRoute({
      matches: [{ method: { service: "a/b", method: "c/d" } }, { headers: [{ name: "a b", value: "" }] }],
      backendRefs: [{ name: "s", weight: 2_000_000 }],
    }),
    wantErrors: [
      "matches[0].method.service: Invalid value",
      "matches[0].method.method: Invalid value",
      "matches[1].headers[0].name: Invalid value",
      'matches[1].headers[0].value: Invalid value: "": must be at least 1 characters long',
      "backendRefs[0]: Invalid value: object: Must have port for Service reference",
      "backendRefs[0].weight: Invalid value: 2000000",
    ],
  },
  // --- Gateway -------------------------------------------------------------------------------------
  {
    name: "listener names must be unique",
    yaml: gateway({ listeners: [listener(0), { ...listener(1), name: "l0" }] }),
    wantErrors: ["spec.listeners: Invalid value: array: Listener name must be unique within the Gateway"],
  },
  {
    name: "port, protocol and hostname must be unique",
    yaml: gateway({ listeners: [listener(0), { ...listener(0), name: "other" }] }),
    wantErrors: ["Combination of port, protocol and hostname must be unique for each listener"],
  },
  {
    name: "same port and protocol, distinct hostnames",
    yaml: gateway({
      listeners: [
        listener(0, { hostname: "a.example.com" }),
        { ...listener(0, { hostname: "b.example.com" }), name: "b" },
      ],
    }),
    wantErrors: [],
  },
  {
    name: "tls on an HTTP listener",
    yaml: gateway({ listeners: [listener(0, { tls: { certificateRefs: [{ name: "c" }] } })] }),
    wantErrors: [
      "spec.listeners[0]: Invalid value: object: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']",
    ],
  },
  {
    name: "HTTPS with Passthrough",
    yaml: gateway({ listeners: [listener(0, { protocol: "HTTPS", tls: { mode: "Passthrough" } })] }),
    wantErrors: ["tls mode must be Terminate for protocol HTTPS"],
  },
  {
    name: "Terminate without certificateRefs or options",
    yaml: gateway({ listeners: [listener(0, { protocol: "HTTPS", tls: {} })] }),
    wantErrors: [
      "spec.listeners[0].tls: Invalid value: object: certificateRefs or options must be specified when mode is Terminate",
    ],
  },
  {
    name: "HTTPS without tls (a Lattice listener)",
    yaml: gateway({ listeners: [listener(0, { protocol: "HTTPS" })] }),
    wantErrors: [],
  },
  {
    name: "hostname on a TCP listener",
    yaml: gateway({ listeners: [listener(0, { protocol: "TCP", hostname: "a.example.com" })] }),
    wantErrors: ["hostname must not be specified for protocols ['TCP', 'UDP']"],
  },
  {
    name: "unknown allowedRoutes.namespaces.from",
    yaml: gateway({ listeners: [listener(0, { allowedRoutes: { namespaces: { from: "Some" } } })] }),
    wantErrors: [
      'allowedRoutes.namespaces.from: Unsupported value: "Some": supported values: "All", "Selector", "Same"',
    ],
  },
  {
    name: "selector operator In without values",
    yaml: gateway({
      listeners: [
        listener(0, {
          allowedRoutes: {
            namespaces: { from: "Selector", selector: { matchExpressions: [{ key: "a", operator: "In" }] } },
          },
        }),
      ],
    }),
    wantErrors: ["matchExpressions[0].values: Required value"],
  },
  {
    name: "9 route kinds",
    yaml: gateway({
      listeners: [listener(0, { allowedRoutes: { kinds: times(9, () => ({ kind: "GRPCRoute" })) } })],
    }),
    wantErrors: ["allowedRoutes.kinds: Too many: 9: must have at most 8 items"],
  },
  {
    name: "listener without protocol and port",
    yaml: gateway({ listeners: [{ name: "x" }] }),
    wantErrors: ["spec.listeners[0].port: Required value", "spec.listeners[0].protocol: Required value"],
  },
  {
    name: "gateway without gatewayClassName",
    yaml: JSON.stringify({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "gw" },
      spec: { listeners: [listener(0)] },
    }),
    wantErrors: ["spec.gatewayClassName: Required value"],
  },
  {
    name: "GatewayClass controllerName without a path",
    yaml: JSON.stringify({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: "c" },
      spec: { controllerName: "grpcroute.dev" },
    }),
    wantErrors: ['spec.controllerName: Invalid value: "grpcroute.dev": should match'],
  },
  {
    name: "addresses of every type, and an empty value",
    yaml: gateway({
      addresses: [
        { value: "10.0.0.1" },
        { type: "Hostname", value: "gw.example.com" },
        { type: "IPAddress" },
      ],
    }),
    wantErrors: [],
  },
  {
    name: "IPAddress that is not an IP",
    yaml: gateway({ addresses: [{ value: "gw.example.com" }] }),
    wantErrors: ['spec.addresses[0]: Invalid value: "gw.example.com": IPAddress value must be an IP address'],
  },
  {
    name: "Hostname address with capitals",
    yaml: gateway({ addresses: [{ type: "Hostname", value: "GW.example.com" }] }),
    wantErrors: ["Hostname value must only contain valid characters"],
  },
  {
    name: "repeated IPAddress",
    yaml: gateway({ addresses: [{ value: "10.0.0.1" }, { type: "IPAddress", value: "10.0.0.1" }] }),
    wantErrors: ["spec.addresses: Invalid value: array: IPAddress values must be unique"],
  },
  // --- core kinds and ReferenceGrant ---------------------------------------------------------------
  {
    name: "Service with two unnamed ports",
    yaml: JSON.stringify({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s" },
      spec: { ports: [{ port: 1 }, { port: 2 }] },
    }),
    wantErrors: ["spec.ports[0].name: Required value", "spec.ports[1].name: Required value"],
  },
  {
    name: "Service without ports",
    yaml: JSON.stringify({ apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: {} }),
    wantErrors: ["spec.ports: Required value"],
  },
  {
    name: "ExternalName Service without externalName",
    yaml: JSON.stringify({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s" },
      spec: { type: "ExternalName" },
    }),
    wantErrors: ["spec.externalName: Required value"],
  },
  {
    name: "Service name starting with a digit",
    yaml: JSON.stringify({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "1s" },
      spec: { ports: [{ port: 1 }] },
    }),
    wantErrors: ['metadata.name: Invalid value: "1s": should match'],
  },
  {
    name: "EndpointSlice without service-name label",
    yaml: JSON.stringify({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "e" },
      addressType: "IPv4",
    }),
    wantErrors: ["metadata.labels[kubernetes.io/service-name]: Required value"],
  },
  {
    name: "EndpointSlice with a bad IPv4 address",
    yaml: JSON.stringify({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "e", labels: { "kubernetes.io/service-name": "s" } },
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.0.0.300"] }],
    }),
    wantErrors: ['endpoints[0].addresses[0]: Invalid value: "10.0.0.300": must be a valid IPv4 address'],
  },
  {
    name: "EndpointSlice without addressType",
    yaml: JSON.stringify({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "e", labels: { "kubernetes.io/service-name": "s" } },
    }),
    wantErrors: ["addressType: Required value"],
  },
  {
    name: "Secret with invalid base64",
    yaml: JSON.stringify({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s" },
      data: { "tls.key": "not base64!" },
    }),
    wantErrors: ["data[tls.key]: Invalid value: not valid base64"],
  },
  {
    name: "TLS Secret without key",
    yaml: JSON.stringify({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s" },
      type: "kubernetes.io/tls",
      stringData: { "tls.crt": "x" },
    }),
    wantErrors: ["data[tls.key]: Required value"],
  },
  {
    name: "ReferenceGrant without to",
    yaml: JSON.stringify({
      apiVersion: "gateway.networking.k8s.io/v1beta1",
      kind: "ReferenceGrant",
      metadata: { name: "g" },
      spec: { from: [{ group: "gateway.networking.k8s.io", kind: "GRPCRoute", namespace: "a" }] },
    }),
    wantErrors: ["spec.to: Required value"],
  },
  {
    name: "ReferenceGrant from without group",
    yaml: JSON.stringify({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "ReferenceGrant",
      metadata: { name: "g" },
      spec: { from: [{ kind: "GRPCRoute", namespace: "a" }], to: [{ group: "", kind: "Service" }] },
    }),
    wantErrors: ["spec.from[0].group: Required value"],
  },
  {
    name: "Namespace name of 64 characters",
    yaml: JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: `${label63}a` } }),
    wantErrors: ["metadata.name: Too long: may not be more than 63 characters (got 64)"],
  },
];

for (const c of cases) {
  test(`schema: ${c.name}`, () => {
    const res = parseText(c.yaml, "case.yaml");
    assert.deepEqual(res.fatal, [], "the case must parse");
    const errors = res.issues.filter((i) => i.severity === "error").map(formatIssue);
    const total = Object.values(res.resources).reduce((n, list: unknown[]) => n + list.length, 0);
    if (c.wantErrors.length === 0) {
      assert.deepEqual(errors, [], "expected the object to be accepted");
      assert.equal(total, 1, "the accepted object is in resources");
      return;
    }
    assert.equal(total, 0, "a rejected object is not in resources");
    for (const want of c.wantErrors) {
      assert.ok(
        errors.some((e) => e.includes(want)),
        `no error contains ${JSON.stringify(want)}; got:\n${errors.join("\n")}`,
      );
    }
    for (const e of errors)
      assert.ok(e.startsWith("case.yaml (document 0"), `error names file and document: ${e}`);
  });
}
