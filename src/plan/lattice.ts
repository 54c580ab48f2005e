/**
 * `planLattice`: the VPC Lattice resources the AWS Gateway API Controller would create for every
 * Lattice-profile GRPCRoute, in the VPC Lattice API's own input shapes and field names (CreateService,
 * CreateListener, CreateRule, CreateTargetGroup, RegisterTargets), so they read against the AWS docs.
 *
 * Pure and deterministic. Where AWS uses a clock or a random suffix a documented stand-in is used: rule
 * names take the route's creationTimestamp in unix seconds (0 when absent), target group names a 10-letter
 * suffix derived from a hash, and `*Identifier` fields hold resource names where AWS would put ids.
 *
 * What is planned follows the translator's result: the listeners a route is attached to (IR), which rules
 * are programmed and with which valid backends (IR routes), and the route's status for the reasons of what
 * is left out. Lattice-specific rule checks and priorities come from `checks.ts`.
 */
import { type Gateway, type GRPCRoute, objectKey, type ResourceSet, type Service } from "../api/types.js";
import type { IrAction, IrCluster, IrListener, IrRoute, RoutingTable } from "../ir/routing-table.js";
import { checkLatticeRoute, latticePath } from "../lattice/checks.js";
import { routeDomains } from "../lattice/domains.js";
import { MAX_LISTENERS_PER_SERVICE } from "../lattice/limits.js";
import { type MethodCase, methodCaseInsensitive } from "../lattice/method-case.js";
import {
  AWS_PREFIX,
  DEFAULT_DOMAIN_SUFFIX,
  latticeListenerName,
  latticeRuleName,
  latticeServiceId,
  latticeTargetGroupName,
  TAG_CLUSTER_NAME,
  TAG_MANAGED_BY,
  TAG_PROTOCOL_VERSION,
  TAG_ROUTE_NAME,
  TAG_ROUTE_NAMESPACE,
  TAG_ROUTE_TYPE,
  TAG_SERVICE_NAME,
  TAG_SERVICE_NAMESPACE,
  TAG_SOURCE_TYPE,
  unixSeconds,
} from "../lattice/names.js";
import { type LatticeHealthCheckConfig, latticeHealthCheck } from "../lattice/target-group-policy.js";
import { selectProfile } from "../translate/profiles/index.js";
import type { TranslateResult } from "../translate/types.js";
import { acceptedTargetGroupPolicies, type TargetGroupPolicies } from "./target-group-policies.js";

/** Options of a plan: the AWS controller's environment, which a file-based plan cannot know. */
export interface LatticePlanOptions {
  /** Suffix of assigned domain names. Default `vpc-lattice-svcs.us-west-2.on.aws`. */
  domainSuffix?: string;
  /** The controller's `CLUSTER_VPC_ID` (target group `vpcIdentifier`). Default the placeholder `CLUSTER_VPC_ID`. */
  vpcId?: string;
  /** The controller's `CLUSTER_NAME` (tags). Default the placeholder `CLUSTER_NAME`. */
  clusterName?: string;
  /** The AWS account id (ManagedBy tag). Default the placeholder `AWS_ACCOUNT_ID`. */
  accountId?: string;
  /** Global method-case default, as `TranslateOptions.lattice.methodCase`. Default case-insensitive. */
  methodCase?: MethodCase;
  /** The account's "Rules per listener" quota, as `TranslateOptions.lattice.rulesPerListener`. Default 10. */
  rulesPerListener?: number;
}

/** `HttpMatch.headerMatches[]` (HeaderMatch). */
export interface PlanHeaderMatch {
  name: string;
  match: { exact: string };
  caseSensitive: boolean;
}

/** `RuleMatch.httpMatch` (HttpMatch). */
export interface PlanHttpMatch {
  method: "POST";
  pathMatch: { match: { exact: string } | { prefix: string }; caseSensitive: boolean };
  headerMatches?: PlanHeaderMatch[];
}

/** `RuleAction`: forward to weighted target groups, or a fixed response. */
export type PlanRuleAction =
  | { forward: { targetGroups: { targetGroupIdentifier: string; weight: number }[] } }
  | { fixedResponse: { statusCode: number } };

