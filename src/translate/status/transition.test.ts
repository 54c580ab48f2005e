import assert from "node:assert/strict";
import { test } from "node:test";
import type { Condition } from "../../api/types.js";
import { stampAncestors, stampConditions, stampParents, stampReport } from "./transition.js";

const NOW = "2026-12-07T10:00:00Z";
const BEFORE = "2026-01-01T00:00:00Z";

function c(type: string, status: Condition["status"], generation = 1): Condition {
  return { type, status, reason: type, message: "", observedGeneration: generation };
}

test("lastTransitionTime changes only when a condition's status changes", () => {
  const cases: { name: string; desired: Condition[]; previous: unknown; want: string[] }[] = [
    { name: "no previous status", desired: [c("Accepted", "True")], previous: undefined, want: [NOW] },
    {
      name: "same status keeps the time, even with a new generation",
      desired: [c("Accepted", "True", 2)],
      previous: [{ type: "Accepted", status: "True", lastTransitionTime: BEFORE }],
      want: [BEFORE],
    },
    {
      name: "another status takes now",
      desired: [c("Accepted", "False")],
      previous: [{ type: "Accepted", status: "True", lastTransitionTime: BEFORE }],
      want: [NOW],
    },
    {
      name: "a new condition type takes now, the others keep theirs",
      desired: [c("Accepted", "True"), c("ResolvedRefs", "True")],
      previous: [{ type: "Accepted", status: "True", lastTransitionTime: BEFORE }],
      want: [BEFORE, NOW],
    },
    {
      name: "a previous condition without a time takes now",
      desired: [c("Accepted", "True")],
      previous: [{ type: "Accepted", status: "True" }],
      want: [NOW],
    },
    { name: "garbage previous status", desired: [c("Accepted", "True")], previous: "x", want: [NOW] },
  ];
  for (const tc of cases) {
    const got = stampConditions(tc.desired, tc.previous, NOW).map((x) => x.lastTransitionTime);
    assert.deepEqual(got, tc.want, tc.name);
  }
});

test("route parent entries are stamped against the entry of the same parentRef and controller", () => {
  const ref = { group: "gateway.networking.k8s.io", kind: "Gateway", name: "gw" };
  const parents = [{ parentRef: ref, controllerName: "ours", conditions: [c("Accepted", "True")] }];
  const current = [
    {
      parentRef: { name: "gw" },
      controllerName: "theirs",
      conditions: [{ type: "Accepted", status: "True", lastTransitionTime: "x" }],
    },
    {
      parentRef: { name: "gw" },
      controllerName: "ours",
      conditions: [{ type: "Accepted", status: "True", lastTransitionTime: BEFORE }],
    },
  ];
  assert.equal(stampParents(parents, current, NOW)[0]?.conditions[0]?.lastTransitionTime, BEFORE);
  assert.equal(stampParents(parents, [current[0]], NOW)[0]?.conditions[0]?.lastTransitionTime, NOW);
});

test("policy ancestor entries keep their times per ancestorRef and controller, and stampReport stamps them", () => {
  const gw = { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "ns", name: "gw" };
  const ours = "grpcroute.dev/gateway-controller";
  const previous = [
    {
      ancestorRef: { ...gw, name: "other" },
      controllerName: ours,
      conditions: [{ type: "Accepted", status: "True", lastTransitionTime: "x" }],
    },
    {
      ancestorRef: { name: "gw", namespace: "ns" },
      controllerName: "example.com/other",
      conditions: [{ type: "Accepted", status: "True", lastTransitionTime: "y" }],
    },
    {
      ancestorRef: { name: "gw", namespace: "ns" },
      controllerName: ours,
      conditions: [{ type: "Accepted", status: "True", lastTransitionTime: BEFORE }],
    },
  ];
  const desired = [
    {
      ancestorRef: gw,
      controllerName: ours,
      conditions: [c("Accepted", "True"), c("ResolvedRefs", "False")],
    },
  ];
  const stamped = stampAncestors(desired, previous, NOW);
  assert.deepEqual(
    stamped[0]?.conditions.map((x) => x.lastTransitionTime),
    [BEFORE, NOW],
    "matched with defaults applied, only on our controller's entry",
  );
  const report = stampReport(
    {
      gateways: new Map(),
      grpcRoutes: new Map(),
      trafficPolicies: new Map([["ns/p", { ancestors: desired }]]),
      backendTLSPolicies: new Map(),
      targetGroupPolicies: new Map(),
    } as unknown as Parameters<typeof stampReport>[0],
    NOW,
    (kind, key) => (kind === "TrafficPolicy" && key === "ns/p" ? { ancestors: previous } : undefined),
  );
  assert.deepEqual(
    report.trafficPolicies.get("ns/p")?.ancestors[0]?.conditions.map((x) => x.lastTransitionTime),
    [BEFORE, NOW],
  );
});

test("stampReport stamps TargetGroupPolicy status.conditions against the object's current conditions", () => {
  const report = stampReport(
    {
      gateways: new Map(),
      grpcRoutes: new Map(),
      trafficPolicies: new Map(),
      backendTLSPolicies: new Map(),
      targetGroupPolicies: new Map([
        ["ns/same", { conditions: [c("Accepted", "True")] }],
        ["ns/changed", { conditions: [c("Accepted", "True")] }],
        ["ns/new", { conditions: [c("Accepted", "False")] }],
      ]),
    } as unknown as Parameters<typeof stampReport>[0],
    NOW,
    (kind, key) => {
      if (kind !== "TargetGroupPolicy") return undefined;
      if (key === "ns/same")
        return { conditions: [{ type: "Accepted", status: "True", lastTransitionTime: BEFORE }] };
      if (key === "ns/changed")
        return { conditions: [{ type: "Accepted", status: "Unknown", lastTransitionTime: BEFORE }] };
      return undefined;
    },
  );
  const time = (k: string) => report.targetGroupPolicies.get(k)?.conditions[0]?.lastTransitionTime;
  assert.deepEqual([time("ns/same"), time("ns/changed"), time("ns/new")], [BEFORE, NOW, NOW]);
});
