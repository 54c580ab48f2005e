/**
 * Properties of translate(): the same objects in any input order give the same bytes, and input the
 * schema would normally stop (built directly, bypassing the reader) never makes it throw.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadPaths } from "../../src/api/parse.js";
import { emptyResourceSet, type GRPCRoute, type ResourceSet } from "../../src/api/types.js";
import { validateRoutingTable } from "../../src/ir/validate.js";
import { translate } from "../../src/translate/translator.js";
import type { TranslateResult } from "../../src/translate/types.js";

const DIR = fileURLToPath(new URL("../../testdata/translate/", import.meta.url));

function serialise(r: TranslateResult): string {
  return JSON.stringify({
    table: r.table,
    gateways: [...r.status.gateways],
    routes: [...r.status.grpcRoutes],
    annotations: [...r.status.routeAnnotations],
  });
}

function reversed(rs: ResourceSet): ResourceSet {
  const out = emptyResourceSet();
  for (const k of Object.keys(rs) as (keyof ResourceSet)[]) {
    (out[k] as unknown[]) = [...(rs[k] as unknown[])].reverse();
  }
  return out;
}

describe("translate is deterministic in input order", () => {
  const cases = readdirSync(DIR)
    .filter((f) => f.endsWith(".in.yaml"))
    .sort();
  for (const file of cases) {
    test(file, async () => {
      const { resources } = await loadPaths([join(DIR, "base"), join(DIR, file)]);
      const a = serialise(translate(resources));
      const b = serialise(translate(reversed(resources)));
      assert.equal(b, a);
    });
  }
});

describe("translate holds its invariants with any kind of object missing", () => {
  const cases = readdirSync(DIR)
    .filter((f) => f.endsWith(".in.yaml"))
    .sort();
  for (const file of cases) {
    test(file, async () => {
      const { resources } = await loadPaths([join(DIR, "base"), join(DIR, file)]);
      // Dropping a whole kind (every Service, every Secret, every GatewayClass, ...) turns references
      // into missing ones and changes ownership; the result must stay a valid table.
      for (const k of Object.keys(resources) as (keyof ResourceSet)[]) {
        const input = { ...resources, [k]: [] };
        validateRoutingTable(translate(input).table);
      }
    });
  }
});

function meta(name: string) {
  return { name, namespace: "default", generation: 3, creationTimestamp: "", labels: {}, annotations: {} };
}

describe("translate never throws on odd input", () => {
  const gateway = {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway" as const,
    metadata: meta("gw"),
    spec: {
      gatewayClassName: "grpcroute",
      listeners: [
        {
          name: "http",
          port: 80,
          protocol: "HTTP",
          allowedRoutes: { namespaces: { from: "Same" as const } },
        },
      ],
    },
    raw: {},
    origin: { file: "x", index: 0 },
  };
  const route = (spec: Partial<GRPCRoute["spec"]>): GRPCRoute => ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GRPCRoute",
    metadata: meta("r"),
    spec: {
      parentRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "gw" }],
      hostnames: [],
      rules: [],
      ...spec,
    },
    raw: {},
    origin: { file: "x", index: 1 },
  });
  const cases: [string, GRPCRoute][] = [
    ["no rules", route({})],
    ["no parentRefs", route({ parentRefs: [] })],
    [
      "backendRef without port",
      route({
        rules: [
          {
            matches: [],
            filters: [],
            backendRefs: [{ group: "", kind: "Service", name: "s", weight: 1, filters: [] }],
          },
        ],
      }),
    ],
    [
      "method match with neither service nor method",
      route({
        rules: [{ matches: [{ method: { type: "Exact" }, headers: [] }], filters: [], backendRefs: [] }],
      }),
    ],
    [
      "regex that RE2 rejects in every field",
      route({
        rules: [
          {
            matches: [
              {
                method: { type: "RegularExpression", service: "(", method: "\\" },
                headers: [{ type: "RegularExpression", name: "x", value: "[" }],
              },
            ],
            filters: [],
            backendRefs: [],
          },
        ],
      }),
    ],
  ];
  for (const [name, r] of cases) {
    test(name, () => {
      const input = { ...emptyResourceSet(), gateways: [gateway], grpcRoutes: [r] };
      const result = translate(input);
      validateRoutingTable(result.table);
      for (const st of result.status.grpcRoutes.values()) {
        for (const p of st.parents) for (const c of p.conditions) assert.equal(c.observedGeneration, 3);
      }
    });
  }
});
