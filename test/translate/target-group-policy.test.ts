/**
 * TargetGroupPolicy status and what it puts on the routing table, table-driven: each case adds policies to
 * one fixed setup (a standard-profile and a Lattice-profile Gateway, a route on each, Services used by one,
 * both, or none) and states each policy's Accepted reason and a piece of its message, and the health check
 * each cluster ends up with. A TrafficPolicy on a Lattice-profile route is checked here too: it is Invalid,
 * saying VPC Lattice has no such feature.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseText } from "../../src/api/parse.js";
import { explainBackendPolicy } from "../../src/dataplane/explain-policy.js";
import type { IrHealthCheck } from "../../src/ir/routing-table.js";
import { translate } from "../../src/translate/translator.js";

const SETUP = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: apps}
spec:
  gatewayClassName: grpcroute
  listeners: [{name: a, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: lat, namespace: apps}
spec:
  gatewayClassName: amazon-vpc-lattice
  listeners: [{name: https, port: 443, protocol: HTTPS}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: r, namespace: apps}
spec:
  parentRefs: [{name: gw}]
  rules:
    - matches: [{method: {service: s.S, method: One}}]
      backendRefs: [{name: svc, port: 8080}]
    - backendRefs: [{name: shared, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: l, namespace: apps}
spec:
  parentRefs: [{name: lat}]
  rules:
    - matches: [{method: {service: s.S, method: Two}}]
      backendRefs: [{name: lsvc, port: 8080}]
    - backendRefs: [{name: shared, port: 8080}]
${["svc", "lsvc", "shared", "idle"]
  .map(
    (n) => `---
apiVersion: v1
kind: Service
metadata: {name: ${n}, namespace: apps}
spec:
  ports: [{name: grpc, port: 8080}]`,
  )
  .join("\n")}
`;

interface P {
  name: string;
  created?: string;
  target?: string;
  spec: string;
}

function tgp(p: P): string {
  return `apiVersion: application-networking.k8s.aws/v1alpha1
kind: TargetGroupPolicy
metadata: {name: ${p.name}, namespace: apps${p.created ? `, creationTimestamp: "${p.created}"` : ""}}
spec:
  targetRef: ${p.target ?? '{group: "", kind: Service, name: lsvc}'}
  ${p.spec}`;
}

const ON = "healthCheck: {enabled: true}";

interface Case {
  name: string;
  policies: P[];
  /** Extra manifests (TrafficPolicies). */
  extra?: string[];
  /** Policy name -> [reason, a substring of the message]. */
  status: Record<string, [string, string]>;
  /** Cluster Service -> its health check (as `describe` renders it) or "-" for none. */
  clusters?: Record<string, string>;
}

/** `http1 / :0 200-200 30000ms/5000ms 2/5 TargetGroupPolicy apps/a`, or "-", or the gRPC form. */
function describe_(hc: IrHealthCheck | undefined, source: string | undefined): string {
  if (hc === undefined) return "-";
  const h = hc.http;
  const how =
    h === undefined
      ? `grpc "${hc.service}"`
      : `http${h.version}${h.tls ? "s" : ""} ${h.path} :${h.port} ${h.statusCodes.map(([a, b]) => `${a}-${b}`).join(",")}`;
  return `${how} ${hc.intervalMs}ms/${hc.timeoutMs}ms ${hc.unhealthyThreshold}/${hc.healthyThreshold} ${source}`;
}

