/**
 * The translator: a ResourceSet in, Gateway API status and a RoutingTable out. Pure (no I/O, no clock, no
 * randomness), deterministic (inputs sorted, names from `ir/names.ts`, map keys sorted) and total: bad
 * user input becomes status, never an exception.
 *
 * This file only orchestrates; each concern has its own module (listeners, attachment, routes, backends,
 * hostnames, precedence, status/*), and everything a Gateway's profile may change goes through its
 * `GatewayProfile` hooks.
 */
import {
  GATEWAY_GROUP,
  type Gateway,
  type GatewayStatus,
  type GRPCRoute,
  type ObjectKey,
  objectKey,
  type ResourceSet,
  type RouteParentStatus,
  type RouteStatus,
} from "../api/types.js";
import { listenerName, routeName } from "../ir/names.js";
import type { IrCluster, IrListener, IrRoute, RoutingTable } from "../ir/routing-table.js";
import { attach } from "./attachment.js";
import { buildIndexes, type Indexes } from "./context.js";
import { evaluateListeners, findConflicts, findTlsOverlaps, type ListenerState } from "./listeners.js";
import { TargetGroupPolicies } from "./policies/target-group.js";
import { TrafficPolicies } from "./policies/traffic.js";
import { ServiceUsage } from "./policies/usage.js";
import type { GatewayProfile, ListenerEntry, ProfileContext, RuleProblem } from "./profile.js";
import { parentControllerName, profileFor, selectProfile } from "./profiles/index.js";
import { headerFilters, irMatch, type ResolvedRule, resolveRule, standardRuleProblems } from "./routes.js";
import { gatewayStatus, unsupportedAddressTypes, unsupportedParameters } from "./status/gateway.js";
import { parentStatus, whollyInvalid } from "./status/route.js";
import { CONTROLLER_NAME, type StatusReport, type TranslateOptions, type TranslateResult } from "./types.js";

/** Gateway annotation that turns gRPC-Web off on its listeners (`disabled`; gRPC-Web calls then get 415). */
export const ANNOTATION_GRPC_WEB = "grpcroute.dev/grpc-web";

/** A Gateway we serve, with its profile and evaluated listeners. */
interface GatewayInfo {
  gateway: Gateway;
  profile: GatewayProfile;
  ctx: ProfileContext;
  listeners: ListenerState[];
  /** Per listener index: routes attached (Accepted) with their intersected hostnames, by route key. */
  attached: Map<ObjectKey, { route: GRPCRoute; hostnames: string[] }>[];
}

/** Rule validity of one route for one Gateway (profiles may differ per Gateway). */
interface Validity {
  ruleProblems: RuleProblem[][];
  valid: number[];
  routeProblems: RuleProblem[];
  notes: string[];
}

