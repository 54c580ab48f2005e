import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { GRPCRoute, GRPCRouteRule } from "../api/types.js";
import { checkLatticeRoute, checkLatticeRule, latticePath } from "./checks.js";
import { routeAuthorities, routeDomains } from "./domains.js";
import {
  assignedDomainName,
  latticeListenerName,
  latticeRuleName,
  latticeServiceName,
  latticeTargetGroupName,
  serviceNameOverrideProblem,
  unixSeconds,
} from "./names.js";
import { assignRulePriorities } from "./priorities.js";

function rule(over: Partial<GRPCRouteRule> = {}): GRPCRouteRule {
  return { matches: [], filters: [], backendRefs: [], ...over };
}

function route(
  rules: GRPCRouteRule[],
  annotations: Record<string, string> = {},
  hostnames: string[] = [],
): GRPCRoute {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GRPCRoute",
    metadata: {
      name: "greeter-grpc-route",
      namespace: "default",
      generation: 1,
      creationTimestamp: "",
      labels: {},
      annotations,
    },
    spec: { parentRefs: [], hostnames, rules },
    raw: {},
    origin: { file: "t.yaml", index: 0 },
  };
}

function backend(weight: number) {
  return { group: "", kind: "Service", name: "b", port: 80, weight, filters: [] };
}

describe("Lattice names", () => {
  test("service name truncates route to 20 and namespace to 18, then trims hyphens", () => {
    const cases: [string, string, string][] = [
      ["greeter-grpc-route", "default", "greeter-grpc-route-default"],
      ["a-very-long-route-name-indeed", "ns", "a-very-long-route-na-ns"],
      ["abcdefghijklmnopqrs-tuv", "namespace-that-is-long", "abcdefghijklmnopqrs-namespace-that-is"],
    ];
    for (const [r, ns, want] of cases) assert.equal(latticeServiceName(r, ns), want);
  });

  test("listener, rule and target group names", () => {
    assert.equal(latticeListenerName("greeter-default", 443, "HTTPS"), "greeter-default-443-https");
    assert.equal(latticeRuleName(0, 3), "k8s-0-rule-3");
    assert.equal(unixSeconds("2024-01-01T00:00:00Z"), 1704067200);
    assert.equal(unixSeconds("garbage"), 0);
    const tg = latticeTargetGroupName(
      { namespace: "default", name: "r" },
      { namespace: "default", name: "svc" },
      80,
    );
    assert.match(tg, /^k8s-default-svc-[a-z]{10}$/);
    assert.equal(
      tg,
      latticeTargetGroupName({ namespace: "default", name: "r" }, { namespace: "default", name: "svc" }, 80),
    );
    assert.notEqual(
      tg,
      latticeTargetGroupName({ namespace: "default", name: "r" }, { namespace: "default", name: "svc" }, 81),
    );
  });

  test("assigned domain name is Lattice-shaped and stable", () => {
    const d = assignedDomainName(
      { namespace: "default", name: "greeter-grpc-route" },
      "greeter-grpc-route-default",
    );
    assert.match(
      d,
      /^greeter-grpc-route-default-[0-9a-f]{17}\.[0-9a-f]{7}\.vpc-lattice-svcs\.us-west-2\.on\.aws$/,
    );
    assert.equal(
      d,
      assignedDomainName({ namespace: "default", name: "greeter-grpc-route" }, "greeter-grpc-route-default"),
    );
    assert.ok(
      assignedDomainName({ namespace: "x", name: "y" }, "y-x", "example.test").endsWith(".example.test"),
    );
  });

  test("service name override rules", () => {
    const cases: [string, boolean][] = [
      ["ok-name", true],
      ["ab", false],
      ["svc-abc", false],
      ["-abc", false],
      ["Upper", false],
      ["a".repeat(40), true],
      ["a".repeat(41), false],
    ];
    for (const [v, ok] of cases) assert.equal(serviceNameOverrideProblem(v) === undefined, ok, v);
    const r = route([], { "application-networking.k8s.aws/service-name-override": "my-svc" }, [
      "Greeter.Example.com",
    ]);
    assert.equal(routeDomains(r).serviceName, "my-svc");
    assert.equal(routeAuthorities(r)[1], "greeter.example.com");
  });
});

