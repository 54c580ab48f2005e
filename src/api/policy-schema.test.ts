/**
 * Schema rules of the policy kinds (TrafficPolicy, BackendTLSPolicy) and ConfigMap, table-driven: each limit
 * at its boundary (accepted) and just over (rejected), each cross-field rule with its exact message, and the
 * defaults a valid object gets.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatIssue, parseText } from "./parse.js";
import { formatDuration, parseDuration } from "./schema/duration.js";

type Json = Record<string, unknown>;

const times = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
const ROUTE_TARGET = { group: "gateway.networking.k8s.io", kind: "GRPCRoute", name: "greeter" };
const SERVICE_TARGET = { group: "", kind: "Service", name: "greeter" };

function trafficPolicy(spec: Json): string {
  return JSON.stringify({
    apiVersion: "grpcroute.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name: "p", namespace: "ns" },
    spec: { targetRefs: [ROUTE_TARGET], ...spec },
  });
}

function tlsPolicy(validation: Json, spec: Json = {}): string {
  return JSON.stringify({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "BackendTLSPolicy",
    metadata: { name: "t", namespace: "ns" },
    spec: {
      targetRefs: [SERVICE_TARGET],
      validation: { hostname: "backend.example.com", wellKnownCACertificates: "System", ...validation },
      ...spec,
    },
  });
}

interface Case {
  name: string;
  yaml: string;
  /** Substrings that must each appear in some error; empty: the object must be accepted. */
  wantErrors: string[];
}

const retry = (r: Json): string => trafficPolicy({ retry: { attempts: 2, ...r } });