/** CreateRule input (without the service and listener identifiers, given by nesting). */
export interface PlanRule {
  name: string;
  priority: number;
  match: { httpMatch: PlanHttpMatch };
  action: PlanRuleAction;
  /** Which GRPCRoute rule this is (not a Lattice field). */
  source: { rule: number };
}

/** CreateListener input (without `serviceIdentifier`), with the rules created on it. */
export interface PlanListener {
  name: string;
  protocol: string;
  port: number;
  defaultAction: { fixedResponse: { statusCode: 404 } };
  /** The Gateway listener it comes from (not a Lattice field). */
  source: { gateway: string; listener: string };
  rules: PlanRule[];
}

/** CreateService input plus what Lattice returns and the resources created under it. */
export interface PlanService {
  /** The GRPCRoute (not a Lattice field). */
  route: { namespace: string; name: string };
  name: string;
  customDomainName?: string;
  certificateArn?: string;
  tags: Record<string, string>;
  /** Stand-ins for CreateService's response: a stable id and the assigned domain name. */
  id: string;
  dnsEntry: { domainName: string };
  /** CreateServiceNetworkServiceAssociation inputs (empty in standalone mode). */
  serviceNetworkAssociations: { serviceNetworkIdentifier: string; serviceIdentifier: string }[];
  listeners: PlanListener[];
}

/** CreateTargetGroup input plus its RegisterTargets targets. */
export interface PlanTargetGroup {
  name: string;
  type: "IP";
  config: {
    port: number;
    /** HTTP, or a TargetGroupPolicy's `protocol`. */
    protocol: string;
    protocolVersion: "GRPC";
    ipAddressType: "IPV4" | "IPV6";
    vpcIdentifier: string;
    /** The controller's defaults, each field a TargetGroupPolicy sets replacing its default. */
    healthCheck: LatticeHealthCheckConfig;
  };
  tags: Record<string, string>;
  /** RegisterTargets input: endpoint address and port. */
  targets: { id: string; port: number }[];
}

/** The Lattice resources of every Lattice-profile route. */
export interface LatticePlan {
  /** One per Gateway a planned route is associated with (Gateway name = service network name). */
  serviceNetworks: { name: string }[];
  services: PlanService[];
  targetGroups: PlanTargetGroup[];
}

/** Something that will not become a Lattice resource, or will not as written. */
export interface PlanIssue {
  /** `namespace/name` of the route. */
  route: string;
  /** Field path, e.g. `spec.rules[1].matches`; empty for the whole route. */
  path: string;
  message: string;
}

const GRPC_PROTOCOL_VERSION = "GRPC";
const STANDALONE = `${AWS_PREFIX}/standalone`;
const USER_TAGS = `${AWS_PREFIX}/tags`;
const CERTIFICATE_ARN = `${AWS_PREFIX}/certificate-arn`;

/** Parses the `application-networking.k8s.aws/tags` annotation: `key=value` pairs separated by commas. */
export function parseUserTags(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === undefined) return out;
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim();
    // Keys under the controller's prefix are reserved for its own tags.
    if (k === "" || k.startsWith(`${AWS_PREFIX}/`)) continue;
    out[k] = part.slice(eq + 1).trim();
  }
  return out;
}