const cases: Case[] = [
  {
    name: "enabled on a Lattice backend: the controller's defaults fill what the policy leaves out",
    policies: [{ name: "a", spec: ON }],
    status: { a: ["Accepted", "applies to the target groups of Service apps/lsvc (Gateways apps/lat)"] },
    clusters: { lsvc: "http1 / :0 200-200 30000ms/5000ms 2/5 TargetGroupPolicy apps/a", svc: "-" },
  },
  {
    name: "every field given",
    policies: [
      {
        name: "a",
        spec: `protocol: HTTPS
  healthCheck: {enabled: true, protocol: HTTPS, protocolVersion: HTTP2, port: 8081, path: /healthz, statusMatch: "200,204-206", intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 3, unhealthyThresholdCount: 4}`,
      },
    ],
    status: {
      a: [
        "Accepted",
        "protocol HTTPS; health check HTTP2 GET /healthz on port 8081 over TLS, code 200,204-206",
      ],
    },
    clusters: { lsvc: "http2s /healthz :8081 200-200,204-206 5000ms/2000ms 4/3 TargetGroupPolicy apps/a" },
  },
  {
    name: "not enabled: GRPC target groups are not checked by default",
    policies: [{ name: "a", spec: "healthCheck: {path: /healthz}" }],
    status: { a: ["Accepted", "health check disabled (enabled: true turns it on)"] },
    clusters: { lsvc: "-" },
  },
  {
    name: "a protocolVersion is ignored for GRPCRoute target groups, and says so",
    policies: [{ name: "a", spec: `protocolVersion: HTTP2\n  ${ON}` }],
    status: { a: ["Accepted", "protocolVersion HTTP2 is not used: a GRPCRoute's target groups are GRPC"] },
    clusters: { lsvc: "http1 / :0 200-200 30000ms/5000ms 2/5 TargetGroupPolicy apps/a" },
  },
  {
    name: "a Service that does not exist",
    policies: [{ name: "a", target: '{group: "", kind: Service, name: nope}', spec: ON }],
    status: { a: ["TargetNotFound", "spec.targetRef: Service apps/nope not found"] },
  },
  {
    name: "a target that is not a Service",
    policies: [
      { name: "a", target: "{group: gateway.networking.k8s.io, kind: Gateway, name: lat}", spec: ON },
    ],
    status: {
      a: [
        "Invalid",
        'spec.targetRef: Unsupported value: kind "Gateway" of group "gateway.networking.k8s.io": a TargetGroupPolicy targets a Service (group "")',
      ],
    },
  },
  {
    name: "a ServiceExport (the AWS controller's multi-cluster kind)",
    policies: [
      {
        name: "a",
        target: "{group: application-networking.k8s.aws, kind: ServiceExport, name: lsvc}",
        spec: ON,
      },
    ],
    status: { a: ["Invalid", "kind ServiceExport"] },
  },
  {
    name: "a Service of another namespace",
    policies: [{ name: "a", target: '{group: "", kind: Service, name: lsvc, namespace: other}', spec: ON }],
    status: {
      a: [
        "Invalid",
        'spec.targetRef.namespace: Invalid value: "other": a TargetGroupPolicy applies to a Service of its own namespace "apps"',
      ],
    },
    clusters: { lsvc: "-" },
  },
  {
    name: "two policies on one Service: the older applies, the other is Conflicted",
    policies: [
      { name: "young", created: "2026-02-01T00:00:00Z", spec: `${ON}\n  protocol: HTTP` },
      { name: "old", created: "2026-01-01T00:00:00Z", spec: "healthCheck: {enabled: true, path: /old}" },
    ],
    status: {
      old: ["Accepted", "GET /old"],
      young: ["Conflicted", "TargetGroupPolicy apps/old (older) already targets Service apps/lsvc"],
    },
    clusters: { lsvc: "http1 /old :0 200-200 30000ms/5000ms 2/5 TargetGroupPolicy apps/old" },
  },
  {
    name: "an invalid older policy claims nothing",
    policies: [
      { name: "old", created: "2026-01-01T00:00:00Z", spec: "protocol: QUIC" },
      { name: "young", created: "2026-02-01T00:00:00Z", spec: ON },
    ],
    status: {
      old: [
        "Invalid",
        'spec.protocol: Unsupported value: "QUIC": VPC Lattice target groups take "HTTP", "HTTPS", "TCP"',
      ],
      young: ["Accepted", "applies to"],
    },
    clusters: { lsvc: "http1 / :0 200-200 30000ms/5000ms 2/5 TargetGroupPolicy apps/young" },
  },
  {
    name: "TCP target groups cannot carry a GRPCRoute",
    policies: [{ name: "a", spec: "protocol: TCP" }],
    status: {
      a: ["Invalid", 'spec.protocol: Unsupported value: "TCP": a GRPCRoute\'s target group carries HTTP'],
    },
  },
  {
    name: "a protocolVersion Lattice does not have",
    policies: [{ name: "a", spec: "protocolVersion: HTTP3" }],
    status: { a: ["Invalid", 'spec.protocolVersion: Unsupported value: "HTTP3"'] },
  },
  {
    name: "a statusMatch Lattice would refuse; nothing of the policy applies",
    policies: [{ name: "a", spec: 'healthCheck: {enabled: true, statusMatch: "2xx"}' }],
    status: { a: ["Invalid", 'spec.healthCheck.statusMatch: Invalid value: "2xx"'] },
    clusters: { lsvc: "-" },
  },
  {
    name: "a statusMatch range the wrong way round",
    policies: [{ name: "a", spec: 'healthCheck: {statusMatch: "399-200"}' }],
    status: { a: ["Invalid", 'spec.healthCheck.statusMatch: Invalid value: "399-200"'] },
  },
  {
    name: "a path Lattice would refuse",
    policies: [{ name: "a", spec: "healthCheck: {path: healthz}" }],
    status: { a: ["Invalid", 'spec.healthCheck.path: Invalid value: "healthz"'] },
  },
  {
    name: "a Service only the standard profile uses: it is a TrafficPolicy's job there",
    policies: [{ name: "a", target: '{group: "", kind: Service, name: svc}', spec: ON }],
    status: { a: ["Invalid", "used only by Gateways of the standard profile (apps/gw)"] },
    clusters: { svc: "-" },
  },
  {
    name: "a Service no route uses yet is Accepted, as the AWS controller has it",
    policies: [{ name: "a", target: '{group: "", kind: Service, name: idle}', spec: ON }],
    status: { a: ["Accepted", "no Lattice-profile GRPCRoute uses Service apps/idle yet"] },
  },
  {
    name: "a Service both profiles use: the Lattice calls' endpoints get the checks",
    policies: [{ name: "a", target: '{group: "", kind: Service, name: shared}', spec: ON }],
    status: { a: ["Accepted", "it does not apply through the standard-profile Gateways apps/gw"] },
    clusters: { shared: "http1 / :0 200-200 30000ms/5000ms 2/5 TargetGroupPolicy apps/a" },
  },
  {
    name: "a TrafficPolicy's health check on a shared Service stays, and the policy says so",
    policies: [{ name: "a", target: '{group: "", kind: Service, name: shared}', spec: ON }],
    extra: [
      `apiVersion: grpcroute.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: t, namespace: apps}
spec:
  targetRefs: [{group: "", kind: Service, name: shared}]
  healthCheck: {grpc: {}}`,
    ],
    status: { a: ["Accepted", "its endpoints keep the health check of TrafficPolicy apps/t"] },
    clusters: { shared: 'grpc "" 5000ms/1000ms 3/2 TrafficPolicy apps/t' },
  },
];

