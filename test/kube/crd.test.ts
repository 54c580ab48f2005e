/**
 * deploy/crd-trafficpolicy.yaml against the schema grpcroute reads (src/api/schema/traffic-policy.ts): the
 * README's example passes both, and each object of a table is refused by both. The CRD's structural schema
 * (types, required fields, enums, patterns, ranges, list sizes, unknown fields) is checked here as the API
 * server would; its CEL rules are not evaluated (they restate the parser's cross-field rules).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { parseText } from "../../src/api/parse.js";
import { ROOT } from "../e2e/support/gateway-process.js";
import { readmeTrafficPolicies } from "./support.js";

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  "x-kubernetes-list-type"?: string;
}

/** What the API server's structural validation says of `v` (empty: valid). */
function violations(s: Schema, v: unknown, path: string, out: string[] = []): string[] {
  if (v === undefined) return out;
  switch (s.type) {
    case "object": {
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        out.push(`${path}: must be of type object`);
        break;
      }
      const o = v as Record<string, unknown>;
      for (const r of s.required ?? []) if (o[r] === undefined) out.push(`${path}.${r}: Required value`);
      if (s.minProperties !== undefined && Object.keys(o).length < s.minProperties)
        out.push(`${path}: should have at least ${s.minProperties} properties`);
      for (const [k, x] of Object.entries(o)) {
        const p = s.properties?.[k];
        if (p !== undefined) violations(p, x, `${path}.${k}`, out);
        else if (s.properties !== undefined) out.push(`${path}.${k}: unknown field`);
      }
      break;
    }
    case "array": {
      if (!Array.isArray(v)) {
        out.push(`${path}: must be of type array`);
        break;
      }
      if (s.minItems !== undefined && v.length < s.minItems) out.push(`${path}: too few items`);
      if (s.maxItems !== undefined && v.length > s.maxItems) out.push(`${path}: too many items`);
      if (s["x-kubernetes-list-type"] === "set" && new Set(v.map((x) => JSON.stringify(x))).size !== v.length)
        out.push(`${path}: duplicate value`);
      v.forEach((x, i) => {
        if (s.items !== undefined) violations(s.items, x, `${path}[${i}]`, out);
      });
      break;
    }
    case "string":
      if (typeof v !== "string") out.push(`${path}: must be of type string`);
      else {
        if (s.enum !== undefined && !s.enum.includes(v)) out.push(`${path}: Unsupported value`);
        if (s.pattern !== undefined && !new RegExp(s.pattern).test(v))
          out.push(`${path}: should match pattern`);
        if (s.minLength !== undefined && v.length < s.minLength) out.push(`${path}: too short`);
        if (s.maxLength !== undefined && v.length > s.maxLength) out.push(`${path}: too long`);
      }
      break;
    case "integer":
      if (!Number.isInteger(v)) out.push(`${path}: must be of type integer`);
      else {
        if (s.minimum !== undefined && (v as number) < s.minimum) out.push(`${path}: below minimum`);
        if (s.maximum !== undefined && (v as number) > s.maximum) out.push(`${path}: above maximum`);
      }
      break;
  }
  return out;
}

const crd = parse(readFileSync(join(ROOT, "deploy", "crd-trafficpolicy.yaml"), "utf8")) as {
  spec: {
    group: string;
    names: { kind: string; plural: string };
    versions: { name: string; subresources?: { status?: unknown }; schema: { openAPIV3Schema: Schema } }[];
  };
};
const version = crd.spec.versions.find((v) => v.name === "v1alpha1");
const schema = version?.schema.openAPIV3Schema as Schema;

/** Parser errors of one object as grpcroute reads it. */
function parserErrors(o: Record<string, unknown>): string[] {
  const r = parseText(JSON.stringify(o), "policy.json");
  return [...r.issues, ...r.fatal]
    .filter((i) => i.severity === "error")
    .map((i) => `${i.path}: ${i.message}`);
}

function policy(spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: "grpcroute.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name: "p", namespace: "default" },
    spec: { targetRefs: [{ group: "gateway.networking.k8s.io", kind: "GRPCRoute", name: "r" }], ...spec },
  };
}

describe("deploy/crd-trafficpolicy.yaml", () => {
  test("names the kind grpcroute reads, with the status subresource", () => {
    assert.equal(crd.spec.group, "grpcroute.dev");
    assert.equal(crd.spec.names.kind, "TrafficPolicy");
    assert.equal(crd.spec.names.plural, "trafficpolicies");
    assert.ok(version?.subresources?.status !== undefined, "status subresource");
  });

  test("the README's example is valid for the CRD and for grpcroute", () => {
    const docs = readmeTrafficPolicies();
    assert.ok(docs.length >= 2, "the README has TrafficPolicy examples");
    for (const d of docs) {
      assert.deepEqual(violations(schema, d, ""), [], JSON.stringify(d));
      assert.deepEqual(
        parserErrors({ ...d, metadata: { ...(d.metadata as object), namespace: "default" } }),
        [],
      );
    }
  });

  const refused: [string, Record<string, unknown>][] = [
    ["no targetRefs", { targetRefs: [], timeouts: { request: "1s" } }],
    ["a fractional duration", { timeouts: { request: "1.5s" } }],
    ["a duration with days", { timeouts: { request: "1d" } }],
    ["empty timeouts", { timeouts: {} }],
    ["too many attempts", { retry: { attempts: 6 } }],
    ["no attempts", { retry: { on: ["UNAVAILABLE"] } }],
    ["OK retried", { retry: { attempts: 2, on: ["OK"] } }],
    ["a retried code twice", { retry: { attempts: 2, on: ["UNAVAILABLE", "UNAVAILABLE"] } }],
    ["too large a buffer", { retry: { attempts: 2, maxBufferedBytes: 4 * 1024 * 1024 + 1 } }],
    ["a budget over 100", { retry: { attempts: 2, budgetPercent: 101 } }],
    ["a health check without grpc", { healthCheck: { interval: "5s" } }],
    ["a threshold of 0", { healthCheck: { grpc: {}, unhealthyThreshold: 0 } }],
    ["an ejection percent over 100", { outlierDetection: { maxEjectionPercent: 101 } }],
    ["a string count", { outlierDetection: { consecutiveFailures: "5" } }],
    [
      "a target kind that is not a kind",
      { targetRefs: [{ group: "", kind: "9x", name: "s" }], timeouts: { connect: "1s" } },
    ],
  ];
  for (const [name, spec] of refused) {
    test(`refused by both: ${name}`, () => {
      const p = policy(spec);
      assert.notDeepEqual(violations(schema, p, ""), [], "the CRD refuses it");
      assert.notDeepEqual(parserErrors(p), [], "grpcroute refuses it");
    });
  }
});
