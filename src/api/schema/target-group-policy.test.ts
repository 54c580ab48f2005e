/**
 * TargetGroupPolicy schema, table-driven: each range of the AWS CRD at its boundary (accepted) and just past
 * it (rejected with the API server's message), the enums, the GRPC health-check refusal, and that nothing
 * is defaulted (the CRD sets no defaults).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatIssue, parseText } from "../parse.js";

type Json = Record<string, unknown>;
const SERVICE = { group: "", kind: "Service", name: "greeter" };

function tgp(spec: Json, apiVersion = "application-networking.k8s.aws/v1alpha1"): string {
  return JSON.stringify({
    apiVersion,
    kind: "TargetGroupPolicy",
    metadata: { name: "p", namespace: "ns" },
    spec: { targetRef: SERVICE, ...spec },
  });
}
const hc = (h: Json): string => tgp({ healthCheck: h });

interface Case {
  name: string;
  json: string;
  /** Substrings that must each appear in some error; empty: accepted. */
  wantErrors: string[];
}

const cases: Case[] = [
  { name: "targetRef only", json: tgp({}), wantErrors: [] },
  {
    name: "the AWS docs example",
    json: tgp({
      protocol: "HTTPS",
      protocolVersion: "HTTP1",
      healthCheck: {
        enabled: true,
        intervalSeconds: 5,
        timeoutSeconds: 1,
        healthyThresholdCount: 3,
        unhealthyThresholdCount: 2,
        path: "/healthcheck",
        port: 80,
        protocol: "HTTP",
        protocolVersion: "HTTP1",
        statusMatch: "200",
      },
    }),
    wantErrors: [],
  },
  {
    name: "no targetRef",
    json: JSON.stringify({
      apiVersion: "application-networking.k8s.aws/v1alpha1",
      kind: "TargetGroupPolicy",
      metadata: { name: "p" },
      spec: {},
    }),
    wantErrors: ["spec.targetRef: Required value"],
  },
  {
    name: "targetRef without kind and name",
    json: tgp({ targetRef: { group: "" } }),
    wantErrors: ["spec.targetRef.kind: Required value", "spec.targetRef.name: Required value"],
  },
  {
    name: "targetRef namespace not a DNS label",
    json: tgp({ targetRef: { ...SERVICE, namespace: "Bad_NS" } }),
    wantErrors: ['spec.targetRef.namespace: Invalid value: "Bad_NS": should match'],
  },
  { name: "interval 5", json: hc({ intervalSeconds: 5 }), wantErrors: [] },
  { name: "interval 300", json: hc({ intervalSeconds: 300 }), wantErrors: [] },
  {
    name: "interval 4",
    json: hc({ intervalSeconds: 4 }),
    wantErrors: ["spec.healthCheck.intervalSeconds: Invalid value: 4: must be greater than or equal to 5"],
  },
  {
    name: "interval 301",
    json: hc({ intervalSeconds: 301 }),
    wantErrors: ["spec.healthCheck.intervalSeconds: Invalid value: 301: must be less than or equal to 300"],
  },
  { name: "timeout 1..120", json: hc({ timeoutSeconds: 120 }), wantErrors: [] },
  {
    name: "timeout 0",
    json: hc({ timeoutSeconds: 0 }),
    wantErrors: ["spec.healthCheck.timeoutSeconds: Invalid value: 0: must be greater than or equal to 1"],
  },
  {
    name: "timeout 121",
    json: hc({ timeoutSeconds: 121 }),
    wantErrors: ["spec.healthCheck.timeoutSeconds: Invalid value: 121: must be less than or equal to 120"],
  },
  {
    name: "thresholds 2 and 10",
    json: hc({ healthyThresholdCount: 2, unhealthyThresholdCount: 10 }),
    wantErrors: [],
  },
  {
    name: "thresholds 1 and 11",
    json: hc({ healthyThresholdCount: 1, unhealthyThresholdCount: 11 }),
    wantErrors: [
      "spec.healthCheck.healthyThresholdCount: Invalid value: 1: must be greater than or equal to 2",
      "spec.healthCheck.unhealthyThresholdCount: Invalid value: 11: must be less than or equal to 10",
    ],
  },
  { name: "port 65535", json: hc({ port: 65535 }), wantErrors: [] },
  {
    name: "port 0",
    json: hc({ port: 0 }),
    wantErrors: ["spec.healthCheck.port: Invalid value: 0: must be greater than or equal to 1"],
  },
  {
    name: "port as a string",
    json: hc({ port: "8080" }),
    wantErrors: ['spec.healthCheck.port: Invalid value: "8080": must be of type integer'],
  },
  {
    name: "enabled as a string",
    json: hc({ enabled: "true" }),
    wantErrors: ['spec.healthCheck.enabled: Invalid value: "true": must be of type boolean'],
  },
  { name: "HTTP2 health checks", json: hc({ protocolVersion: "HTTP2", protocol: "HTTPS" }), wantErrors: [] },
  {
    name: "GRPC health checks",
    json: hc({ protocolVersion: "GRPC" }),
    wantErrors: [
      'spec.healthCheck.protocolVersion: Unsupported value: "GRPC": supported values: "HTTP1", "HTTP2" (VPC Lattice health checks cannot use the GRPC protocol version; a gRPC target is checked with an HTTP1 or HTTP2 request)',
    ],
  },
  {
    name: "another health-check protocol version",
    json: hc({ protocolVersion: "HTTP3" }),
    wantErrors: [
      'spec.healthCheck.protocolVersion: Unsupported value: "HTTP3": supported values: "HTTP1", "HTTP2"',
    ],
  },
  {
    name: "TCP health checks",
    json: hc({ protocol: "TCP" }),
    wantErrors: ['spec.healthCheck.protocol: Unsupported value: "TCP": supported values: "HTTP", "HTTPS"'],
  },
  // The CRD leaves these free strings: the translator judges them (the policy's status).
  { name: "free protocol", json: tgp({ protocol: "QUIC", protocolVersion: "GRPC" }), wantErrors: [] },
  { name: "free statusMatch", json: hc({ statusMatch: "2xx" }), wantErrors: [] },
  {
    name: "wrong version",
    json: tgp({}, "application-networking.k8s.aws/v1"),
    wantErrors: [
      'apiVersion: Unsupported value: "application-networking.k8s.aws/v1": TargetGroupPolicy is served as "application-networking.k8s.aws/v1alpha1"',
    ],
  },
];

