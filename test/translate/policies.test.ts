/**
 * TrafficPolicy merging and status, table-driven: each case is a few policies over one fixed setup, and what
 * each rule (per listener) and each cluster ends up with, and each policy's Accepted reason per ancestor.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseText } from "../../src/api/parse.js";
import { translate } from "../../src/translate/translator.js";

const SETUP = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: grpcroute
  listeners:
    - {name: a, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
    - {name: b, port: 81, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: lat, namespace: infra}
spec:
  gatewayClassName: amazon-vpc-lattice
  listeners:
    - {name: https, port: 443, protocol: HTTPS, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: r, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  rules:
    - name: one
      matches: [{method: {service: s.S, method: One}}]
      backendRefs: [{name: svc, port: 8080}]
    - backendRefs: [{name: svc, port: 9090}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: l, namespace: apps}
spec:
  parentRefs: [{name: lat, namespace: infra}]
  rules:
    - matches: [{method: {service: s.S, method: Two}}]
      backendRefs: [{name: lsvc, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: apps}
spec:
  ports: [{name: grpc, port: 8080}, {name: admin, port: 9090}]
---
apiVersion: v1
kind: Service
metadata: {name: lsvc, namespace: apps}
spec:
  ports: [{name: grpc, port: 8080}]
`;

interface P {
  name: string;
  ns?: string;
  created?: string;
  target: string;
  spec: string;
}

const T = {
  gw: "{group: gateway.networking.k8s.io, kind: Gateway, name: gw}",
  listenerB: "{group: gateway.networking.k8s.io, kind: Gateway, name: gw, sectionName: b}",
  lat: "{group: gateway.networking.k8s.io, kind: Gateway, name: lat}",
  route: "{group: gateway.networking.k8s.io, kind: GRPCRoute, name: r}",
  rule: "{group: gateway.networking.k8s.io, kind: GRPCRoute, name: r, sectionName: one}",
  lroute: "{group: gateway.networking.k8s.io, kind: GRPCRoute, name: l}",
  svc: '{group: "", kind: Service, name: svc}',
  port: '{group: "", kind: Service, name: svc, sectionName: grpc}',
  lsvc: '{group: "", kind: Service, name: lsvc}',
};

function policy(p: P): string {
  const created = p.created === undefined ? "" : `, creationTimestamp: "${p.created}"`;
  return `apiVersion: grpcroute.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: ${p.name}, namespace: ${p.ns ?? "infra"}${created}}
spec:
  targetRefs: [${p.target}]
  ${p.spec}`;
}

/** `<listener>/<rule index>` -> `timeouts source | retry source` ("-" for none). */
type RulePolicies = Record<string, string>;

interface Case {
  name: string;
  policies: P[];
  rules?: RulePolicies;
  /** `<listener>/<rule index>` -> `<transcoding source>=<enabled>` ("-" for none). */
  transcoding?: RulePolicies;
  /** `<port>` -> the cluster policy's sources, `timeouts|healthCheck|outlierDetection`. */
  clusters?: Record<string, string>;
  /** `<ns>/<policy>` -> Accepted reason per ancestor, `<ancestor name>[#section]=<reason>` joined by ", ". */
  status?: Record<string, string>;
}

const timeouts = (request: string): string => `timeouts: {request: ${request}}`;
const retry = "retry: {attempts: 2}";