const cases: Case[] = [
  // --- TrafficPolicy ----------------------------------------------------------------------------------
  { name: "timeouts only", yaml: trafficPolicy({ timeouts: { request: "5s" } }), wantErrors: [] },
  {
    name: "no field group",
    yaml: trafficPolicy({}),
    wantErrors: [
      "spec: Invalid value: object: at least one of timeouts, retry, healthCheck, outlierDetection, cors or transcoding must be specified",
    ],
  },
  { name: "transcoding", yaml: trafficPolicy({ transcoding: { enabled: true } }), wantErrors: [] },
  {
    name: "transcoding without enabled",
    yaml: trafficPolicy({ transcoding: {} }),
    wantErrors: ["spec.transcoding.enabled: Required value"],
  },
  {
    name: "transcoding enabled not a boolean",
    yaml: trafficPolicy({ transcoding: { enabled: "yes" } }),
    wantErrors: ['spec.transcoding.enabled: Invalid value: "yes": must be of type boolean'],
  },

  {
    name: "cors only",
    yaml: trafficPolicy({
      cors: {
        allowOrigins: ["https://app.example.com", "https://*.example.org"],
        allowMethods: ["POST"],
        allowHeaders: ["content-type", "x-grpc-web"],
        exposeHeaders: ["x-backend"],
        maxAge: 600,
        allowCredentials: true,
      },
    }),
    wantErrors: [],
  },
  {
    name: "cors: bad origin, method, header, maxAge; * with credentials",
    yaml: trafficPolicy({
      cors: {
        allowOrigins: ["app.example.com", "*"],
        allowMethods: ["FETCH"],
        allowHeaders: ["bad header"],
        maxAge: 0,
        allowCredentials: true,
      },
    }),
    wantErrors: [
      'spec.cors.allowOrigins[0]: Invalid value: "app.example.com": must be * or scheme://host[:port]',
      'spec.cors.allowMethods[0]: Unsupported value: "FETCH"',
      'spec.cors.allowHeaders[0]: Invalid value: "bad header": must be a header name',
      "spec.cors.maxAge: Invalid value: 0: must be greater than or equal to 1",
      'spec.cors.allowOrigins: Invalid value: "*": cannot be combined with allowCredentials: true',
    ],
  },
  {
    name: "cors: too many origins",
    yaml: trafficPolicy({
      cors: { allowOrigins: Array.from({ length: 65 }, (_, i) => `https://h${i}.example.com`) },
    }),
    wantErrors: ["spec.cors.allowOrigins: Too many: 65: must have at most 64 items"],
  },
  {
    name: "empty timeouts",
    yaml: trafficPolicy({ timeouts: {} }),
    wantErrors: [
      "spec.timeouts: Invalid value: object: at least one of request, streamIdle or connect must be specified",
    ],
  },
  {
    name: "no targetRefs",
    yaml: trafficPolicy({ targetRefs: [], timeouts: { request: "1s" } }),
    wantErrors: ["spec.targetRefs: Invalid value: 0 items: must have at least 1 items"],
  },
  {
    name: "16 targetRefs",
    yaml: trafficPolicy({
      targetRefs: times(16, (i) => ({ ...ROUTE_TARGET, name: `r${i}` })),
      timeouts: { request: "1s" },
    }),
    wantErrors: [],
  },
  {
    name: "17 targetRefs",
    yaml: trafficPolicy({
      targetRefs: times(17, (i) => ({ ...ROUTE_TARGET, name: `r${i}` })),
      timeouts: { request: "1s" },
    }),
    wantErrors: ["spec.targetRefs: Too many: 17: must have at most 16 items"],
  },
  {
    name: "targetRef without group",
    yaml: trafficPolicy({ targetRefs: [{ kind: "Service", name: "s" }], timeouts: { connect: "1s" } }),
    wantErrors: ["spec.targetRefs[0].group: Required value"],
  },
  {
    name: "two targetRefs to one target, one with sectionName",
    yaml: trafficPolicy({
      targetRefs: [ROUTE_TARGET, { ...ROUTE_TARGET, sectionName: "a" }],
      timeouts: { request: "1s" },
    }),
    wantErrors: [
      "spec.targetRefs: Invalid value: array: sectionName must be specified when targetRefs includes 2 or more references to the same target",
    ],
  },
  {
    name: "two targetRefs to one section",
    yaml: trafficPolicy({
      targetRefs: [
        { ...ROUTE_TARGET, sectionName: "a" },
        { ...ROUTE_TARGET, sectionName: "a" },
      ],
      timeouts: { request: "1s" },
    }),
    wantErrors: [
      "sectionName must be unique when targetRefs includes 2 or more references to the same target",
    ],
  },
  {
    name: "durations of every unit",
    yaml: trafficPolicy({ timeouts: { request: "1h30m", streamIdle: "500ms", connect: "0s" } }),
    wantErrors: [],
  },
  {
    name: "a fractional duration",
    yaml: trafficPolicy({ timeouts: { request: "1.5s" } }),
    wantErrors: [
      `spec.timeouts.request: Invalid value: "1.5s": should match '^([0-9]{1,5}(h|m|s|ms)){1,4}$'`,
    ],
  },
  {
    name: "a duration in days",
    yaml: trafficPolicy({ timeouts: { streamIdle: "1d" } }),
    wantErrors: ['spec.timeouts.streamIdle: Invalid value: "1d": should match'],
  },
  {
    name: "a duration as a number",
    yaml: trafficPolicy({ timeouts: { request: 5 } }),
    wantErrors: ["spec.timeouts.request: Invalid value: 5: must be of type string"],
  },
  {
    name: "a negative duration",
    yaml: trafficPolicy({ timeouts: { request: "-1s" } }),
    wantErrors: ['spec.timeouts.request: Invalid value: "-1s"'],
  },
  { name: "5 attempts", yaml: retry({ attempts: 5 }), wantErrors: [] },
  {
    name: "6 attempts",
    yaml: retry({ attempts: 6 }),
    wantErrors: ["spec.retry.attempts: Invalid value: 6: must be less than or equal to 5"],
  },
  {
    name: "0 attempts",
    yaml: retry({ attempts: 0 }),
    wantErrors: ["spec.retry.attempts: Invalid value: 0: must be greater than or equal to 1"],
  },
  {
    name: "retry without attempts",
    yaml: trafficPolicy({ retry: { on: ["UNAVAILABLE"] } }),
    wantErrors: ["spec.retry.attempts: Required value"],
  },
  {
    name: "retry on an unknown code",
    yaml: retry({ on: ["UNAVAILABLE", "NOT_A_CODE"] }),
    wantErrors: ['spec.retry.on[1]: Unsupported value: "NOT_A_CODE": supported values: "CANCELLED"'],
  },
  {
    name: "retry on OK",
    yaml: retry({ on: ["OK"] }),
    wantErrors: ['spec.retry.on[0]: Unsupported value: "OK"'],
  },
  {
    name: "retry on a repeated code",
    yaml: retry({ on: ["UNAVAILABLE", "UNAVAILABLE"] }),
    wantErrors: ['spec.retry.on[1]: Duplicate value: "UNAVAILABLE"'],
  },
  {
    name: "retry on nothing",
    yaml: retry({ on: [] }),
    wantErrors: ["spec.retry.on: Invalid value: 0 items: must have at least 1 items"],
  },
  {
    name: "backoff base above max",
    yaml: retry({ backoff: { base: "1s", max: "100ms" } }),
    wantErrors: ["spec.retry.backoff: Invalid value: object: base must be less than or equal to max"],
  },
  {
    name: "backoff base 0s",
    yaml: retry({ backoff: { base: "0s" } }),
    wantErrors: ['spec.retry.backoff.base: Invalid value: "0s": must be at least 1ms'],
  },
  { name: "maxBufferedBytes 4 MiB", yaml: retry({ maxBufferedBytes: 4194304 }), wantErrors: [] },
  {
    name: "maxBufferedBytes over 4 MiB",
    yaml: retry({ maxBufferedBytes: 4194305 }),
    wantErrors: [
      "spec.retry.maxBufferedBytes: Invalid value: 4194305: must be less than or equal to 4194304",
    ],
  },
  {
    name: "budgetPercent 101",
    yaml: retry({ budgetPercent: 101 }),
    wantErrors: ["spec.retry.budgetPercent: Invalid value: 101: must be less than or equal to 100"],
  },
  {
    name: "perTryTimeout 0s",
    yaml: retry({ perTryTimeout: "0s" }),
    wantErrors: ['spec.retry.perTryTimeout: Invalid value: "0s": must be at least 1ms'],
  },
  {
    name: "health check without grpc",
    yaml: trafficPolicy({ targetRefs: [SERVICE_TARGET], healthCheck: { interval: "5s" } }),
    wantErrors: ["spec.healthCheck.grpc: Required value"],
  },
  {
    name: "health check every 100ms",
    yaml: trafficPolicy({ targetRefs: [SERVICE_TARGET], healthCheck: { grpc: {}, interval: "100ms" } }),
    wantErrors: [],
  },
  {
    name: "health check every 99ms",
    yaml: trafficPolicy({ targetRefs: [SERVICE_TARGET], healthCheck: { grpc: {}, interval: "99ms" } }),
    wantErrors: ['spec.healthCheck.interval: Invalid value: "99ms": must be at least 100ms'],
  },
  {
    name: "unhealthyThreshold 0",
    yaml: trafficPolicy({ targetRefs: [SERVICE_TARGET], healthCheck: { grpc: {}, unhealthyThreshold: 0 } }),
    wantErrors: ["spec.healthCheck.unhealthyThreshold: Invalid value: 0: must be greater than or equal to 1"],
  },
  {
    name: "maxEjectionPercent 101",
    yaml: trafficPolicy({ targetRefs: [SERVICE_TARGET], outlierDetection: { maxEjectionPercent: 101 } }),
    wantErrors: [
      "spec.outlierDetection.maxEjectionPercent: Invalid value: 101: must be less than or equal to 100",
    ],
  },
  {
    name: "consecutiveFailures 0",
    yaml: trafficPolicy({ targetRefs: [SERVICE_TARGET], outlierDetection: { consecutiveFailures: 0 } }),
    wantErrors: ["spec.outlierDetection.consecutiveFailures: Invalid value: 0"],
  },
  {
    name: "TrafficPolicy of another version",
    yaml: trafficPolicy({ timeouts: { request: "1s" } }).replace("v1alpha1", "v1"),
    wantErrors: [
      'apiVersion: Unsupported value: "grpcroute.dev/v1": TrafficPolicy is served as "grpcroute.dev/v1alpha1"',
    ],
  },
  // --- BackendTLSPolicy -------------------------------------------------------------------------------
  { name: "well-known CAs", yaml: tlsPolicy({}), wantErrors: [] },
  {
    name: "a CA ConfigMap",
    yaml: tlsPolicy({
      wellKnownCACertificates: undefined,
      caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "ca" }],
    }),
    wantErrors: [],
  },
  {
    name: "both CA sources",
    yaml: tlsPolicy({ caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "ca" }] }),
    wantErrors: [
      "spec.validation: Invalid value: object: must not contain both CACertificateRefs and WellKnownCACertificates",
    ],
  },
  {
    name: "no CA source",
    yaml: tlsPolicy({ wellKnownCACertificates: undefined }),
    wantErrors: [
      "spec.validation: Invalid value: object: must specify either CACertificateRefs or WellKnownCACertificates",
    ],
  },
  {
    name: "unknown well-known CAs",
    yaml: tlsPolicy({ wellKnownCACertificates: "Mozilla" }),
    wantErrors: [
      'spec.validation.wellKnownCACertificates: Unsupported value: "Mozilla": supported values: "System"',
    ],
  },
  {
    name: "9 CA refs",
    yaml: tlsPolicy({
      wellKnownCACertificates: undefined,
      caCertificateRefs: times(9, (i) => ({ group: "", kind: "ConfigMap", name: `ca${i}` })),
    }),
    wantErrors: ["spec.validation.caCertificateRefs: Too many: 9: must have at most 8 items"],
  },
  {
    name: "a wildcard hostname",
    yaml: tlsPolicy({ hostname: "*.example.com" }),
    wantErrors: ['spec.validation.hostname: Invalid value: "*.example.com": should match'],
  },
  {
    name: "no hostname",
    yaml: tlsPolicy({ hostname: undefined }),
    wantErrors: ["spec.validation.hostname: Required value"],
  },
  {
    name: "SANs of both types",
    yaml: tlsPolicy({
      subjectAltNames: [
        { type: "Hostname", hostname: "*.example.com" },
        { type: "URI", uri: "spiffe://cluster.local/ns/a/sa/b" },
      ],
    }),
    wantErrors: [],
  },
  {
    name: "a Hostname SAN without hostname",
    yaml: tlsPolicy({ subjectAltNames: [{ type: "Hostname", uri: "spiffe://x/y" }] }),
    wantErrors: [
      "SubjectAltName element must contain Hostname, if Type is set to Hostname",
      "SubjectAltName element must not contain URI, if Type is not set to URI",
    ],
  },
  {
    name: "a URI SAN that is not a URI",
    yaml: tlsPolicy({ subjectAltNames: [{ type: "URI", uri: "not a uri" }] }),
    wantErrors: ['spec.validation.subjectAltNames[0].uri: Invalid value: "not a uri": should match'],
  },
  {
    name: "6 SANs",
    yaml: tlsPolicy({
      subjectAltNames: times(6, (i) => ({ type: "Hostname", hostname: `h${i}.example.com` })),
    }),
    wantErrors: ["spec.validation.subjectAltNames: Too many: 6: must have at most 5 items"],
  },
  {
    name: "BackendTLSPolicy v1alpha3",
    yaml: tlsPolicy({}).replace("gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1alpha3"),
    wantErrors: [],
  },
  // --- ConfigMap ------------------------------------------------------------------------------------
  {
    name: "ConfigMap with data and binaryData",
    yaml: JSON.stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "ca" },
      data: { "ca.crt": "PEM" },
      binaryData: { other: Buffer.from("x").toString("base64") },
    }),
    wantErrors: [],
  },
  {
    name: "ConfigMap key in data and binaryData",
    yaml: JSON.stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "ca" },
      data: { a: "x" },
      binaryData: { a: "eA==" },
    }),
    wantErrors: ['binaryData[a]: Invalid value: "a": duplicate of key present in data'],
  },
  {
    name: "ConfigMap over 1 MiB",
    yaml: JSON.stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "ca" },
      data: { a: "x".repeat(1024 * 1024) },
    }),
    wantErrors: ["data: Too long: must have at most 1048576 bytes (got 1048577)"],
  },
];