describe("TargetGroupPolicy schema", () => {
  for (const c of cases) {
    test(c.name, () => {
      const res = parseText(c.json, "p.json");
      const errors = res.issues.filter((i) => i.severity === "error").map(formatIssue);
      if (c.wantErrors.length === 0) {
        assert.deepEqual(errors, [], "accepted");
        assert.equal(res.resources.targetGroupPolicies.length, 1);
        return;
      }
      assert.equal(res.resources.targetGroupPolicies.length, 0, "rejected");
      for (const want of c.wantErrors) {
        assert.ok(
          errors.some((e) => e.includes(want)),
          `no error contains ${JSON.stringify(want)}; got:\n${errors.join("\n")}`,
        );
      }
    });
  }

  test("nothing is defaulted, given fields are kept", () => {
    const res = parseText(hc({ enabled: true, path: "/healthz", statusMatch: "200-399" }), "p.json");
    const p = res.resources.targetGroupPolicies[0];
    assert.ok(p !== undefined);
    assert.deepEqual(p.spec, {
      targetRef: SERVICE,
      healthCheck: { enabled: true, path: "/healthz", statusMatch: "200-399" },
    });
    assert.equal(p.metadata.namespace, "ns");
  });

  test("unknown fields are notes, not errors", () => {
    const res = parseText(hc({ grpc: {} }), "p.json");
    assert.equal(res.resources.targetGroupPolicies.length, 1);
    assert.ok(res.issues.some((i) => i.severity === "note" && i.path === "spec.healthCheck.grpc"));
  });
});
