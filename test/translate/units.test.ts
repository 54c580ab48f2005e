/**
 * Table tests of the translator's small functions: hostname matching and intersection, precedence keys,
 * profile selection, appProtocol mapping, label selectors, and the IR invariant checker.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { emptyResourceSet, type Gateway, type GatewayClass, type GRPCRoute } from "../../src/api/types.js";
import type { IrRoute, RoutingTable } from "../../src/ir/routing-table.js";
import { RoutingTableInvariantError, validateRoutingTable } from "../../src/ir/validate.js";
import { selectorMatches } from "../../src/translate/attachment.js";
import { backendTls } from "../../src/translate/backends.js";
import { effectiveHostnames, hostnameMatches, intersectHostname } from "../../src/translate/hostnames.js";
import { comparePrecedence, sortByPrecedence } from "../../src/translate/precedence.js";
import type { ListenerEntry } from "../../src/translate/profile.js";
import { selectProfile } from "../../src/translate/profiles/index.js";

describe("hostnameMatches", () => {
  const cases: [string, string, boolean][] = [
    ["a.example.com", "a.example.com", true],
    ["a.example.com", "A.Example.com", true],
    ["*.example.com", "a.example.com", true],
    ["*.example.com", "a.b.example.com", true],
    ["*.example.com", "example.com", false],
    ["*.example.com", "aexample.com", false],
    ["*.example.com", "a.example.net", false],
    ["a.example.com", "b.example.com", false],
  ];
  for (const [pattern, host, want] of cases) {
    test(`${pattern} ~ ${host} = ${want}`, () => assert.equal(hostnameMatches(pattern, host), want));
  }
});

describe("intersectHostname", () => {
  const cases: [string, string, string | undefined][] = [
    ["a.example.com", "a.example.com", "a.example.com"],
    ["*.example.com", "a.example.com", "a.example.com"],
    ["a.example.com", "*.example.com", "a.example.com"],
    ["*.example.com", "*.a.example.com", "*.a.example.com"],
    ["*.a.example.com", "*.example.com", "*.a.example.com"],
    ["*.example.com", "*.example.com", "*.example.com"],
    ["example.com", "*.example.com", undefined],
    ["*.example.com", "*.example.net", undefined],
    ["a.example.com", "b.example.com", undefined],
  ];
  for (const [route, listener, want] of cases) {
    test(`${route} & ${listener} = ${want}`, () => assert.equal(intersectHostname(route, listener), want));
  }
});

describe("effectiveHostnames", () => {
  const cases: [string, string[], string | undefined, string[] | undefined][] = [
    ["no hostnames anywhere: any host", [], undefined, []],
    ["route inherits the listener hostname", [], "*.example.com", ["*.example.com"]],
    [
      "listener without hostname keeps the route's",
      ["A.example.com", "b.example.com"],
      undefined,
      ["a.example.com", "b.example.com"],
    ],
    [
      "intersection narrows and drops",
      ["*.example.com", "x.net", "a.example.com"],
      "a.example.com",
      ["a.example.com"],
    ],
    ["no intersection", ["x.net"], "a.example.com", undefined],
  ];
  for (const [name, route, listener, want] of cases) {
    test(name, () => assert.deepEqual(effectiveHostnames(route, listener), want));
  }
});

function entry(over: {
  host?: string;
  service?: string;
  method?: string;
  headers?: number;
  created?: string;
  ns?: string;
  name?: string;
  rule?: number;
  match?: number;
}): ListenerEntry {
  const ns = over.ns ?? "default";
  const name = over.name ?? "r";
  const rule = over.rule ?? 0;
  const match = over.match ?? 0;
  const ir: IrRoute = {
    name: `grpcroute/${ns}/${name}/rule/${rule}/match/${match}`,
    source: { kind: "GRPCRoute", namespace: ns, name, rule, match, section: `rule/${rule}/match/${match}` },
    hostnames: over.host === undefined ? [] : [over.host],
    match: {
      headers: Array.from({ length: over.headers ?? 0 }, (_, i) => ({
        type: "Exact" as const,
        name: `h${i}`,
        value: "v",
      })),
    },
    action: { kind: "direct", grpcStatus: 12, message: "" },
  };
  if (over.service !== undefined || over.method !== undefined) {
    ir.match.method = { type: "Exact" };
    if (over.service !== undefined) ir.match.method.service = over.service;
    if (over.method !== undefined) ir.match.method.method = over.method;
  }
  const route = {
    metadata: {
      namespace: ns,
      name,
      creationTimestamp: over.created ?? "",
      generation: 1,
      labels: {},
      annotations: {},
    },
  } as unknown as GRPCRoute;
  return { route, ruleIndex: rule, matchIndex: match, rulePosition: rule, ir };
}

describe("comparePrecedence: the first entry wins", () => {
  const cases: [string, ListenerEntry, ListenerEntry][] = [
    [
      "non-wildcard hostname beats wildcard",
      entry({ host: "a.example.com" }),
      entry({ host: "*.example.com", service: "long.Service" }),
    ],
    ["longer non-wildcard hostname", entry({ host: "ab.example.com" }), entry({ host: "a.example.com" })],
    [
      "longer wildcard hostname",
      entry({ host: "*.a.example.com" }),
      entry({ host: "*.example.com", service: "x.Y" }),
    ],
    ["any hostname loses to a wildcard", entry({ host: "*.example.com" }), entry({ service: "x.Y" })],
    ["longer service", entry({ service: "a.b.C" }), entry({ service: "a.C", method: "Method" })],
    [
      "longer method",
      entry({ service: "a.C", method: "Long" }),
      entry({ service: "a.C", method: "M", headers: 3 }),
    ],
    ["more headers", entry({ headers: 2 }), entry({ headers: 1, created: "2020-01-01T00:00:00Z" })],
    [
      "older route",
      entry({ created: "2020-01-01T00:00:00Z", name: "z" }),
      entry({ created: "2021-01-01T00:00:00Z", name: "a" }),
    ],
    ["dated before undated", entry({ created: "2030-01-01T00:00:00Z", name: "z" }), entry({ name: "a" })],
    ["namespace/name", entry({ ns: "apps", name: "z" }), entry({ ns: "default", name: "a" })],
    ["rule order", entry({ rule: 0, match: 5 }), entry({ rule: 1, match: 0 })],
    ["match order", entry({ rule: 1, match: 0 }), entry({ rule: 1, match: 1 })],
  ];
  for (const [name, winner, loser] of cases) {
    test(name, () => {
      assert.ok(comparePrecedence(winner, loser) < 0, "winner first");
      assert.ok(comparePrecedence(loser, winner) > 0, "antisymmetric");
      assert.deepEqual(
        sortByPrecedence([loser, winner]).map((e) => e.ir.name),
        [winner.ir.name, loser.ir.name],
      );
    });
  }
});

describe("selectProfile (PRODUCT.md section 3)", () => {
  const cls = (name: string, controllerName: string) =>
    ({ metadata: { name }, spec: { controllerName } }) as unknown as GatewayClass;
  const gw = (className: string) => ({ spec: { gatewayClassName: className } }) as unknown as Gateway;
  const classes = [
    cls("ours", "grpcroute.dev/gateway-controller"),
    cls("aws", "application-networking.k8s.aws/gateway-api-controller"),
    cls("amazon-vpc-lattice", "example.com/someone-else"),
    cls("theirs", "example.com/other"),
  ];
  const cases: [string, string, string | undefined][] = [
    ["our controller", "ours", "standard"],
    ["AWS controller", "aws", "lattice"],
    ["another controller", "theirs", undefined],
    ["the lattice class name owned by someone else", "amazon-vpc-lattice", undefined],
    ["no class object: default", "grpcroute", "standard"],
    ["no class object: anything", "whatever", "standard"],
  ];
  for (const [name, className, want] of cases) {
    test(name, () => assert.equal(selectProfile(gw(className), classes), want));
  }
  test("no class object, lattice class name", () =>
    assert.equal(selectProfile(gw("amazon-vpc-lattice"), []), "lattice"));
});

describe("backendTls (appProtocol)", () => {
  const cases: [string | undefined, boolean | undefined][] = [
    [undefined, false],
    ["", false],
    ["kubernetes.io/h2c", false],
    ["h2c", false],
    ["grpc", false],
    ["https", true],
    ["kubernetes.io/tls", true],
    ["grpcs", true],
    ["TLS", true],
    ["kubernetes.io/ws", undefined],
    ["http", undefined],
  ];
  for (const [p, want] of cases) test(`${p} -> ${want}`, () => assert.equal(backendTls(p), want));
});

describe("selectorMatches", () => {
  const labels = { team: "apps", env: "prod" };
  const cases: [string, Parameters<typeof selectorMatches>[0], boolean][] = [
    ["no selector", undefined, true],
    ["empty selector", {}, true],
    ["matchLabels", { matchLabels: { team: "apps" } }, true],
    ["matchLabels mismatch", { matchLabels: { team: "infra" } }, false],
    ["In", { matchExpressions: [{ key: "env", operator: "In", values: ["prod", "dev"] }] }, true],
    ["NotIn", { matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }] }, false],
    ["Exists", { matchExpressions: [{ key: "team", operator: "Exists" }] }, true],
    ["DoesNotExist", { matchExpressions: [{ key: "team", operator: "DoesNotExist" }] }, false],
  ];
  for (const [name, sel, want] of cases) test(name, () => assert.equal(selectorMatches(sel, labels), want));
});

describe("validateRoutingTable", () => {
  const good = (): RoutingTable => ({
    version: 1,
    listeners: [
      {
        name: "gateway/default/gw/listener/http",
        gateway: { namespace: "default", name: "gw" },
        listener: "http",
        profile: "standard",
        port: 80,
        protocol: "HTTP",
        routes: [
          {
            name: "grpcroute/default/r/rule/0/match/0",
            source: { kind: "GRPCRoute", namespace: "default", name: "r", rule: 0, match: 0 },
            hostnames: [],
            match: { headers: [] },
            action: {
              kind: "forward",
              backends: [
                { weight: 1, cluster: "c", source: { kind: "Service", namespace: "default", name: "s" } },
              ],
              mirrors: [],
            },
          },
        ],
        noRoute: { kind: "direct", grpcStatus: 12, message: "" },
      },
    ],
    clusters: {
      c: {
        name: "c",
        source: { kind: "Service", namespace: "default", name: "s" },
        endpoints: [],
        tls: false,
      },
    },
  });
  test("a good table passes", () => validateRoutingTable(good()));
  const breakers: [string, (t: RoutingTable) => void][] = [
    ["unknown cluster", (t) => (t.clusters = {})],
    [
      "negative weight",
      (t) => {
        const a = t.listeners[0]?.routes[0]?.action;
        if (a?.kind === "forward" && a.backends[0]) a.backends[0].weight = -1;
      },
    ],
    [
      "duplicate route name",
      (t) => {
        const l = t.listeners[0];
        const r = l?.routes[0];
        if (l && r) l.routes.push(r);
      },
    ],
    [
      "duplicate listener",
      (t) => {
        const l = t.listeners[0];
        if (l) t.listeners.push(l);
      },
    ],
    [
      "direct without status",
      (t) => {
        const l = t.listeners[0];
        if (l) l.noRoute = { kind: "direct", message: "" };
      },
    ],
    ["retry attempts 6", (t) => setRetry(t, { attempts: 6 })],
    ["retry on OK", (t) => setRetry(t, { retryOn: [0] })],
    ["retry backoff base above max", (t) => setRetry(t, { backoffBaseMs: 300, backoffMaxMs: 200 })],
    ["retry budget 101 %", (t) => setRetry(t, { budgetPercent: 101 })],
    [
      "a negative request timeout",
      (t) => {
        const r = t.listeners[0]?.routes[0];
        if (r) r.policy = { timeouts: { requestMs: -1, streamIdleMs: 0, source: "p" } };
      },
    ],
    [
      "a BackendTLSPolicy on a cleartext cluster",
      (t) => {
        const c = t.clusters.c;
        if (c) c.backendTls = { hostname: "h", system: true, subjectAltNames: [], source: "p" };
      },
    ],
    [
      "a BackendTLSPolicy with two sources of trust",
      (t) => {
        const c = t.clusters.c;
        if (c) {
          c.tls = true;
          c.backendTls = { hostname: "h", system: true, caPem: "x", subjectAltNames: [], source: "p" };
        }
      },
    ],
    [
      "a health check every 0 ms",
      (t) => {
        const c = t.clusters.c;
        if (c) {
          c.policy = {
            sources: {},
            healthCheck: {
              service: "",
              intervalMs: 0,
              timeoutMs: 1,
              unhealthyThreshold: 1,
              healthyThreshold: 1,
            },
          };
        }
      },
    ],
    [
      "an ejection cap of 101 %",
      (t) => {
        const c = t.clusters.c;
        if (c) {
          c.policy = {
            sources: {},
            outlierDetection: {
              consecutiveFailures: 1,
              intervalMs: 1,
              baseEjectionMs: 1,
              maxEjectionPercent: 101,
            },
          };
        }
      },
    ],
  ];
  const retry = {
    attempts: 3,
    retryOn: [14],
    perTryTimeoutMs: 0,
    backoffBaseMs: 25,
    backoffMaxMs: 250,
    maxBufferedBytes: 65536,
    budgetPercent: 20,
    source: "TrafficPolicy default/p",
  };
  const setRetry = (t: RoutingTable, patch: Partial<typeof retry>): void => {
    const r = t.listeners[0]?.routes[0];
    if (r) r.policy = { retry: { ...retry, ...patch } };
  };
  test("a table with policies in range passes", () => {
    const t = good();
    setRetry(t, {});
    const c = t.clusters.c;
    if (c) {
      c.tls = true;
      c.backendTls = { hostname: "h", caPem: "x", subjectAltNames: [], source: "p" };
    }
    validateRoutingTable(t);
  });
  for (const [name, breakIt] of breakers) {
    test(`throws on ${name}`, () => {
      const t = good();
      breakIt(t);
      assert.throws(() => validateRoutingTable(t), RoutingTableInvariantError);
    });
  }
});

test("emptyResourceSet translates to an empty table", async () => {
  const { translate } = await import("../../src/translate/translator.js");
  const { table, status } = translate(emptyResourceSet());
  assert.deepEqual(table, { version: 0, listeners: [], clusters: {} });
  assert.equal(status.gateways.size, 0);
});
