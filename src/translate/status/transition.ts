/**
 * `lastTransitionTime`: the translator computes conditions without it (it has no clock); whoever writes the
 * status stamps it here, as `meta.SetStatusCondition` does: a condition whose status is the same as the
 * previous condition of that type keeps the previous time; a new condition, or one whose status changed,
 * gets `now`. A real API server refuses a Gateway API condition without it (422).
 *
 * File mode (`validate`, `serve`'s `/status`) has no earlier status to compare with and must print the same
 * bytes for the same manifests, so it stamps {@link FILE_MODE_TRANSITION_TIME}.
 */
import type {
  Condition,
  ConditionsStatus,
  GatewayStatus,
  ObjectKey,
  PolicyAncestorStatus,
  PolicyStatus,
  RouteParentStatus,
} from "../../api/types.js";
import type { StatusReport } from "../types.js";

/**
 * The time file mode stamps: the Unix epoch, a valid RFC 3339 time that says "no transition was observed"
 * and keeps `validate`'s output byte-stable (golden files, CI diffs of its output).
 */
export const FILE_MODE_TRANSITION_TIME = "1970-01-01T00:00:00Z";

/** A condition as found in an object's current status (any shape). */
type PreviousCondition = { type?: unknown; status?: unknown; lastTransitionTime?: unknown };

/** Stamps `desired` against `previous` (an object's current conditions, possibly missing). */
export function stampConditions(desired: readonly Condition[], previous: unknown, now: string): Condition[] {
  const before = Array.isArray(previous) ? (previous as PreviousCondition[]) : [];
  return desired.map((c) => {
    if (c.lastTransitionTime !== undefined) return c;
    const p = before.find((x) => x !== null && typeof x === "object" && x.type === c.type);
    const keep = p !== undefined && p.status === c.status && typeof p.lastTransitionTime === "string";
    return { ...c, lastTransitionTime: keep ? (p.lastTransitionTime as string) : now };
  });
}

/** A Gateway's status stamped against its current status (`undefined` when it has none). */
export function stampGatewayStatus(st: GatewayStatus, current: unknown, now: string): GatewayStatus {
  const cur = isRecord(current) ? current : {};
  const curListeners = Array.isArray(cur.listeners) ? (cur.listeners as unknown[]) : [];
  return {
    ...st,
    conditions: stampConditions(st.conditions, cur.conditions, now),
    listeners: st.listeners.map((l) => {
      const prev = curListeners.find((x) => isRecord(x) && x.name === l.name);
      return { ...l, conditions: stampConditions(l.conditions, isRecord(prev) ? prev.conditions : [], now) };
    }),
  };
}

/** Route parent entries stamped against the current entries for the same parentRef and controller. */
export function stampParents(
  parents: readonly RouteParentStatus[],
  current: unknown,
  now: string,
): RouteParentStatus[] {
  const cur = Array.isArray(current) ? current : [];
  return parents.map((p) => {
    const prev = cur.find(
      (x) => isRecord(x) && x.controllerName === p.controllerName && sameParentRef(x.parentRef, p.parentRef),
    );
    return { ...p, conditions: stampConditions(p.conditions, isRecord(prev) ? prev.conditions : [], now) };
  });
}

/** Policy ancestor entries stamped against the current entries for the same ancestorRef and controller. */
export function stampAncestors(
  ancestors: readonly PolicyAncestorStatus[],
  current: unknown,
  now: string,
): PolicyAncestorStatus[] {
  const cur = Array.isArray(current) ? current : [];
  return ancestors.map((a) => {
    const prev = cur.find(
      (x) =>
        isRecord(x) && x.controllerName === a.controllerName && sameParentRef(x.ancestorRef, a.ancestorRef),
    );
    return { ...a, conditions: stampConditions(a.conditions, isRecord(prev) ? prev.conditions : [], now) };
  });
}

/** Whether a parentRef read back from an object names the same parent as ours (defaults applied). */
export function sameParentRef(a: unknown, b: RouteParentStatus["parentRef"]): boolean {
  if (!isRecord(a)) return false;
  return (
    (a.group ?? "gateway.networking.k8s.io") === b.group &&
    (a.kind ?? "Gateway") === b.kind &&
    a.name === b.name &&
    a.namespace === b.namespace &&
    a.sectionName === b.sectionName &&
    a.port === b.port
  );
}

/**
 * Every condition of a report stamped: against the object's current status from `current` (by kind and
 * `namespace/name`), else with `now`.
 */
export function stampReport(
  report: StatusReport,
  now: string,
  current: (
    kind: "Gateway" | "GRPCRoute" | "TrafficPolicy" | "BackendTLSPolicy" | "TargetGroupPolicy",
    key: ObjectKey,
  ) => unknown = () => undefined,
): StatusReport {
  const gateways = new Map<ObjectKey, GatewayStatus>();
  for (const [k, st] of report.gateways) gateways.set(k, stampGatewayStatus(st, current("Gateway", k), now));
  const grpcRoutes = new Map<ObjectKey, { parents: RouteParentStatus[] }>();
  for (const [k, st] of report.grpcRoutes) {
    const cur = current("GRPCRoute", k);
    grpcRoutes.set(k, { parents: stampParents(st.parents, isRecord(cur) ? cur.parents : undefined, now) });
  }
  const policies = (kind: "TrafficPolicy" | "BackendTLSPolicy", m: ReadonlyMap<ObjectKey, PolicyStatus>) => {
    const out = new Map<ObjectKey, PolicyStatus>();
    for (const [k, st] of m) {
      const cur = current(kind, k);
      out.set(k, { ancestors: stampAncestors(st.ancestors, isRecord(cur) ? cur.ancestors : undefined, now) });
    }
    return out;
  };
  const targetGroupPolicies = new Map<ObjectKey, ConditionsStatus>();
  for (const [k, st] of report.targetGroupPolicies) {
    const cur = current("TargetGroupPolicy", k);
    targetGroupPolicies.set(k, {
      conditions: stampConditions(st.conditions, isRecord(cur) ? cur.conditions : undefined, now),
    });
  }
  return {
    ...report,
    gateways,
    grpcRoutes,
    trafficPolicies: policies("TrafficPolicy", report.trafficPolicies),
    backendTLSPolicies: policies("BackendTLSPolicy", report.backendTLSPolicies),
    targetGroupPolicies,
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