function sortedRecord(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The HttpMatch of one GRPCRoute match, as the controller builds it (reference section 2.4). */
function httpMatch(
  route: GRPCRoute,
  ruleIndex: number,
  pathCaseSensitive: boolean,
): PlanHttpMatch | undefined {
  const rule = route.spec.rules[ruleIndex];
  if (rule === undefined) return undefined;
  const m = rule.matches[0];
  const path = latticePath(m?.method);
  const out: PlanHttpMatch = {
    method: "POST",
    pathMatch: {
      match: path.kind === "exact" ? { exact: path.value } : { prefix: path.value },
      caseSensitive: pathCaseSensitive,
    },
  };
  if (m !== undefined && m.headers.length > 0) {
    out.headerMatches = m.headers.map((h) => ({
      name: h.name,
      match: { exact: h.value },
      caseSensitive: false,
    }));
  }
  return out;
}

interface TgKey {
  namespace: string;
  name: string;
  port: number | undefined;
}

function parseClusterName(name: string): TgKey | undefined {
  const m = /^service\/([^/]+)\/([^/]+)\/port\/(\d+)$/.exec(name);
  if (m === null) return undefined;
  return { namespace: m[1] ?? "", name: m[2] ?? "", port: Number(m[3]) };
}

function ipAddressType(svc: Service | undefined): "IPV4" | "IPV6" {
  return svc?.spec.ipFamilies?.[0] === "IPv6" ? "IPV6" : "IPV4";
}

function conditionMessages(result: TranslateResult, key: string): string[] {
  const st = result.status.grpcRoutes.get(key);
  if (st === undefined) return [];
  const out: string[] = [];
  for (const p of st.parents) {
    for (const c of p.conditions) {
      if (c.status === "False" || c.type === "PartiallyInvalid") {
        if (c.message !== "") out.push(`${c.type}=${c.status} (${c.reason}): ${c.message}`);
        else out.push(`${c.type}=${c.status} (${c.reason})`);
      }
    }
  }
  return [...new Set(out)];
}

/**
 * Plans every GRPCRoute attached to a Lattice-profile Gateway. `result` is `translate(resources, ...)`;
 * the plan follows it (attachment, programmed rules, valid backends).
 */
export function planLattice(
  resources: ResourceSet,
  result: TranslateResult,
  opts: LatticePlanOptions = {},
): { plan: LatticePlan; issues: PlanIssue[] } {
  const suffix = opts.domainSuffix ?? DEFAULT_DOMAIN_SUFFIX;
  const vpcId = opts.vpcId ?? "CLUSTER_VPC_ID";
  const clusterName = opts.clusterName ?? "CLUSTER_NAME";
  const managedBy = `${opts.accountId ?? "AWS_ACCOUNT_ID"}/${clusterName}/${vpcId}`;
  const issues: PlanIssue[] = [];
  const table: RoutingTable = result.table;

  const latticeGateways = new Map<string, Gateway>();
  for (const gw of resources.gateways) {
    if (selectProfile(gw, resources.gatewayClasses) === "lattice")
      latticeGateways.set(objectKey(gw.metadata), gw);
  }
  const servicesByKey = new Map(resources.services.map((s) => [objectKey(s.metadata), s]));
  const policies = acceptedTargetGroupPolicies(resources, result);
  const latticeListeners = table.listeners.filter((l) => l.profile === "lattice");

  const routes = [...resources.grpcRoutes].sort((a, b) => {
    const ka = objectKey(a.metadata);
    const kb = objectKey(b.metadata);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });

  const services: PlanService[] = [];
  const targetGroups = new Map<string, PlanTargetGroup>();
  const networks = new Set<string>();

  for (const route of routes) {
    const key = objectKey(route.metadata);
    const latticeParents = route.spec.parentRefs.filter(
      (p) =>
        p.kind === "Gateway" && latticeGateways.has(`${p.namespace ?? route.metadata.namespace}/${p.name}`),
    );
    if (latticeParents.length === 0) continue;

    const check = checkLatticeRoute(route, opts.rulesPerListener);
    for (const v of check.route) issues.push({ route: key, path: v.path, message: v.message });

    // Listeners the translator attached this route to, deduplicated by Lattice listener (port + protocol).
    const attached: { listener: IrListener; routes: IrRoute[] }[] = [];
    for (const l of latticeListeners) {
      const mine = l.routes.filter(
        (r) => r.source.namespace === route.metadata.namespace && r.source.name === route.metadata.name,
      );
      if (mine.length > 0) attached.push({ listener: l, routes: mine });
    }
    if (attached.length === 0) {
      const why = conditionMessages(result, key);
      if (check.route.length === 0) {
        issues.push({
          route: key,
          path: "",
          message: `not planned: the route is attached to no Lattice listener${why.length > 0 ? `; ${why.join("; ")}` : ""}`,
        });
      }
      continue;
    }

    const domains = routeDomains(route, suffix);
    const serviceName = domains.serviceName;
    const standalone =
      route.metadata.annotations[STANDALONE] === "true" ||
      attached.some(
        (a) =>
          latticeGateways.get(`${a.listener.gateway.namespace}/${a.listener.gateway.name}`)?.metadata
            .annotations[STANDALONE] === "true",
      );
    const gatewayNames = [...new Set(attached.map((a) => a.listener.gateway.name))].sort();
    if (!standalone) for (const g of gatewayNames) networks.add(g);

    const svc: PlanService = {
      route: { namespace: route.metadata.namespace, name: route.metadata.name },
      name: serviceName,
      tags: sortedRecord({
        ...parseUserTags(route.metadata.annotations[USER_TAGS]),
        [TAG_MANAGED_BY]: managedBy,
        [TAG_ROUTE_NAME]: route.metadata.name,
        [TAG_ROUTE_NAMESPACE]: route.metadata.namespace,
        [TAG_ROUTE_TYPE]: "grpc",
      }),
      id: latticeServiceId(route.metadata.namespace, route.metadata.name),
      dnsEntry: { domainName: domains.assigned },
      serviceNetworkAssociations: standalone
        ? []
        : gatewayNames.map((g) => ({ serviceNetworkIdentifier: g, serviceIdentifier: serviceName })),
      listeners: [],
    };
    if (domains.custom !== undefined) svc.customDomainName = domains.custom;

    const createdUnix = unixSeconds(route.metadata.creationTimestamp);
    const seen = new Set<string>();
    for (const { listener, routes: irRoutes } of attached) {
      const name = latticeListenerName(serviceName, listener.port, listener.protocol);
      if (seen.has(name)) continue;
      seen.add(name);
      const gw = latticeGateways.get(`${listener.gateway.namespace}/${listener.gateway.name}`);
      const arn = gw?.spec.listeners.find((l) => l.name === listener.listener)?.tls?.options?.[
        CERTIFICATE_ARN
      ];
      if (arn !== undefined && svc.certificateArn === undefined) svc.certificateArn = arn;

      const rules: PlanRule[] = [];
      const byRule = new Map<number, IrRoute>();
      for (const r of irRoutes) if (!byRule.has(r.source.rule)) byRule.set(r.source.rule, r);
      for (const [ruleIndex, ir] of byRule) {
        // pathMatch.caseSensitive follows the route's method-case setting: false is what the AWS GRPCRoute page describes
        // (the controller left it unset, Lattice's default), true what AWS releases since late 2023 send.
        const caseInsensitive = methodCaseInsensitive(
          route.metadata.annotations,
          gw?.metadata.annotations ?? {},
          opts.methodCase,
        );
        const match = httpMatch(route, ruleIndex, !caseInsensitive);
        if (match === undefined) continue;
        const priority = check.priorities[ruleIndex] ?? ruleIndex + 1;
        rules.push({
          name: latticeRuleName(createdUnix, priority),
          priority,
          match: { httpMatch: match },
          action: planAction(ir.action, route, table, servicesByKey, targetGroups, {
            vpcId,
            clusterName,
            managedBy,
            policies,
          }),
          source: { rule: ruleIndex },
        });
      }
      rules.sort((a, b) => a.priority - b.priority);
      svc.listeners.push({
        name,
        protocol: listener.protocol,
        port: listener.port,
        defaultAction: { fixedResponse: { statusCode: 404 } },
        source: {
          gateway: `${listener.gateway.namespace}/${listener.gateway.name}`,
          listener: listener.listener,
        },
        rules,
      });
    }
    svc.listeners.sort((a, b) => a.port - b.port || (a.name < b.name ? -1 : 1));
    if (svc.listeners.length > MAX_LISTENERS_PER_SERVICE.value) {
      issues.push({
        route: key,
        path: "spec.parentRefs",
        message: `the route attaches to ${svc.listeners.length} listeners; VPC Lattice allows ${MAX_LISTENERS_PER_SERVICE.value} per service (${MAX_LISTENERS_PER_SERVICE.source})`,
      });
    }

    // Rules that are not programmed: say why (Lattice checks first, then the route's status).
    const programmed = new Set(attached.flatMap((a) => a.routes.map((r) => r.source.rule)));
    const statusWhy = conditionMessages(result, key);
    route.spec.rules.forEach((_r, i) => {
      if (programmed.has(i)) return;
      const violations = check.rules[i] ?? [];
      if (violations.length > 0) {
        for (const v of violations) issues.push({ route: key, path: v.path, message: v.message });
      } else {
        issues.push({
          route: key,
          path: `spec.rules[${i}]`,
          message: `rule ${i} is not planned${statusWhy.length > 0 ? `: ${statusWhy.join("; ")}` : ""}`,
        });
      }
    });
    services.push(svc);
  }

  return {
    plan: {
      serviceNetworks: [...networks].sort().map((name) => ({ name })),
      services,
      targetGroups: [...targetGroups.values()].sort((a, b) =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
      ),
    },
    issues,
  };
}

function planAction(
  action: IrAction,
  route: GRPCRoute,
  table: RoutingTable,
  services: Map<string, Service>,
  targetGroups: Map<string, PlanTargetGroup>,
  env: { vpcId: string; clusterName: string; managedBy: string; policies: TargetGroupPolicies },
): PlanRuleAction {
  if (action.kind === "direct") return { fixedResponse: { statusCode: action.httpStatus ?? 500 } };
  const out: { targetGroupIdentifier: string; weight: number }[] = [];
  for (const b of action.backends) {
    if (b.cluster === undefined) continue;
    const cluster: IrCluster | undefined = table.clusters[b.cluster];
    const k = parseClusterName(b.cluster) ?? {
      namespace: b.source.namespace,
      name: b.source.name,
      port: undefined,
    };
    const name = latticeTargetGroupName(route.metadata, k, k.port);
    if (!targetGroups.has(name)) {
      const policy = env.policies.get(`${k.namespace}/${k.name}`)?.spec;
      targetGroups.set(name, {
        name,
        type: "IP",
        config: {
          // The controller creates GRPCRoute target groups on port 80 and registers targets with their own ports.
          port: 80,
          protocol: policy?.protocol ?? "HTTP",
          // A TargetGroupPolicy's protocolVersion does not apply: GRPCRoute target groups are GRPC.
          protocolVersion: GRPC_PROTOCOL_VERSION,
          ipAddressType: ipAddressType(services.get(`${k.namespace}/${k.name}`)),
          vpcIdentifier: env.vpcId,
          healthCheck: latticeHealthCheck(policy, GRPC_PROTOCOL_VERSION),
        },
        tags: sortedRecord({
          [TAG_CLUSTER_NAME]: env.clusterName,
          [TAG_MANAGED_BY]: env.managedBy,
          [TAG_PROTOCOL_VERSION]: GRPC_PROTOCOL_VERSION,
          [TAG_ROUTE_NAME]: route.metadata.name,
          [TAG_ROUTE_NAMESPACE]: route.metadata.namespace,
          [TAG_SERVICE_NAME]: k.name,
          [TAG_SERVICE_NAMESPACE]: k.namespace,
          [TAG_SOURCE_TYPE]: "GRPCRoute",
        }),
        targets: (cluster?.endpoints ?? []).map((e) => ({ id: e.host, port: e.port })),
      });
    }
    out.push({ targetGroupIdentifier: name, weight: b.weight });
  }
  if (out.length === 0) return { fixedResponse: { statusCode: 500 } };
  return { forward: { targetGroups: out } };
}

/** The plan as one printable document (`grpcroute plan` output): a kind header, the plan and its issues. */
export function planDocument(plan: LatticePlan, issues: PlanIssue[]): Record<string, unknown> {
  return {
    apiVersion: "grpcroute.dev/v1alpha1",
    kind: "LatticePlan",
    serviceNetworks: plan.serviceNetworks,
    services: plan.services,
    targetGroups: plan.targetGroups,
    issues,
  };
}
