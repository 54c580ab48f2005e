/**
 * The standard profile: the Gateway API's own semantics (reference sections 2 and 3), for Gateways of our
 * GatewayClass (`grpcroute.dev/gateway-controller`) and, in file mode, Gateways whose class is not given.
 *
 * Its functions are exported one by one so another profile can reuse the parts it does not change.
 */
import { GATEWAY_GROUP, type RouteGroupKind } from "../../api/types.js";
import type { IrAction, IrBackend, IrDirect } from "../../ir/routing-table.js";
import { sortByPrecedence } from "../precedence.js";
import type { GatewayProfile, RuleActionInput } from "../profile.js";

/** gRPC status codes the translator writes into direct responses. */
export const GRPC_UNIMPLEMENTED = 12;
export const GRPC_UNAVAILABLE = 14;

/** The GRPCRoute kind as listeners list it. */
export const GRPCROUTE_KIND: RouteGroupKind = { group: GATEWAY_GROUP, kind: "GRPCRoute" };

/** HTTP (h2c prior knowledge) and HTTPS (ALPN h2) listeners carry GRPCRoute; nothing else does. */
export function standardDefaultRouteKinds(protocol: string): RouteGroupKind[] {
  return protocol === "HTTP" || protocol === "HTTPS" ? [{ ...GRPCROUTE_KIND }] : [];
}

/** A listed kind is valid when it is GRPCRoute (HTTPRoute is not served by grpcroute) on HTTP or HTTPS. */
export function standardRouteKindAllowed(protocol: string, kind: RouteGroupKind): boolean {
  return (
    (protocol === "HTTP" || protocol === "HTTPS") &&
    kind.group === GATEWAY_GROUP &&
    kind.kind === GRPCROUTE_KIND.kind
  );
}

/**
 * The standard rule action (reference sections 2.5 to 2.7):
 * - no backendRefs: UNIMPLEMENTED ("A rule with no backendRefs ... answers UNIMPLEMENTED");
 * - every weight zero: UNAVAILABLE (never fall back to an arbitrary backend);
 * - otherwise forward; an invalid backendRef keeps its weight share, and that share answers UNAVAILABLE
 *   ("This is pro rata").
 */
export function standardRuleAction(input: RuleActionInput): IrAction {
  const where = `rule ${input.ruleIndex} of GRPCRoute ${input.route.metadata.namespace}/${input.route.metadata.name}`;
  if (input.backends.length === 0) {
    return { kind: "direct", grpcStatus: GRPC_UNIMPLEMENTED, message: `${where} has no backendRefs` };
  }
  if (input.backends.every((b) => b.weight === 0)) {
    return {
      kind: "direct",
      grpcStatus: GRPC_UNAVAILABLE,
      message: `every backendRef of ${where} has weight 0`,
    };
  }
  const backends: IrBackend[] = input.backends.map((b) => {
    const out: IrBackend = { weight: b.weight, source: b.source };
    if (b.problem !== undefined || b.cluster === undefined) {
      out.invalid = {
        kind: "direct",
        grpcStatus: GRPC_UNAVAILABLE,
        message: `backendRef ${b.index} of ${where} is invalid: ${b.problem?.message ?? "not resolved"}`,
      };
    } else if (b.unusable !== undefined) {
      out.invalid = {
        kind: "direct",
        grpcStatus: GRPC_UNAVAILABLE,
        message: `backendRef ${b.index} of ${where} cannot be reached: ${b.unusable}`,
      };
    } else {
      out.cluster = b.cluster;
      if (b.requestHeaders !== undefined) out.requestHeaders = b.requestHeaders;
      if (b.responseHeaders !== undefined) out.responseHeaders = b.responseHeaders;
    }
    return out;
  });
  const action: IrAction = { kind: "forward", backends, mirrors: input.mirrors };
  if (input.requestHeaders !== undefined) action.requestHeaders = input.requestHeaders;
  if (input.responseHeaders !== undefined) action.responseHeaders = input.responseHeaders;
  return action;
}

/** Spec text (v1.6): a call that matches no route "gRPC returns an Unimplemented status code". */
export function standardNoRoute(): IrDirect {
  return { kind: "direct", grpcStatus: GRPC_UNIMPLEMENTED, message: "no route matches this call" };
}

/** The standard profile. */
export const standardProfile: GatewayProfile = {
  name: "standard",
  defaultRouteKinds: (protocol) => standardDefaultRouteKinds(protocol),
  routeKindAllowed: (protocol, kind) => standardRouteKindAllowed(protocol, kind),
  checkRule: () => [],
  checkRoute: () => ({ problems: [], notes: [] }),
  methodCaseInsensitive: () => false,
  headerValueCaseInsensitive: () => false,
  ruleOrder: (_route, valid) => [...valid],
  orderEntries: (entries) => sortByPrecedence(entries),
  routeHostnames: (_route, _listener, intersection) => intersection,
  ruleAction: (input) => standardRuleAction(input),
  listenerHostname: (listener) => (listener.hostname === "" ? undefined : listener.hostname),
  noRoute: () => standardNoRoute(),
  missingCertificates: () => "invalid",
  generatedTlsNames: () => [],
  routeAnnotations: () => ({}),
  trafficPolicySupport: () => undefined,
};
