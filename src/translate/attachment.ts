/**
 * Attaching a GRPCRoute to a Gateway through one parentRef (reference section 3.3, "Steps for a route
 * parentRef of kind Gateway").
 */
import type { Gateway, GRPCRoute, LabelSelector, ParentReference } from "../api/types.js";
import { type Indexes, namespaceLabels } from "./context.js";
import { effectiveHostnames } from "./hostnames.js";
import type { ListenerState } from "./listeners.js";
import { RouteReason } from "./status/reasons.js";

/** A listener the route attached to, with the route's hostnames intersected with the listener's. */
export interface Attached {
  state: ListenerState;
  hostnames: string[];
}

export type Attachment = { ok: true; listeners: Attached[] } | { ok: false; reason: string; message: string };

/** Whether a label selector selects a set of labels (empty selector: everything). */
export function selectorMatches(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (sel === undefined) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    const values = e.values ?? [];
    switch (e.operator) {
      case "In":
        if (!has || value === undefined || !values.includes(value)) return false;
        break;
      case "NotIn":
        if (has && value !== undefined && values.includes(value)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** Why a listener's `allowedRoutes.namespaces` does not admit a namespace, or undefined when it does. */
function namespaceProblem(
  idx: Indexes,
  gateway: Gateway,
  st: ListenerState,
  routeNs: string,
): string | undefined {
  const ns = st.listener.allowedRoutes.namespaces;
  switch (ns.from) {
    case "All":
      return undefined;
    case "Selector":
      return selectorMatches(ns.selector, namespaceLabels(idx, routeNs))
        ? undefined
        : `namespace ${routeNs} does not match allowedRoutes.namespaces.selector`;
    default:
      return routeNs === gateway.metadata.namespace
        ? undefined
        : `namespace ${routeNs} is not the Gateway's namespace (allowedRoutes.namespaces.from: Same)`;
  }
}

/**
 * Attaches through one parentRef: candidate listeners by sectionName and port (none: NoMatchingParent),
 * those whose kinds and namespace policy admit the route (none: NotAllowedByListeners), those whose
 * hostname intersects the route's (none: NoMatchingListenerHostname).
 */
export function attach(
  idx: Indexes,
  route: GRPCRoute,
  ref: ParentReference,
  gateway: Gateway,
  listeners: readonly ListenerState[],
): Attachment {
  const gwName = `${gateway.metadata.namespace}/${gateway.metadata.name}`;
  const candidates = listeners.filter(
    (s) =>
      (ref.sectionName === undefined || s.listener.name === ref.sectionName) &&
      (ref.port === undefined || s.listener.port === ref.port),
  );
  if (candidates.length === 0) {
    const what = [
      ref.sectionName === undefined ? "" : `named "${ref.sectionName}"`,
      ref.port === undefined ? "" : `on port ${ref.port}`,
    ]
      .filter((s) => s !== "")
      .join(" ");
    return {
      ok: false,
      reason: RouteReason.NoMatchingParent,
      message: `Gateway ${gwName} has no listener ${what}`.trimEnd(),
    };
  }
  const routeNs = route.metadata.namespace;
  const reasons: string[] = [];
  const allowed = candidates.filter((s) => {
    const why = s.kindProblem ?? namespaceProblem(idx, gateway, s, routeNs);
    if (why !== undefined) reasons.push(`listener "${s.listener.name}": ${why}`);
    return why === undefined;
  });
  if (allowed.length === 0) {
    return {
      ok: false,
      reason: RouteReason.NotAllowedByListeners,
      message: `No listener of Gateway ${gwName} allows this route: ${reasons.join("; ")}`,
    };
  }
  const out: Attached[] = [];
  for (const s of allowed) {
    const hostnames = effectiveHostnames(route.spec.hostnames, s.listener.hostname);
    if (hostnames !== undefined) out.push({ state: s, hostnames });
  }
  if (out.length === 0) {
    const lh = allowed.map((s) => `"${s.listener.name}": ${s.listener.hostname ?? "(any)"}`).join(", ");
    return {
      ok: false,
      reason: RouteReason.NoMatchingListenerHostname,
      message: `No route hostname (${route.spec.hostnames.join(", ")}) matches a listener hostname (${lh})`,
    };
  }
  return { ok: true, listeners: out };
}