function run(c: Case) {
  const text = [SETUP, ...c.policies.map(tgp), ...(c.extra ?? [])].join("\n---\n");
  const loaded = parseText(text, "case.yaml");
  assert.deepEqual(
    loaded.issues.filter((i) => i.severity === "error"),
    [],
    "the case's manifests must be valid",
  );
  return translate(loaded.resources);
}

describe("TargetGroupPolicy status and health checks", () => {
  for (const c of cases) {
    test(c.name, () => {
      const { table, status } = run(c);
      for (const [name, [reason, message]] of Object.entries(c.status)) {
        const conds = status.targetGroupPolicies.get(`apps/${name}`)?.conditions ?? [];
        assert.equal(conds.length, 1, `policy ${name} has one condition`);
        const accepted = conds[0]!;
        assert.equal(accepted.type, "Accepted");
        assert.equal(accepted.reason, reason, `policy ${name}: ${accepted.message}`);
        assert.equal(accepted.status, reason === "Accepted" ? "True" : "False");
        assert.ok(accepted.message.includes(message), `policy ${name}: ${JSON.stringify(accepted.message)}`);
        assert.equal(accepted.observedGeneration, 1);
      }
      for (const [svc, want] of Object.entries(c.clusters ?? {})) {
        const cl = table.clusters[`service/apps/${svc}/port/8080`];
        assert.ok(cl !== undefined, `cluster of ${svc}`);
        assert.equal(describe_(cl.policy?.healthCheck, cl.policy?.sources.healthCheck), want, svc);
      }
    });
  }

  test("explain shows the HTTP check and the policy it comes from", () => {
    const { table } = run({
      name: "",
      policies: [
        {
          name: "a",
          spec: 'healthCheck: {enabled: true, path: /healthz, port: 8081, statusMatch: "200,204"}',
        },
      ],
      status: {},
    });
    const explained = explainBackendPolicy(table.clusters["service/apps/lsvc/port/8080"]);
    assert.deepEqual(explained?.healthCheck, {
      summary:
        "HTTP/1.1 GET /healthz on port 8081, status 200,204, every 30s, timeout 5s, out after 2 failure(s), back after 5 pass(es)",
      source: "TargetGroupPolicy apps/a",
    });
  });

  test("a TrafficPolicy on a Lattice-profile route is Invalid: Lattice has no such feature", () => {
    const { status, table } = run({
      name: "",
      policies: [],
      extra: [
        `apiVersion: grpcroute.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: t, namespace: apps}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: GRPCRoute, name: l}]
  timeouts: {request: 1s}
  retry: {attempts: 2}`,
      ],
      status: {},
    });
    const ancestors = status.trafficPolicies.get("apps/t")?.ancestors ?? [];
    assert.equal(ancestors.length, 1);
    const c = ancestors[0]!.conditions[0]!;
    assert.deepEqual([c.type, c.status, c.reason], ["Accepted", "False", "Invalid"]);
    assert.match(c.message, /uses the VPC Lattice profile, and VPC Lattice has no such feature/);
    const l = table.listeners.find((x) => x.listener === "https");
    assert.ok(
      l?.routes.every((r) => r.policy === undefined),
      "nothing of it applies",
    );
  });
});
