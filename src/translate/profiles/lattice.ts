/**
 * The Lattice profile: Gateways of the AWS Gateway API Controller's class behave as VPC Lattice would
 * (PRODUCT.md section 3, docs/lattice.md). Compared with the standard profile it
 * - attaches GRPCRoute to HTTPS listeners only, and reports the kinds the AWS controller reports;
 * - rejects what a Lattice listener rule cannot express (limits in `lattice/limits.ts`), with status;
 * - matches methods without regard to case, as the AWS controller's GRPCRoute page states (switchable), and header values
 *   without regard to case (the controller sends `caseSensitive: false`);
 * - orders a route's rules by Lattice priority (rule order, annotation overrides);
 * - answers on the route's assigned domain name and `hostnames[0]`, with a generated certificate when the
 *   HTTPS listener has none (Lattice manages its own);
 * - answers HTTP 404 when no rule matches and HTTP 500 when a rule has no valid target group.
 */
import { GATEWAY_GROUP, type GRPCRoute, type RouteGroupKind } from "../../api/types.js";
import type { IrAction, IrBackend } from "../../ir/routing-table.js";
import { checkLatticeRoute, type LatticeRouteCheck } from "../../lattice/checks.js";
import { routeAuthorities } from "../../lattice/domains.js";
import { methodCaseAnnotation, methodCaseInsensitive } from "../../lattice/method-case.js";
import { ANNOTATION_ASSIGNED_DOMAIN, ANNOTATION_METHOD_MATCH } from "../../lattice/names.js";
import type { GatewayProfile, ListenerEntry, ProfileContext, RuleActionInput } from "../profile.js";
import { standardProfile } from "./standard.js";

/** Lattice's fixed responses: the listener default action and a rule without a valid target group. */
export const LATTICE_NO_ROUTE_STATUS = 404;
export const LATTICE_NO_TARGET_STATUS = 500;

const HTTP_ROUTE: RouteGroupKind = { group: GATEWAY_GROUP, kind: "HTTPRoute" };
const GRPC_ROUTE: RouteGroupKind = { group: GATEWAY_GROUP, kind: "GRPCRoute" };
const TLS_ROUTE: RouteGroupKind = { group: GATEWAY_GROUP, kind: "TLSRoute" };

/**
 * Route kinds per listener protocol as the AWS controller admits them (`isRouteKindAllowedByListener`) and
 * reports them in `supportedKinds`: HTTP carries HTTPRoute, HTTPS carries HTTPRoute and GRPCRoute, TLS
 * carries TLSRoute. grpcroute serves only the GRPCRoutes; the others are listed so a Lattice Gateway's
 * status reads as it does in AWS.
 */
function latticeKinds(protocol: string): RouteGroupKind[] {
  switch (protocol) {
    case "HTTP":
      return [{ ...HTTP_ROUTE }];
    case "HTTPS":
      return [{ ...HTTP_ROUTE }, { ...GRPC_ROUTE }];
    case "TLS":
      return [{ ...TLS_ROUTE }];
    default:
      return [];
  }
}

// The whole-route check is needed by several hooks for the same route object; compute it once per quota.
const checks = new WeakMap<GRPCRoute, Map<number | undefined, LatticeRouteCheck>>();
function routeCheck(route: GRPCRoute, ctx: ProfileContext): LatticeRouteCheck {
  const quota = ctx.options.lattice?.rulesPerListener;
  let byQuota = checks.get(route);
  if (byQuota === undefined) {
    byQuota = new Map();
    checks.set(route, byQuota);
  }
  let c = byQuota.get(quota);
  if (c === undefined) {
    c = checkLatticeRoute(route, quota);
    byQuota.set(quota, c);
  }
  return c;
}

/**
 * Whether a route's method matches ignore case: the route's `grpcroute.dev/lattice-method-match` annotation,
 * else the Gateway's, else `TranslateOptions.lattice.methodCase`, else case-insensitive (the AWS GRPCRoute page's words:
 * "All method matches are currently case-insensitive").
 */
export function latticeMethodCaseInsensitive(route: GRPCRoute, ctx: ProfileContext): boolean {
  return methodCaseInsensitive(
    route.metadata.annotations,
    ctx.gateway.metadata.annotations,
    ctx.options.lattice?.methodCase,
  );
}