describe("policy schemas", () => {
  for (const c of cases) {
    test(c.name, () => {
      const res = parseText(c.yaml, "x.yaml");
      assert.deepEqual(res.fatal, []);
      const errors = res.issues.filter((i) => i.severity === "error").map(formatIssue);
      if (c.wantErrors.length === 0) {
        assert.deepEqual(errors, [], "the object must be accepted");
        return;
      }
      for (const want of c.wantErrors) {
        assert.ok(
          errors.some((e) => e.includes(want)),
          `no error contains ${JSON.stringify(want)}; got:\n${errors.join("\n")}`,
        );
      }
    });
  }
});

describe("TrafficPolicy defaults", () => {
  test("retry, health check and outlier detection get their defaults", () => {
    const res = parseText(
      trafficPolicy({
        targetRefs: [SERVICE_TARGET],
        healthCheck: { grpc: {} },
        outlierDetection: {},
      }) +
        "\n---\n" +
        retry({}).replace('"name":"p"', '"name":"q"'),
      "x.yaml",
    );
    assert.deepEqual(res.issues, []);
    const [svc, rt] = res.resources.trafficPolicies;
    assert.deepEqual(svc?.spec.healthCheck, {
      grpc: { service: "" },
      interval: 5000,
      timeout: 1000,
      unhealthyThreshold: 3,
      healthyThreshold: 2,
    });
    assert.deepEqual(svc?.spec.outlierDetection, {
      consecutiveFailures: 5,
      interval: 10_000,
      baseEjectionTime: 30_000,
      maxEjectionPercent: 10,
    });
    assert.deepEqual(rt?.spec.retry, {
      attempts: 2,
      on: ["UNAVAILABLE"],
      backoff: { base: 25, max: 250 },
      maxBufferedBytes: 65536,
      budgetPercent: 20,
    });
  });
});

describe("durations", () => {
  const cases: [string, number | undefined][] = [
    ["0s", 0],
    ["500ms", 500],
    ["1h30m", 5_400_000],
    ["1m30s250ms", 90_250],
    ["99999h", 99_999 * 3_600_000],
    ["100000s", undefined],
    ["1h2m3s4ms5h", undefined],
    ["", undefined],
    ["s", undefined],
  ];
  for (const [text, ms] of cases) {
    test(`${JSON.stringify(text)} = ${ms}`, () => assert.equal(parseDuration(text), ms));
  }
  for (const ms of [0, 1, 999, 1000, 60_000, 90_250, 5_400_000]) {
    test(`format ${ms} round-trips`, () => assert.equal(parseDuration(formatDuration(ms)), ms));
  }
});
