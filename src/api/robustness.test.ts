/**
 * Nothing a user writes may make reading throw. Valid manifests are mutated at random places into values
 * of the wrong type, size or shape (a seeded generator, so a failure repeats), and every result must be an
 * accepted object or issues that say where the problem is.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatIssue, parseText } from "./parse.js";

/** mulberry32: small, seeded, good enough to pick mutations. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS: Record<string, unknown>[] = [
  {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GRPCRoute",
    metadata: { name: "r", namespace: "a", labels: { x: "y" } },
    spec: {
      parentRefs: [{ name: "gw", sectionName: "http", port: 80 }],
      hostnames: ["*.example.com"],
      rules: [
        {
          name: "one",
          matches: [
            { method: { type: "Exact", service: "a.B", method: "C" }, headers: [{ name: "x", value: "y" }] },
          ],
          filters: [
            {
              type: "RequestHeaderModifier",
              requestHeaderModifier: { set: [{ name: "a", value: "b" }], remove: ["c"] },
            },
            {
              type: "RequestMirror",
              requestMirror: { backendRef: { name: "m", port: 1 }, fraction: { numerator: 1 } },
            },
            { type: "ExtensionRef", extensionRef: { group: "", kind: "K", name: "n" } },
          ],
          backendRefs: [{ name: "svc", port: 8080, weight: 3, filters: [] }],
        },
      ],
    },
  },
  {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: "gw" },
    spec: {
      gatewayClassName: "grpcroute",
      addresses: [{ value: "10.0.0.1" }],
      listeners: [
        {
          name: "https",
          port: 443,
          protocol: "HTTPS",
          hostname: "a.example.com",
          tls: { certificateRefs: [{ name: "c" }] },
        },
        {
          name: "http",
          port: 80,
          protocol: "HTTP",
          allowedRoutes: {
            namespaces: {
              from: "Selector",
              selector: { matchExpressions: [{ key: "k", operator: "In", values: ["v"] }] },
            },
            kinds: [{ kind: "GRPCRoute" }],
          },
        },
      ],
    },
  },
  {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "e", labels: { "kubernetes.io/service-name": "svc" } },
    addressType: "IPv4",
    endpoints: [
      { addresses: ["10.0.0.2"], conditions: { ready: true }, targetRef: { kind: "Pod", name: "p" } },
    ],
    ports: [{ name: "grpc", port: 8080, appProtocol: "kubernetes.io/h2c" }],
  },
  {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "svc" },
    spec: { ports: [{ name: "grpc", port: 8080, targetPort: 9000 }], ipFamilies: ["IPv4"] },
  },
  {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "c" },
    type: "kubernetes.io/tls",
    stringData: { "tls.crt": "a", "tls.key": "b" },
  },
  {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "ReferenceGrant",
    metadata: { name: "g" },
    spec: {
      from: [{ group: "gateway.networking.k8s.io", kind: "GRPCRoute", namespace: "a" }],
      to: [{ group: "", kind: "Service" }],
    },
  },
  {
    apiVersion: "v1",
    kind: "List",
    items: [
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "GatewayClass",
        metadata: { name: "c" },
        spec: { controllerName: "a.b/c" },
      },
    ],
  },
];

const WEIRD: unknown[] = [
  null,
  0,
  -1,
  1.5,
  2 ** 53,
  "",
  "x".repeat(5000),
  "\u0000",
  "ü",
  true,
  [],
  [null],
  {},
  { a: { b: [1, "2"] } },
  ["a", 1, {}],
];

/** Every path to a node of the tree, the root excluded. */
function paths(
  v: unknown,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([...prefix, i]);
      paths(x, [...prefix, i], out);
    });
  } else if (typeof v === "object" && v !== null) {
    for (const [k, x] of Object.entries(v)) {
      out.push([...prefix, k]);
      paths(x, [...prefix, k], out);
    }
  }
  return out;
}

function setAt(root: unknown, path: (string | number)[], value: unknown): void {
  let node = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
}

test("randomly broken manifests never make reading throw", () => {
  const next = rng(20241126);
  let rejected = 0;
  for (let round = 0; round < 600; round++) {
    const seed = SEEDS[Math.floor(next() * SEEDS.length)]!;
    const doc = structuredClone(seed);
    const all = paths(doc);
    const edits = 1 + Math.floor(next() * 3);
    for (let e = 0; e < edits; e++) {
      const p = all[Math.floor(next() * all.length)]!;
      const r = next();
      const value = r < 0.15 ? undefined : structuredClone(WEIRD[Math.floor(next() * WEIRD.length)]);
      try {
        setAt(doc, p, value);
      } catch {
        // An earlier edit replaced an ancestor: this path no longer exists.
      }
    }
    const text = JSON.stringify(doc);
    let res: ReturnType<typeof parseText> | undefined;
    assert.doesNotThrow(() => {
      res = parseText(text, "fuzz.yaml");
    }, text);
    const errors = res!.issues.filter((i) => i.severity === "error");
    if (errors.length > 0) rejected++;
    for (const i of [...errors, ...res!.fatal]) {
      const line = formatIssue(i);
      assert.ok(line.startsWith("fuzz.yaml (document 0"), line);
      assert.ok(!line.includes("undefined"), line);
    }
  }
  assert.ok(rejected > 100, `the mutations must break things (${rejected} rejected)`);
});
