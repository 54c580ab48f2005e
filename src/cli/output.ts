/**
 * Rendering translated status for people (text) and machines (a `v1` `List` in YAML or JSON, the objects
 * as an API server would hold them with `.status` filled). `validate` prints these; the admin `/status`
 * endpoint serves `renderStatusJson`.
 */
import { stringify } from "yaml";
import { formatIssue } from "../api/parse.js";
import {
  type Condition,
  type ConditionsStatus,
  type Gateway,
  type GRPCRoute,
  type Issue,
  type K8sObject,
  objectKey,
  type ParentReference,
  type PolicyStatus,
  type ResourceSet,
} from "../api/types.js";
import type { StatusIssue } from "../runner/issues.js";
import { selectProfile } from "../translate/profiles/index.js";
import { FILE_MODE_TRANSITION_TIME, stampConditions, stampReport } from "../translate/status/transition.js";
import type { StatusReport } from "../translate/types.js";

function byKey<T extends { metadata: { namespace: string; name: string } }>(a: T, b: T): number {
  const ka = objectKey(a.metadata);
  const kb = objectKey(b.metadata);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The controller names that wrote entries in this report (ours), so entries of others are kept. */
function ourControllers(report: StatusReport): Set<string> {
  const out = new Set<string>();
  for (const s of report.grpcRoutes.values()) for (const p of s.parents) out.add(p.controllerName);
  return out;
}

function gatewayItem(g: Gateway, report: StatusReport): Record<string, unknown> {
  const item: Record<string, unknown> = { ...g.raw };
  const st = report.gateways.get(objectKey(g.metadata));
  if (st !== undefined) item.status = st;
  return item;
}

function routeItem(r: GRPCRoute, report: StatusReport, ours: Set<string>): Record<string, unknown> {
  const item: Record<string, unknown> = { ...r.raw };
  const key = objectKey(r.metadata);
  const ann = report.routeAnnotations.get(key);
  if (ann !== undefined) {
    const meta = isRecord(item.metadata) ? { ...item.metadata } : {};
    const prev = isRecord(meta.annotations) ? meta.annotations : {};
    meta.annotations = { ...prev, ...ann };
    item.metadata = meta;
  }
  const st = report.grpcRoutes.get(key);
  // Entries other controllers wrote stay; ours are replaced (the spec: "Write entries only for parents this
  // controller owns ... Clean up stale entries that carry your controllerName").
  const rawStatus = isRecord(item.status) ? item.status : {};
  const rawParents = Array.isArray(rawStatus.parents) ? rawStatus.parents : [];
  const others = rawParents.filter(
    (p: unknown) => !(isRecord(p) && typeof p.controllerName === "string" && ours.has(p.controllerName)),
  );
  item.status = { ...rawStatus, parents: [...others, ...(st?.parents ?? [])] };
  return item;
}

/**
 * A policy with its status: ancestor entries of other controllers are kept, ours replaced (GEP-713: the list
 * is a map keyed by ancestorRef and controllerName, each controller owning its entries).
 */
function policyItem(
  p: K8sObject<string, unknown>,
  statuses: ReadonlyMap<string, PolicyStatus>,
  ours: ReadonlySet<string>,
): Record<string, unknown> {
  const item: Record<string, unknown> = { ...p.raw };
  const st = statuses.get(objectKey(p.metadata));
  const rawStatus = isRecord(item.status) ? item.status : {};
  const rawAncestors = Array.isArray(rawStatus.ancestors) ? rawStatus.ancestors : [];
  const others = rawAncestors.filter(
    (a: unknown) => !(isRecord(a) && typeof a.controllerName === "string" && ours.has(a.controllerName)),
  );
  item.status = { ...rawStatus, ancestors: [...others, ...(st?.ancestors ?? [])] };
  return item;
}

/** The policies of the input with their status, TrafficPolicies then BackendTLSPolicies, each sorted. */
function policyItems(
  resources: ResourceSet,
  report: StatusReport,
  ours: Set<string>,
): Record<string, unknown>[] {
  for (const m of [report.trafficPolicies, report.backendTLSPolicies]) {
    for (const st of m.values()) for (const a of st.ancestors) ours.add(a.controllerName);
  }
  return [
    ...[...resources.trafficPolicies].sort(byKey).map((p) => policyItem(p, report.trafficPolicies, ours)),
    ...[...resources.backendTLSPolicies]
      .sort(byKey)
      .map((p) => policyItem(p, report.backendTLSPolicies, ours)),
    ...[...resources.targetGroupPolicies]
      .sort(byKey)
      .map((p) => conditionsItem(p, report.targetGroupPolicies.get(objectKey(p.metadata)))),
  ];
}

/**
 * A policy whose status is `status.conditions` (TargetGroupPolicy, as the AWS controller writes it): our
 * conditions replace those of the same type, the others stay; stamped as file mode stamps.
 */
function conditionsItem(
  p: K8sObject<string, unknown>,
  st: ConditionsStatus | undefined,
): Record<string, unknown> {
  const item: Record<string, unknown> = { ...p.raw };
  if (st === undefined) return item;
  const rawStatus = isRecord(item.status) ? item.status : {};
  const raw = Array.isArray(rawStatus.conditions) ? rawStatus.conditions : [];
  const ours = new Set(st.conditions.map((c) => c.type));
  const others = raw.filter((c: unknown) => !(isRecord(c) && typeof c.type === "string" && ours.has(c.type)));
  const conditions = stampConditions(st.conditions, [], FILE_MODE_TRANSITION_TIME);
  item.status = { ...rawStatus, conditions: [...others, ...conditions] };
  return item;
}

/**
 * The Gateways and GRPCRoutes as a `v1` `List` with `.status` filled (ours replace stale entries of ours;
 * other controllers' route parent entries are kept) and the route annotations we set. Gateways first,
 * then routes, each sorted by namespace/name. Conditions without `lastTransitionTime` (file mode) get
 * {@link FILE_MODE_TRANSITION_TIME}, so the same manifests always print the same bytes.
 */
export function statusList(resources: ResourceSet, unstamped: StatusReport): Record<string, unknown> {
  const report = stampReport(unstamped, FILE_MODE_TRANSITION_TIME);
  const ours = ourControllers(report);
  return {
    apiVersion: "v1",
    kind: "List",
    items: [
      ...[...resources.gateways].sort(byKey).map((g) => gatewayItem(g, report)),
      ...[...resources.grpcRoutes].sort(byKey).map((r) => routeItem(r, report, ours)),
      ...policyItems(resources, report, new Set(ours)),
    ],
  };
}

/**
 * `statusList` as pretty JSON with a trailing newline (what `validate -o json` prints). `/status` adds the
 * input's issues as a top-level `issues` list (which clients reading the List ignore).
 */
export function renderStatusJson(
  resources: ResourceSet,
  report: StatusReport,
  issues?: readonly StatusIssue[],
): string {
  const list = statusList(resources, report);
  if (issues !== undefined) list.issues = issues;
  return `${JSON.stringify(list, null, 2)}\n`;
}

/** `statusList` as YAML (`validate -o yaml`). */
export function renderStatusYaml(resources: ResourceSet, report: StatusReport): string {
  return stringify(statusList(resources, report), { lineWidth: 0 });
}

/** A failed check for the exit code and the summary. */
export interface StatusProblem {
  object: string;
  message: string;
}

/**
 * What keeps `validate` from exiting 0: a route parent entry not Accepted, not ResolvedRefs or
 * PartiallyInvalid (a dropped rule is configuration that is not served), a listener of a Gateway we serve
 * not Programmed, an input issue of severity error.
 */
export function statusProblems(report: StatusReport, issues: readonly Issue[] = []): StatusProblem[] {
  const out: StatusProblem[] = [];
  for (const [key, st] of report.gateways) {
    for (const l of st.listeners) {
      const p = l.conditions.find((c) => c.type === "Programmed");
      if (p?.status !== "True") {
        out.push({
          object: `Gateway ${key} listener ${l.name}`,
          message: `not Programmed: ${p?.message ?? ""}`,
        });
      }
    }
  }
  for (const [key, st] of report.grpcRoutes) {
    for (const parent of st.parents) {
      const object = `GRPCRoute ${key} parent ${parentName(parent.parentRef, key)}`;
      for (const type of ["Accepted", "ResolvedRefs"]) {
        const c = parent.conditions.find((x) => x.type === type);
        if (c?.status !== "True") {
          out.push({
            object,
            message: `${type}=${c?.status ?? "missing"} ${c?.reason ?? ""}: ${c?.message ?? ""}`,
          });
        }
      }
      // A dropped rule is configuration that is not served: fail the build on it too.
      const partial = parent.conditions.find((x) => x.type === "PartiallyInvalid" && x.status === "True");
      if (partial !== undefined) out.push({ object, message: `PartiallyInvalid: ${partial.message}` });
    }
  }
  for (const [kind, statuses] of [
    ["TrafficPolicy", report.trafficPolicies],
    ["BackendTLSPolicy", report.backendTLSPolicies],
  ] as const) {
    for (const [key, st] of statuses) {
      for (const a of st.ancestors) {
        for (const c of a.conditions) {
          if (c.status === "True") continue;
          out.push({
            object: `${kind} ${key} ancestor ${parentName(a.ancestorRef, key)}`,
            message: `${c.type}=${c.status} ${c.reason}: ${c.message}`,
          });
        }
      }
    }
  }
  for (const [key, st] of report.targetGroupPolicies) {
    for (const c of st.conditions) {
      if (c.status !== "True")
        out.push({
          object: `TargetGroupPolicy ${key}`,
          message: `${c.type}=${c.status} ${c.reason}: ${c.message}`,
        });
    }
  }
  for (const i of issues) if (i.severity === "error") out.push({ object: "input", message: formatIssue(i) });
  return out;
}

function parentName(ref: ParentReference, routeKey: string): string {
  const ns = ref.namespace ?? routeKey.split("/")[0] ?? "";
  let s = `${ref.kind} ${ns}/${ref.name}`;
  if (ref.sectionName !== undefined) s += ` section ${ref.sectionName}`;
  if (ref.port !== undefined) s += ` port ${ref.port}`;
  return s;
}

function policyCount(resources: ResourceSet): string {
  const n =
    resources.trafficPolicies.length +
    resources.backendTLSPolicies.length +
    resources.targetGroupPolicies.length;
  return n === 0 ? "" : `, ${n} polic${n === 1 ? "y" : "ies"} (every one Accepted)`;
}

function conditionLine(c: Condition): string {
  return `${c.type}=${c.status} ${c.reason}${c.message === "" ? "" : `: ${c.message}`}`;
}

/**
 * A readable report: per Gateway its conditions, addresses and listeners (each with its conditions), per
 * GRPCRoute its annotations and per parent every condition, then the input issues and a summary line.
 */
export function renderStatusText(
  resources: ResourceSet,
  report: StatusReport,
  issues: readonly Issue[] = [],
): string {
  const lines: string[] = [];
  for (const g of [...resources.gateways].sort(byKey)) {
    const key = objectKey(g.metadata);
    const st = report.gateways.get(key);
    const profile = selectProfile(g, resources.gatewayClasses);
    if (st === undefined || profile === undefined) {
      lines.push(
        `Gateway ${key} (class ${g.spec.gatewayClassName}): not served by grpcroute (another controller's class)`,
      );
      lines.push("");
      continue;
    }
    lines.push(`Gateway ${key} (class ${g.spec.gatewayClassName}, ${profile} profile)`);
    for (const c of st.conditions) lines.push(`  ${conditionLine(c)}`);
    lines.push(`  addresses: ${st.addresses.map((a) => a.value).join(", ") || "(none)"}`);
    st.listeners.forEach((l, i) => {
      const spec = g.spec.listeners[i];
      const where =
        spec === undefined
          ? ""
          : ` ${spec.protocol} port ${spec.port}, hostname ${spec.hostname ?? "(any)"};`;
      const kinds = l.supportedKinds.map((k) => k.kind).join(", ") || "none";
      lines.push(
        `  listener ${l.name} (${where.trim()} attached routes ${l.attachedRoutes}; kinds ${kinds})`,
      );
      for (const c of l.conditions) lines.push(`    ${conditionLine(c)}`);
    });
    lines.push("");
  }
  for (const r of [...resources.grpcRoutes].sort(byKey)) {
    const key = objectKey(r.metadata);
    lines.push(`GRPCRoute ${key}`);
    const ann = report.routeAnnotations.get(key);
    for (const [k, v] of Object.entries(ann ?? {})) lines.push(`  annotation ${k}: ${v}`);
    const st = report.grpcRoutes.get(key);
    if (st === undefined || st.parents.length === 0) {
      lines.push("  not attached to a Gateway served by grpcroute");
    }
    for (const p of st?.parents ?? []) {
      lines.push(`  parent ${parentName(p.parentRef, key)}`);
      for (const c of p.conditions) lines.push(`    ${conditionLine(c)}`);
    }
    lines.push("");
  }
  for (const [kind, list, statuses] of [
    ["TrafficPolicy", resources.trafficPolicies, report.trafficPolicies],
    ["BackendTLSPolicy", resources.backendTLSPolicies, report.backendTLSPolicies],
  ] as const) {
    for (const p of [...list].sort(byKey)) {
      const key = objectKey(p.metadata);
      lines.push(`${kind} ${key}`);
      const st = statuses.get(key);
      if (st === undefined || st.ancestors.length === 0) {
        lines.push("  no ancestor: it reaches no Gateway served by grpcroute");
      }
      for (const a of st?.ancestors ?? []) {
        lines.push(`  ancestor ${parentName(a.ancestorRef, key)}`);
        for (const c of a.conditions) lines.push(`    ${conditionLine(c)}`);
      }
      lines.push("");
    }
  }
  for (const p of [...resources.targetGroupPolicies].sort(byKey)) {
    const key = objectKey(p.metadata);
    lines.push(`TargetGroupPolicy ${key}`);
    for (const c of report.targetGroupPolicies.get(key)?.conditions ?? [])
      lines.push(`  ${conditionLine(c)}`);
    lines.push("");
  }
  if (issues.length > 0) {
    lines.push("Input issues:");
    for (const i of issues) lines.push(`  ${i.severity}: ${formatIssue(i)}`);
    lines.push("");
  }
  const problems = statusProblems(report, issues);
  lines.push(
    problems.length === 0
      ? `OK: ${resources.gateways.length} Gateway(s), ${resources.grpcRoutes.length} GRPCRoute(s)${policyCount(resources)}; every route Accepted with references resolved, every listener Programmed`
      : `NOT OK: ${problems.length} problem(s)`,
  );
  for (const p of problems) lines.push(`  ${p.object}: ${p.message}`);
  return `${lines.join("\n")}\n`;
}