function byKey<T extends { metadata: { namespace: string; name: string } }>(a: T, b: T): number {
  const ka = objectKey(a.metadata);
  const kb = objectKey(b.metadata);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function validity(route: GRPCRoute, info: GatewayInfo): Validity {
  const ruleProblems = route.spec.rules.map((_, i) => [
    ...standardRuleProblems(route, i),
    ...info.profile.checkRule(route, i, info.ctx),
  ]);
  const check = info.profile.checkRoute(route, info.ctx);
  const valid = ruleProblems.flatMap((p, i) => (p.length === 0 ? [i] : []));
  return { ruleProblems, valid, routeProblems: check.problems, notes: check.notes };
}

/** Translates a snapshot. See the module comment for the guarantees. */
export function translate(input: ResourceSet, opts: TranslateOptions = {}): TranslateResult {
  const idx: Indexes = buildIndexes(input);
  const controllerName = opts.controllerName ?? CONTROLLER_NAME;

  // Gateways we serve, sorted by namespace/name.
  const gateways = new Map<ObjectKey, GatewayInfo>();
  const allGatewayKeys = new Set(input.gateways.map((g) => objectKey(g.metadata)));
  const served = [...input.gateways]
    .sort(byKey)
    .filter((g) => selectProfile(g, input.gatewayClasses, opts.cluster) !== undefined);
  const servedListeners = served.flatMap((g) =>
    g.spec.listeners.map((listener, index) => ({ gateway: objectKey(g.metadata), listener, index })),
  );
  const conflictMap = findConflicts(servedListeners);
  const tlsOverlaps = findTlsOverlaps(servedListeners, conflictMap);
  for (const gateway of served) {
    const profileName = selectProfile(gateway, input.gatewayClasses, opts.cluster);
    if (profileName === undefined) continue;
    const profile = profileFor(profileName);
    const ctx: ProfileContext = { gateway, resources: input, options: opts };
    const badTypes = unsupportedAddressTypes(gateway);
    const gatewayProblem =
      unsupportedParameters(gateway) !== undefined
        ? "the Gateway's parametersRef cannot be honoured"
        : badTypes.length > 0
          ? `the Gateway's address type ${badTypes.join(", ")} is not supported`
          : undefined;
    const listeners = evaluateListeners(idx, gateway, profile, ctx, conflictMap, tlsOverlaps, gatewayProblem);
    gateways.set(objectKey(gateway.metadata), {
      gateway,
      profile,
      ctx,
      listeners,
      attached: listeners.map(() => new Map()),
    });
  }

  // Routes: attach every parentRef, build parent status.
  const routes = [...input.grpcRoutes].sort(byKey);
  const resolvedCache = new Map<ObjectKey, ResolvedRule[]>();
  const resolved = (route: GRPCRoute): ResolvedRule[] => {
    const k = objectKey(route.metadata);
    let r = resolvedCache.get(k);
    if (r === undefined) {
      r = route.spec.rules.map((_, i) => resolveRule(idx, route, i));
      resolvedCache.set(k, r);
    }
    return r;
  };
  const validityCache = new Map<string, Validity>();
  const validityFor = (route: GRPCRoute, gwKey: ObjectKey, info: GatewayInfo): Validity => {
    const k = `${objectKey(route.metadata)}|${gwKey}`;
    let v = validityCache.get(k);
    if (v === undefined) {
      v = validity(route, info);
      validityCache.set(k, v);
    }
    return v;
  };

  const routeStatus = new Map<ObjectKey, RouteStatus>();
  const routeAnnotations = new Map<ObjectKey, Record<string, string>>();
  for (const route of routes) {
    const rk = objectKey(route.metadata);
    const parents: RouteParentStatus[] = [];
    const annotations: Record<string, string> = {};
    for (const ref of route.spec.parentRefs) {
      // Only Gateway parents are ours to judge; mesh (Service) parents are not served.
      if (ref.group !== GATEWAY_GROUP || ref.kind !== "Gateway") continue;
      const gwKey = `${ref.namespace ?? route.metadata.namespace}/${ref.name}`;
      const info = gateways.get(gwKey);
      const refProblems = resolved(route).flatMap((r) => r.problems);
      const generation = route.metadata.generation;
      if (info === undefined) {
        // Another controller's Gateway gets no entry from us; a Gateway that does not exist at all is
        // reported, so a typo in parentRefs does not pass `validate` silently.
        if (allGatewayKeys.has(gwKey) || opts.cluster !== undefined) continue;
        parents.push(
          parentStatus({
            parentRef: ref,
            controllerName,
            generation,
            attachProblem: { reason: "NoMatchingParent", message: `Gateway ${gwKey} not found` },
            listeners: [],
            gateway: gwKey,
            routeProblems: [],
            ruleProblems: [],
            notes: [],
            refProblems,
          }),
        );
        continue;
      }
      const v = validityFor(route, gwKey, info);
      const a = attach(idx, route, ref, info.gateway, info.listeners);
      const outcome = {
        parentRef: ref,
        controllerName: parentControllerName(info.profile.name, controllerName, opts.cluster),
        generation,
        listeners: a.ok ? a.listeners.map((l) => l.state.listener.name) : [],
        gateway: gwKey,
        routeProblems: v.routeProblems,
        ruleProblems: v.ruleProblems,
        notes: v.notes,
        refProblems,
        ...(a.ok ? {} : { attachProblem: { reason: a.reason, message: a.message } }),
      };
      parents.push(parentStatus(outcome));
      if (a.ok && !whollyInvalid(outcome)) {
        for (const l of a.listeners) {
          const m = info.attached[l.state.index];
          if (m !== undefined && !m.has(rk)) m.set(rk, { route, hostnames: l.hostnames });
        }
        Object.assign(annotations, info.profile.routeAnnotations(route, info.ctx));
      }
    }
    if (parents.length > 0) routeStatus.set(rk, { parents });
    if (Object.keys(annotations).length > 0) routeAnnotations.set(rk, sortRecord(annotations));
  }

  const traffic = new TrafficPolicies(input, idx.services, gateways, allGatewayKeys);
  const usage = new ServiceUsage();

  // Gateway status and the routing table.
  const gatewayStatuses = new Map<ObjectKey, GatewayStatus>();
  const listenersIr: IrListener[] = [];
  const clusters = new Map<string, IrCluster>();
  for (const [gwKey, info] of gateways) {
    gatewayStatuses.set(
      gwKey,
      gatewayStatus(
        info.gateway,
        info.listeners,
        info.attached.map((m) => m.size),
        opts.addresses ?? [],
      ),
    );
    for (const st of info.listeners) {
      if (!st.programmed) continue;
      listenersIr.push(buildListener(info, gwKey, st, resolved, validityFor, clusters, traffic, usage));
    }
  }

  const sorted = [...clusters.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const table: RoutingTable = {
    version: opts.version ?? 0,
    listeners: listenersIr,
    clusters: Object.fromEntries(sorted),
  };
  // Policies on Services: they apply, and report status, through the Gateways whose routes use the Service.
  // TargetGroupPolicies give the Lattice profile's clusters VPC Lattice's HTTP health checks.
  const targetGroups = new TargetGroupPolicies(input, idx.services);
  for (const [name, c] of sorted) {
    let policy = traffic.clusterPolicy(c, usage);
    const keeps = policy?.healthCheck === undefined ? undefined : policy.sources.healthCheck;
    const lattice = targetGroups.clusterHealth(c, usage, keeps);
    if (lattice !== undefined) {
      policy = {
        ...policy,
        healthCheck: lattice.healthCheck,
        sources: { ...policy?.sources, healthCheck: lattice.source },
      };
    }
    if (policy !== undefined) table.clusters[name] = { ...c, policy };
  }
  const status: StatusReport = {
    gateways: gatewayStatuses,
    grpcRoutes: routeStatus,
    routeAnnotations,
    trafficPolicies: traffic.status(usage, controllerName),
    backendTLSPolicies: idx.backendTls.status(usage, controllerName),
    targetGroupPolicies: targetGroups.status(usage),
  };
  return { table, status };
}

function sortRecord(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** One programmed listener in IR form: its routes in the profile's order, TLS and the no-route answer. */
function buildListener(
  info: GatewayInfo,
  gwKey: ObjectKey,
  st: ListenerState,
  resolved: (r: GRPCRoute) => ResolvedRule[],
  validityFor: (r: GRPCRoute, k: ObjectKey, i: GatewayInfo) => Validity,
  clusters: Map<string, IrCluster>,
  traffic: TrafficPolicies,
  usage: ServiceUsage,
): IrListener {
  const { gateway, profile, ctx } = info;
  const listener = st.listener;
  const attached = [...(info.attached[st.index]?.entries() ?? [])].sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const entries: ListenerEntry[] = [];
  for (const [, { route, hostnames }] of attached) {
    const v = validityFor(route, gwKey, info);
    const order = profile.ruleOrder(route, v.valid, ctx);
    const hosts = profile.routeHostnames(route, listener, hostnames, ctx);
    const methodCi = profile.methodCaseInsensitive(route, ctx);
    const headerCi = profile.headerValueCaseInsensitive(route, ctx);
    const rr = resolved(route);
    order.forEach((ruleIndex, rulePosition) => {
      const rule = route.spec.rules[ruleIndex];
      const res = rr[ruleIndex];
      if (rule === undefined || res === undefined) return;
      const action = profile.ruleAction(
        {
          route,
          ruleIndex,
          rule,
          backends: res.backends,
          mirrors: res.mirrors,
          ...headerFilters(rule.filters),
        },
        ctx,
      );
      // Register the clusters the action uses (a profile may drop some backends).
      const used = new Set<string>();
      if (action.kind === "forward") {
        for (const b of action.backends) if (b.cluster !== undefined) used.add(b.cluster);
        for (const m of action.mirrors) used.add(m.cluster);
      }
      for (const c of res.clusters) {
        if (used.has(c.name)) clusters.set(c.name, c);
        usage.add(gwKey, profile.name, c);
      }
      const policy =
        action.kind === "forward" ? traffic.callPolicy(gwKey, listener.name, route, ruleIndex) : undefined;
      const matches = rule.matches.length > 0 ? rule.matches : [undefined];
      matches.forEach((m, matchIndex) => {
        const source: IrRoute["source"] = {
          kind: "GRPCRoute",
          namespace: route.metadata.namespace,
          name: route.metadata.name,
          section: `rule/${ruleIndex}/match/${matchIndex}`,
          rule: ruleIndex,
          match: matchIndex,
        };
        if (rule.name !== undefined) source.ruleName = rule.name;
        const ir: IrRoute = {
          name: routeName(route.metadata.namespace, route.metadata.name, ruleIndex, matchIndex),
          source,
          hostnames: hosts,
          match: irMatch(m, methodCi, headerCi),
          action,
        };
        if (policy !== undefined) ir.policy = policy;
        entries.push({ route, ruleIndex, matchIndex, rulePosition, ir });
      });
    });
  }
  const out: IrListener = {
    name: listenerName(gateway.metadata.namespace, gateway.metadata.name, listener.name),
    gateway: { namespace: gateway.metadata.namespace, name: gateway.metadata.name },
    listener: listener.name,
    profile: profile.name,
    port: listener.port,
    protocol: listener.protocol === "HTTPS" ? "HTTPS" : "HTTP",
    routes: profile.orderEntries(entries, ctx).map((e) => e.ir),
    noRoute: profile.noRoute(listener, ctx),
  };
  const hostname = profile.listenerHostname(listener, ctx);
  if (hostname !== undefined) out.hostname = hostname;
  if (gateway.metadata.annotations[ANNOTATION_GRPC_WEB] === "disabled") out.grpcWebDisabled = true;
  if (listener.protocol === "HTTPS") {
    out.tls = { certificates: st.certificates };
    if (st.generateTls) {
      out.tls.generate = {
        dnsNames: profile.generatedTlsNames(
          listener,
          attached.map(([, a]) => a.route),
          ctx,
        ),
      };
    }
  }
  return out;
}