/** Lattice rule action: forward to the valid target groups only; none valid -> fixed HTTP 500. */
export function latticeRuleAction(input: RuleActionInput): IrAction {
  const where = `rule ${input.ruleIndex} of GRPCRoute ${input.route.metadata.namespace}/${input.route.metadata.name}`;
  const backends: IrBackend[] = [];
  for (const b of input.backends) {
    if (b.problem !== undefined || b.cluster === undefined) continue;
    backends.push({ weight: b.weight, cluster: b.cluster, source: b.source });
  }
  if (backends.length === 0) {
    const why =
      input.backends.length === 0
        ? "has no backendRefs"
        : `has no valid backendRef (${input.backends.map((b) => b.problem?.message ?? "not resolved").join("; ")})`;
    return { kind: "direct", httpStatus: LATTICE_NO_TARGET_STATUS, message: `${where} ${why}` };
  }
  if (backends.every((b) => b.weight === 0)) {
    return {
      kind: "direct",
      httpStatus: LATTICE_NO_TARGET_STATUS,
      message: `every valid target group of ${where} has weight 0`,
    };
  }
  return { kind: "forward", backends, mirrors: [] };
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Each Lattice route is its own service on its own domain, so entries only compete within a route: by
 * rule priority, then match. Routes sharing a custom domain are tried oldest first, then by namespace/name.
 */
function orderLatticeEntries(entries: readonly ListenerEntry[]): ListenerEntry[] {
  const key = (e: ListenerEntry): string => `${e.route.metadata.namespace}/${e.route.metadata.name}`;
  return [...entries].sort((a, b) => {
    const ta = a.route.metadata.creationTimestamp;
    const tb = b.route.metadata.creationTimestamp;
    if (ta !== tb) {
      if (ta === "") return 1;
      if (tb === "") return -1;
      const c = compareStrings(ta, tb);
      if (c !== 0) return c;
    }
    return compareStrings(key(a), key(b)) || a.rulePosition - b.rulePosition || a.matchIndex - b.matchIndex;
  });
}

/** The Lattice profile. */
export const latticeProfile: GatewayProfile = {
  ...standardProfile,
  name: "lattice",
  defaultRouteKinds: (protocol) => latticeKinds(protocol),
  // Unlike the AWS controller, a GRPCRoute listed on an HTTP listener is not admitted (Lattice serves gRPC
  // on HTTPS only), and the listener reports InvalidRouteKinds as the controller's Gateway status does.
  routeKindAllowed: (protocol, kind) =>
    latticeKinds(protocol).some((k) => k.kind === kind.kind && k.group === kind.group),
  checkRule: (route, ruleIndex, ctx) =>
    (routeCheck(route, ctx).rules[ruleIndex] ?? []).map((v) => ({ path: v.path, message: v.message })),
  checkRoute: (route, ctx) => {
    const problems = routeCheck(route, ctx).route.map((v) => ({ path: v.path, message: v.message }));
    const notes: string[] = [];
    if (methodCaseAnnotation(route.metadata.annotations) === "invalid") {
      problems.push({
        path: `metadata.annotations[${ANNOTATION_METHOD_MATCH}]`,
        message: `annotation ${ANNOTATION_METHOD_MATCH} is "${route.metadata.annotations[ANNOTATION_METHOD_MATCH]}"; use case-sensitive or case-insensitive`,
      });
    }
    if (methodCaseAnnotation(ctx.gateway.metadata.annotations) === "invalid") {
      notes.push(
        `Gateway annotation ${ANNOTATION_METHOD_MATCH} is "${ctx.gateway.metadata.annotations[ANNOTATION_METHOD_MATCH]}" and is ignored; use case-sensitive or case-insensitive`,
      );
    }
    return { problems, notes };
  },
  methodCaseInsensitive: (route, ctx) => latticeMethodCaseInsensitive(route, ctx),
  // The AWS controller sends header matches with caseSensitive: false.
  headerValueCaseInsensitive: () => true,
  ruleOrder: (route, valid, ctx) => {
    const p = routeCheck(route, ctx).priorities;
    return [...valid].sort((a, b) => (p[a] ?? 0) - (p[b] ?? 0) || a - b);
  },
  orderEntries: (entries) => orderLatticeEntries(entries),
  routeHostnames: (route, _listener, _intersection, ctx) =>
    routeAuthorities(route, ctx.options.lattice?.domainSuffix),
  ruleAction: (input) => latticeRuleAction(input),
  listenerHostname: () => undefined,
  noRoute: () => ({
    kind: "direct",
    httpStatus: LATTICE_NO_ROUTE_STATUS,
    message: "no Lattice rule matches this call (listener default action: fixed response 404)",
  }),
  missingCertificates: (listener) => (listener.protocol === "HTTPS" ? "generate" : "invalid"),
  generatedTlsNames: (_listener, routes, ctx) => {
    const names = new Set<string>();
    for (const r of routes) {
      for (const n of routeAuthorities(r, ctx.options.lattice?.domainSuffix)) names.add(n);
    }
    return [...names];
  },
  routeAnnotations: (route, ctx) => ({
    [ANNOTATION_ASSIGNED_DOMAIN]: routeAuthorities(route, ctx.options.lattice?.domainSuffix)[0] ?? "",
  }),
  trafficPolicySupport: (ctx) =>
    `Gateway ${ctx.gateway.metadata.namespace}/${ctx.gateway.metadata.name} uses the VPC Lattice profile, and VPC Lattice has no such feature: a Lattice service takes no timeouts, retries, health checks or outlier detection from a TrafficPolicy (its target groups' health checks come from TargetGroupPolicy)`,
};