const cases: Case[] = [
  {
    name: "the most specific target wins each field group",
    policies: [
      { name: "g", target: T.gw, spec: `${timeouts("30s")}\n  ${retry}` },
      { name: "lb", target: T.listenerB, spec: timeouts("20s") },
      { name: "r", ns: "apps", target: T.route, spec: `${timeouts("10s")}\n  ${retry}` },
      { name: "one", ns: "apps", target: T.rule, spec: timeouts("0s") },
    ],
    rules: {
      "a/0": "apps/one|apps/r",
      "a/1": "apps/r|apps/r",
      "b/0": "apps/one|apps/r",
      "b/1": "apps/r|apps/r",
    },
    status: {
      "infra/g": "gw=Accepted",
      "infra/lb": "gw#b=Accepted",
      "apps/r": "gw=Accepted",
      "apps/one": "gw=Accepted",
    },
  },
  {
    name: "a listener beats its Gateway",
    policies: [
      { name: "g", target: T.gw, spec: `${timeouts("30s")}\n  ${retry}` },
      { name: "lb", target: T.listenerB, spec: timeouts("20s") },
    ],
    rules: { "a/0": "infra/g|infra/g", "b/0": "infra/lb|infra/g" },
  },
  {
    name: "groups come from different levels",
    policies: [
      { name: "g", target: T.gw, spec: timeouts("5s") },
      { name: "one", ns: "apps", target: T.rule, spec: retry },
    ],
    rules: { "a/0": "infra/g|apps/one", "a/1": "infra/g|-" },
  },
  {
    name: "two policies at one target: the older applies, the newer is Conflicted",
    policies: [
      { name: "new", ns: "apps", created: "2024-02-01T00:00:00Z", target: T.route, spec: retry },
      { name: "old", ns: "apps", created: "2024-01-01T00:00:00Z", target: T.route, spec: timeouts("1s") },
    ],
    rules: { "a/0": "apps/old|-", "b/1": "apps/old|-" },
    status: { "apps/new": "gw=Conflicted", "apps/old": "gw=Accepted" },
  },
  {
    name: "same age: the first by name applies",
    policies: [
      { name: "b", ns: "apps", target: T.route, spec: retry },
      { name: "a", ns: "apps", target: T.route, spec: timeouts("1s") },
    ],
    rules: { "a/0": "apps/a|-" },
    status: { "apps/a": "gw=Accepted", "apps/b": "gw=Conflicted" },
  },
  {
    name: "targets are in the policy's namespace",
    policies: [{ name: "x", ns: "apps", target: T.gw, spec: timeouts("1s") }],
    rules: { "a/0": "-|-" },
    status: { "apps/x": "gw=TargetNotFound" },
  },
  {
    name: "a Service port beats the Service, group by group",
    policies: [
      { name: "s", ns: "apps", target: T.svc, spec: "timeouts: {connect: 1s}\n  healthCheck: {grpc: {}}" },
      { name: "p", ns: "apps", target: T.port, spec: "outlierDetection: {}\n  healthCheck: {grpc: {}}" },
    ],
    clusters: { "8080": "apps/s|apps/p|apps/p", "9090": "apps/s|apps/s|-" },
    status: { "apps/s": "gw=Accepted", "apps/p": "gw=Accepted" },
  },
  {
    name: "nothing applies through a Lattice Gateway",
    policies: [
      { name: "lat", target: T.lat, spec: timeouts("1s") },
      { name: "lr", ns: "apps", target: T.lroute, spec: retry },
      { name: "ls", ns: "apps", target: T.lsvc, spec: "outlierDetection: {}" },
    ],
    rules: { "https/0": "-|-" },
    clusters: { lsvc: "-|-|-" },
    status: { "infra/lat": "lat=Invalid", "apps/lr": "lat=Invalid", "apps/ls": "lat=Invalid" },
  },
  {
    name: "a field group that cannot apply to the target is Invalid, and nothing of it applies",
    policies: [{ name: "x", ns: "apps", target: T.route, spec: `${retry}\n  outlierDetection: {}` }],
    rules: { "a/0": "-|-" },
    status: { "apps/x": "gw=Invalid" },
  },
  {
    name: "transcoding: a listener enables it, a rule turns it off, a Service cannot take it",
    policies: [
      { name: "lb", target: T.listenerB, spec: "transcoding: {enabled: true}" },
      { name: "one", ns: "apps", target: T.rule, spec: "transcoding: {enabled: false}" },
      { name: "s", ns: "apps", target: T.svc, spec: "transcoding: {enabled: true}" },
    ],
    rules: { "b/1": "-|-" },
    transcoding: { "a/0": "apps/one=false", "a/1": "-", "b/0": "apps/one=false", "b/1": "infra/lb=true" },
    status: { "infra/lb": "gw#b=Accepted", "apps/one": "gw=Accepted", "apps/s": "gw=Invalid" },
  },
];

function render(c: Case) {
  const text = [SETUP, ...c.policies.map(policy)].join("\n---\n");
  const loaded = parseText(text, "case.yaml");
  assert.deepEqual(
    loaded.issues.filter((i) => i.severity === "error"),
    [],
    "the case's manifests must be valid",
  );
  return translate(loaded.resources);
}

