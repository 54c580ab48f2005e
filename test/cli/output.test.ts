/** The status renderers used by `validate` and the admin `/status` endpoint, in process. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseText } from "../../src/api/parse.js";
import { renderStatusJson, statusList, statusProblems } from "../../src/cli/output.js";
import { translate } from "../../src/translate/translator.js";

const MANIFESTS = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: grpcroute
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: r, annotations: {team: a}}
spec:
  parentRefs: [{name: gw}]
  rules:
    - matches: [{method: {service: a.B, type: RegularExpression}}, {method: {service: "(", type: RegularExpression}}]
    - matches: [{method: {service: c.D}}]
status:
  parents:
    - parentRef: {name: elsewhere}
      controllerName: example.com/other
      conditions: [{type: Accepted, status: "True", reason: Accepted, message: "", lastTransitionTime: "2024-01-01T00:00:00Z"}]
    - parentRef: {name: gw}
      controllerName: grpcroute.dev/gateway-controller
      conditions: [{type: Accepted, status: "False", reason: Stale, message: "old", lastTransitionTime: "2024-01-01T00:00:00Z"}]
`;

test("statusList keeps other controllers' parent entries and replaces ours", () => {
  const { resources, issues } = parseText(MANIFESTS, "m.yaml");
  assert.deepEqual(
    issues.filter((i) => i.severity === "error"),
    [],
  );
  const { status } = translate(resources);
  const list = statusList(resources, status) as {
    items: { kind: string; status: { parents: { controllerName: string }[] } }[];
  };
  const route = list.items.find((i) => i.kind === "GRPCRoute");
  assert.deepEqual(
    route?.status.parents.map((p) => p.controllerName),
    ["example.com/other", "grpcroute.dev/gateway-controller"],
  );
  assert.equal(renderStatusJson(resources, status), `${JSON.stringify(list, null, 2)}\n`);
});

test("statusProblems: a partly invalid route fails validate", () => {
  const { resources } = parseText(MANIFESTS, "m.yaml");
  const { status } = translate(resources);
  const problems = statusProblems(status);
  assert.equal(problems.length, 1);
  assert.match(
    problems[0]?.message ?? "",
    /^PartiallyInvalid: Dropped Rule 0: spec\.rules\[0\]\.matches\[1\]\.method\.service/,
  );
});

const POLICIES = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: grpcroute
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules: [{matches: [{method: {service: c.D}}]}]
---
apiVersion: grpcroute.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: ok}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: GRPCRoute, name: r}]
  timeouts: {request: 5s}
status:
  ancestors:
    - ancestorRef: {name: gw}
      controllerName: example.com/other
      conditions: [{type: Accepted, status: "True", reason: Accepted, message: "", lastTransitionTime: "2024-01-01T00:00:00Z"}]
---
apiVersion: grpcroute.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: lost}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: GRPCRoute, name: missing}]
  timeouts: {request: 5s}
`;

test("policies are listed with their ancestors; one not Accepted fails validate", () => {
  const { resources, issues } = parseText(POLICIES, "p.yaml");
  assert.deepEqual(
    issues.filter((i) => i.severity === "error"),
    [],
  );
  const { status } = translate(resources);
  const list = statusList(resources, status) as {
    items: {
      kind: string;
      metadata: { name: string };
      status: { ancestors?: { controllerName: string }[] };
    }[];
  };
  const ok = list.items.find((i) => i.kind === "TrafficPolicy" && i.metadata.name === "ok");
  assert.deepEqual(
    ok?.status.ancestors?.map((a) => a.controllerName),
    ["example.com/other", "grpcroute.dev/gateway-controller"],
    "another controller's ancestor entry is kept beside ours",
  );
  const problems = statusProblems(status);
  assert.deepEqual(
    problems.map((p) => p.object),
    ["TrafficPolicy default/lost ancestor GRPCRoute default/missing"],
  );
  assert.match(
    problems[0]?.message ?? "",
    /^Accepted=False TargetNotFound: spec\.targetRefs\[0\]: GRPCRoute default\/missing not found/,
  );
});

test("a TargetGroupPolicy is listed with status.conditions (other types kept); one not Accepted fails validate", () => {
  const text = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: lat}
spec:
  gatewayClassName: amazon-vpc-lattice
  listeners: [{name: https, port: 443, protocol: HTTPS}]
---
apiVersion: v1
kind: Service
metadata: {name: svc}
spec:
  ports: [{port: 8080}]
---
apiVersion: application-networking.k8s.aws/v1alpha1
kind: TargetGroupPolicy
metadata: {name: ok}
spec:
  targetRef: {group: "", kind: Service, name: svc}
status:
  conditions:
    - {type: Accepted, status: Unknown, reason: Pending, message: Waiting for controller, lastTransitionTime: "1970-01-01T00:00:00Z"}
    - {type: Programmed, status: Unknown, reason: Pending, message: Waiting for controller, lastTransitionTime: "1970-01-01T00:00:00Z"}
---
apiVersion: application-networking.k8s.aws/v1alpha1
kind: TargetGroupPolicy
metadata: {name: lost}
spec:
  targetRef: {group: "", kind: Service, name: nope}
`;
  const { resources, issues } = parseText(text, "m.yaml");
  assert.deepEqual(
    issues.filter((i) => i.severity === "error"),
    [],
  );
  const { status } = translate(resources);
  const items = statusList(resources, status).items as Record<string, unknown>[];
  const ok = items.find((i) => (i.metadata as { name: string }).name === "ok");
  assert.ok(ok !== undefined, "the policy is listed");
  const conditions = (ok.status as { conditions: Record<string, unknown>[] }).conditions;
  assert.deepEqual(
    conditions.map((c) => [c.type, c.status, c.reason]),
    [
      ["Programmed", "Unknown", "Pending"],
      ["Accepted", "True", "Accepted"],
    ],
  );
  assert.equal(conditions[1]?.lastTransitionTime, "1970-01-01T00:00:00Z");
  const problems = statusProblems(status);
  assert.deepEqual(
    problems.map((p) => p.object),
    ["TargetGroupPolicy default/lost"],
  );
  assert.match(
    problems[0]?.message ?? "",
    /Accepted=False TargetNotFound: spec.targetRef: Service default\/nope not found/,
  );
});