describe("Lattice rule priorities", () => {
  const cases: {
    name: string;
    n: number;
    ann: Record<string, string>;
    want: number[];
    problems: number[];
  }[] = [
    { name: "rule order", n: 3, ann: {}, want: [1, 2, 3], problems: [] },
    {
      name: "reference example: rule 1 annotated 5",
      n: 3,
      ann: { "application-networking.k8s.aws/rule-1-priority": "5" },
      want: [6, 5, 7],
      problems: [],
    },
    {
      name: "last placed annotated rule seeds the rest",
      n: 3,
      ann: {
        "application-networking.k8s.aws/rule-0-priority": "10",
        "application-networking.k8s.aws/rule-1-priority": "3",
      },
      want: [10, 3, 4],
      problems: [],
    },
    {
      name: "duplicate priority",
      n: 2,
      ann: {
        "application-networking.k8s.aws/rule-0-priority": "2",
        "application-networking.k8s.aws/rule-1-priority": "2",
      },
      want: [2, 2],
      problems: [1],
    },
    {
      name: "out of range and unreadable",
      n: 2,
      ann: {
        "application-networking.k8s.aws/rule-0-priority": "101",
        "application-networking.k8s.aws/rule-1-priority": "high",
      },
      want: [101, 102],
      problems: [0, 1, 1],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const got = assignRulePriorities(c.n, c.ann);
      assert.deepEqual(got.priorities, c.want);
      assert.deepEqual(
        got.problems.map((p) => p.rule),
        c.problems,
      );
    });
  }
});

describe("Lattice rule checks", () => {
  test("paths", () => {
    assert.deepEqual(latticePath(undefined), { kind: "prefix", value: "/" });
    assert.deepEqual(latticePath({ service: "s" }), { kind: "prefix", value: "/s/" });
    assert.deepEqual(latticePath({ service: "s", method: "m" }), { kind: "exact", value: "/s/m" });
  });

  const headers = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ type: "Exact" as const, name: `h${i}`, value: "v" }));
  const cases: { name: string; rule: GRPCRouteRule; want: RegExp[] }[] = [
    { name: "no matches", rule: rule(), want: [] },
    { name: "5 headers", rule: rule({ matches: [{ headers: headers(5) }] }), want: [] },
    {
      name: "6 headers",
      rule: rule({ matches: [{ headers: headers(6) }] }),
      want: [/6 header matches.*allows 5/],
    },
    {
      name: "two matches",
      rule: rule({ matches: [{ headers: [] }, { headers: [] }] }),
      want: [/^2 matches; VPC Lattice allows 1/],
    },
    {
      name: "method without service",
      rule: rule({ matches: [{ method: { type: "Exact", method: "M" }, headers: [] }] }),
      want: [/method "M" without a service/],
    },
    {
      name: "regex method",
      rule: rule({ matches: [{ method: { type: "RegularExpression", service: "a.*" }, headers: [] }] }),
      want: [/^RegularExpression; VPC Lattice matches paths/],
    },
    {
      name: "regex header",
      rule: rule({ matches: [{ headers: [{ type: "RegularExpression", name: "x", value: ".*" }] }] }),
      want: [/^RegularExpression \(header "x"\)/],
    },
    {
      name: "10 backendRefs",
      rule: rule({ backendRefs: Array.from({ length: 10 }, () => backend(1)) }),
      want: [],
    },
    {
      name: "11 backendRefs",
      rule: rule({ backendRefs: Array.from({ length: 11 }, () => backend(1)) }),
      want: [/11 backendRefs; VPC Lattice allows 10/],
    },
    { name: "weight 999", rule: rule({ backendRefs: [backend(999)] }), want: [] },
    { name: "weight 1000", rule: rule({ backendRefs: [backend(1000)] }), want: [/weight 1000 .*0-999/] },
    {
      name: "long path",
      rule: rule({ matches: [{ method: { type: "Exact", service: "s".repeat(130) }, headers: [] }] }),
      want: [/characters; VPC Lattice allows 128/],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const got = checkLatticeRule(c.rule, 0).map((v) => v.message);
      assert.equal(got.length, c.want.length, got.join("\n"));
      c.want.forEach((re, i) => {
        assert.match(got[i] ?? "", re);
      });
    });
  }

  test("rules past the listener quota are rejected in priority order", () => {
    const r = route(
      Array.from({ length: 12 }, () => rule()),
      {
        "application-networking.k8s.aws/rule-11-priority": "1",
      },
    );
    const c = checkLatticeRoute(r);
    const rejected = c.rules.flatMap((v, i) => (v.length > 0 ? [i] : []));
    // Rule 11 takes priority 1, the others follow from 2, so rules 9 and 10 are the 11th and 12th.
    assert.deepEqual(rejected, [9, 10]);
    assert.match(c.rules[9]?.[0]?.message ?? "", /Rules per listener/);
  });

  test("a raised rules-per-listener quota admits more rules and is named in the message", () => {
    const r = route(Array.from({ length: 13 }, () => rule()));
    const cases: [number | undefined, number[]][] = [
      [undefined, [10, 11, 12]],
      [12, [12]],
      [20, []],
      [0, [10, 11, 12]],
    ];
    for (const [quota, want] of cases) {
      const c = checkLatticeRoute(r, quota);
      assert.deepEqual(
        c.rules.flatMap((v, i) => (v.length > 0 ? [i] : [])),
        want,
        `quota ${quota}`,
      );
    }
    assert.match(checkLatticeRoute(r, 12).rules[12]?.[0]?.message ?? "", /allows 12 .*set to 12/);
  });
});