describe("TrafficPolicy merging and status", () => {
  for (const c of cases) {
    test(c.name, () => {
      const { table, status } = render(c);
      for (const [at, want] of Object.entries(c.rules ?? {})) {
        const [listener, rule] = at.split("/");
        const l = table.listeners.find((x) => x.listener === listener);
        const r = l?.routes.find((x) => x.source.rule === Number(rule));
        assert.ok(r !== undefined, `no route entry for rule ${rule} on listener ${listener}`);
        const src = (s: string | undefined): string => s?.replace("TrafficPolicy ", "") ?? "-";
        assert.equal(`${src(r.policy?.timeouts?.source)}|${src(r.policy?.retry?.source)}`, want, at);
      }
      for (const [at, want] of Object.entries(c.transcoding ?? {})) {
        const [listener, rule] = at.split("/");
        const r = table.listeners
          .find((x) => x.listener === listener)
          ?.routes.find((x) => x.source.rule === Number(rule));
        assert.ok(r !== undefined, `no route entry for rule ${rule} on listener ${listener}`);
        const t = r.policy?.transcoding;
        assert.equal(
          t === undefined ? "-" : `${t.source.replace("TrafficPolicy ", "")}=${t.enabled}`,
          want,
          at,
        );
      }
      for (const [port, want] of Object.entries(c.clusters ?? {})) {
        const name = port === "lsvc" ? "service/apps/lsvc/port/8080" : `service/apps/svc/port/${port}`;
        const cl = table.clusters[name];
        assert.ok(cl !== undefined, `no cluster ${name}`);
        const s = cl.policy?.sources;
        const src = (x: string | undefined): string => x?.replace("TrafficPolicy ", "") ?? "-";
        assert.equal(`${src(s?.timeouts)}|${src(s?.healthCheck)}|${src(s?.outlierDetection)}`, want, name);
      }
      for (const [key, want] of Object.entries(c.status ?? {})) {
        const st = status.trafficPolicies.get(key);
        assert.ok(st !== undefined, `no status for ${key}`);
        const got = st.ancestors
          .map((a) => {
            const name = a.ancestorRef.sectionName
              ? `${a.ancestorRef.name}#${a.ancestorRef.sectionName}`
              : a.ancestorRef.name;
            return `${name}=${a.conditions.find((x) => x.type === "Accepted")?.reason}`;
          })
          .join(", ");
        assert.equal(got, want, key);
      }
    });
  }
});

describe("TrafficPolicy cors, and the gRPC-Web annotation", () => {
  test("cors comes from the most specific target, lowercased, beside other groups", () => {
    const { table } = render({
      name: "cors",
      policies: [
        { name: "g", target: T.gw, spec: `${timeouts("5s")}\n  cors: {allowOrigins: ["*"]}` },
        {
          name: "one",
          ns: "apps",
          target: T.rule,
          spec: 'cors: {allowOrigins: ["https://a.example.com"], allowHeaders: [X-Custom], maxAge: 60}',
        },
      ],
    });
    const l = table.listeners.find((x) => x.listener === "a");
    const one = l?.routes.find((x) => x.source.rule === 0)?.policy;
    const other = l?.routes.find((x) => x.source.rule === 1)?.policy;
    assert.deepEqual(one?.cors, {
      allowOrigins: ["https://a.example.com"],
      allowMethods: [],
      allowHeaders: ["x-custom"],
      exposeHeaders: [],
      maxAgeSeconds: 60,
      allowCredentials: false,
      source: "TrafficPolicy apps/one",
    });
    assert.equal(one?.timeouts?.source, "TrafficPolicy infra/g");
    assert.equal(other?.cors?.source, "TrafficPolicy infra/g");
    assert.equal(other?.cors?.maxAgeSeconds, 5);
  });

  test("cors on a Service is Invalid", () => {
    const { status } = render({
      name: "svc",
      policies: [{ name: "s", ns: "apps", target: T.svc, spec: 'cors: {allowOrigins: ["*"]}' }],
    });
    const st = status.trafficPolicies.get("apps/s");
    const accepted = st?.ancestors[0]?.conditions.find((x) => x.type === "Accepted");
    assert.equal(accepted?.reason, "Invalid");
    assert.match(accepted?.message ?? "", /spec\.cors: cannot apply to Service apps\/svc/);
  });

  test("a Gateway annotated grpcroute.dev/grpc-web: disabled marks its listeners", () => {
    const text = SETUP.replace(
      "metadata: {name: gw, namespace: infra}",
      'metadata: {name: gw, namespace: infra, annotations: {"grpcroute.dev/grpc-web": disabled}}',
    );
    const loaded = parseText(text, "case.yaml");
    const { table } = translate(loaded.resources);
    assert.deepEqual(
      table.listeners.map((l) => `${l.gateway.name}/${l.listener}:${l.grpcWebDisabled === true}`),
      ["gw/a:true", "gw/b:true", "lat/https:false"],
    );
  });
});
