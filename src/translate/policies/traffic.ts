/**
 * TrafficPolicy attachment (GEP-713): which policy applies where, the merged policy of each rule and each
 * Service port, and every policy's status.
 *
 * Targets, in the policy's namespace:
 * - a Gateway, or one of its listeners (`sectionName`), and a GRPCRoute, or one of its rules by name: their
 *   `timeouts` (request, streamIdle), `retry` and `transcoding` apply to the rules' calls;
 * - a Service, or one of its ports by name: its `healthCheck`, `outlierDetection` and `timeouts.connect`
 *   apply to the backend's endpoints.
 * A field group attached where it cannot apply makes that target Invalid (the message names the field and
 * the target); so does a target of another kind. A target that does not exist, or a `sectionName` that names
 * no listener, rule or port, is TargetNotFound. Two policies at one target (kind, name and sectionName): the
 * older one (creationTimestamp, then namespace/name) applies and the other is Conflicted there.
 *
 * Merging: the most specific target wins, field group by field group: for a rule, its own policy, then its
 * route's, then its listener's, then its Gateway's; for a Service port, the port's then the Service's. A
 * group is taken whole from one policy (a rule's `timeouts: {request: 5s}` drops the Gateway's `streamIdle`;
 * `0s` sets "no limit" explicitly).
 *
 * Status: one ancestor per Gateway the policy reaches (the Gateway itself, the route's parent Gateways, the
 * Gateways whose routes use the Service), or the target itself when it cannot be found. A Gateway whose profile
 * has no such feature (VPC Lattice) makes the policy Invalid there, and the policy does not apply through it.
 */

import { GRPC_STATUS_NAMES } from "../../api/schema/traffic-policy.js";
import type {
  Gateway,
  GRPCRoute,
  ObjectKey,
  PolicyStatus,
  PolicyTargetRef,
  ResourceSet,
  Service,
  TrafficPolicy,
} from "../../api/types.js";
import { GATEWAY_GROUP, objectKey } from "../../api/types.js";
import type { IrCallPolicy, IrCluster, IrClusterPolicy } from "../../ir/routing-table.js";
import type { GatewayProfile, ProfileContext } from "../profile.js";
import { PolicyReason } from "../status/reasons.js";
import { AncestorBook, byPrecedence, gatewayAncestor, type TargetOutcome } from "./ancestors.js";
import { type ServiceUsage, splitKey } from "./usage.js";

/** A Gateway we serve, as the policies need it. */
export interface PolicyGateway {
  gateway: Gateway;
  profile: GatewayProfile;
  ctx: ProfileContext;
}

type TargetKind = "Gateway" | "GRPCRoute" | "Service";

interface Target {
  index: number;
  kind?: TargetKind;
  /** `namespace/name` of the target, when it exists and is ours. */
  key?: string;
  outcome: TargetOutcome;
  /** The target itself is the ancestor (it is not found, or of a kind we do not take). */
  self?: boolean;
}

interface Evaluated {
  policy: TrafficPolicy;
  source: string;
  targets: Target[];
}

const ROUTE_GROUPS = "timeouts (request, streamIdle), retry, cors and transcoding";
const SERVICE_GROUPS = "healthCheck, outlierDetection and timeouts.connect";

export class TrafficPolicies {
  readonly #evaluated: Evaluated[] = [];
  /** The policy that applies at each target: `<kind>/<namespace>/<name>#<sectionName>`. */
  readonly #claims = new Map<string, Evaluated>();
  readonly #callPolicies = new Map<string, IrCallPolicy>();
  readonly #routes = new Map<string, GRPCRoute>();

  constructor(
    resources: ResourceSet,
    private readonly services: ReadonlyMap<string, Service>,
    private readonly gateways: ReadonlyMap<ObjectKey, PolicyGateway>,
    private readonly allGateways: ReadonlySet<ObjectKey>,
  ) {
    for (const r of resources.grpcRoutes) this.#routes.set(objectKey(r.metadata), r);
    for (const policy of [...resources.trafficPolicies].sort(byPrecedence)) {
      const e: Evaluated = {
        policy,
        source: `TrafficPolicy ${policy.metadata.namespace}/${policy.metadata.name}`,
        targets: [],
      };
      policy.spec.targetRefs.forEach((ref, index) => {
        const t = this.#target(e, ref, index);
        if (t !== undefined) e.targets.push(t);
      });
      this.#evaluated.push(e);
    }
  }

  /** Classifies one target; undefined for a Gateway of another controller (not ours to judge). */
  #target(e: Evaluated, ref: PolicyTargetRef, index: number): Target | undefined {
    const ns = e.policy.metadata.namespace;
    const key = `${ns}/${ref.name}`;
    const where = `spec.targetRefs[${index}]`;
    const notFound = (message: string): Target => ({
      index,
      self: true,
      outcome: { reason: PolicyReason.TargetNotFound, message: `${where}: ${message}` },
    });
    let kind: TargetKind;
    if (ref.group === GATEWAY_GROUP && ref.kind === "Gateway") {
      if (!this.allGateways.has(key)) return notFound(`Gateway ${key} not found`);
      const gw = this.gateways.get(key);
      if (gw === undefined) return undefined;
      if (
        ref.sectionName !== undefined &&
        !gw.gateway.spec.listeners.some((l) => l.name === ref.sectionName)
      ) {
        return notFound(`Gateway ${key} has no listener named "${ref.sectionName}"`);
      }
      kind = "Gateway";
    } else if (ref.group === GATEWAY_GROUP && ref.kind === "GRPCRoute") {
      const route = this.#routes.get(key);
      if (route === undefined) return notFound(`GRPCRoute ${key} not found`);
      if (ref.sectionName !== undefined && !route.spec.rules.some((r) => r.name === ref.sectionName)) {
        return notFound(`GRPCRoute ${key} has no rule named "${ref.sectionName}"`);
      }
      kind = "GRPCRoute";
    } else if (ref.group === "" && ref.kind === "Service") {
      const svc = this.services.get(key);
      if (svc === undefined) return notFound(`Service ${key} not found`);
      if (ref.sectionName !== undefined && !svc.spec.ports.some((p) => p.name === ref.sectionName)) {
        return notFound(`Service ${key} has no port named "${ref.sectionName}"`);
      }
      kind = "Service";
    } else {
      return {
        index,
        self: true,
        outcome: {
          reason: PolicyReason.Invalid,
          message: `${where}: Unsupported value: kind "${ref.kind}" of group "${ref.group}": supported values: Gateway and GRPCRoute of group "${GATEWAY_GROUP}", Service of group ""`,
        },
      };
    }
    const what = describeTarget(kind, key, ref.sectionName);
    const misplaced = misplacedGroups(e.policy, kind);
    if (misplaced.length > 0) {
      const applies = kind === "Service" ? ROUTE_GROUPS : SERVICE_GROUPS;
      const target = kind === "Service" ? "Gateways, listeners, GRPCRoutes and rules" : "Services and ports";
      return {
        index,
        kind,
        key,
        outcome: {
          reason: PolicyReason.Invalid,
          message: `${misplaced.map((f) => `spec.${f}`).join(", ")}: cannot apply to ${what} (${where}); ${applies} apply to ${target}`,
        },
      };
    }
    const claim = `${kind}/${key}#${ref.sectionName ?? ""}`;
    const winner = this.#claims.get(claim);
    if (winner !== undefined) {
      return {
        index,
        kind,
        key,
        outcome: {
          reason: PolicyReason.Conflicted,
          message: `${where}: ${winner.source} (older) already targets ${what}; put both in one policy`,
        },
      };
    }
    this.#claims.set(claim, e);
    return {
      index,
      kind,
      key,
      outcome: {
        reason: PolicyReason.Accepted,
        message: `applies to ${what} (${groupsOf(e.policy).join(", ")})`,
      },
    };
  }

  /** Why policies cannot apply through Gateway `gwKey`, or undefined when they can. */
  #unsupported(gwKey: string): string | undefined {
    const gw = this.gateways.get(gwKey);
    return gw === undefined ? undefined : gw.profile.trafficPolicySupport(gw.ctx);
  }

  /**
   * The merged call policy of rule `ruleIndex` of `route` on listener `listener` of Gateway `gwKey`, or
   * undefined when no policy applies. Rules governed by the same policies share one object.
   */
  callPolicy(gwKey: string, listener: string, route: GRPCRoute, ruleIndex: number): IrCallPolicy | undefined {
    if (this.#claims.size === 0 || this.#unsupported(gwKey) !== undefined) return undefined;
    const rk = objectKey(route.metadata);
    const ruleName = route.spec.rules[ruleIndex]?.name;
    const levels: Evaluated[] = [];
    const push = (k: string): void => {
      const e = this.#claims.get(k);
      if (e !== undefined) levels.push(e);
    };
    if (ruleName !== undefined) push(`GRPCRoute/${rk}#${ruleName}`);
    push(`GRPCRoute/${rk}#`);
    push(`Gateway/${gwKey}#${listener}`);
    push(`Gateway/${gwKey}#`);
    const timeouts = levels.find(
      (e) =>
        e.policy.spec.timeouts?.request !== undefined || e.policy.spec.timeouts?.streamIdle !== undefined,
    );
    const retry = levels.find((e) => e.policy.spec.retry !== undefined);
    const cors = levels.find((e) => e.policy.spec.cors !== undefined);
    const transcoding = levels.find((e) => e.policy.spec.transcoding !== undefined);
    if (timeouts === undefined && retry === undefined && cors === undefined && transcoding === undefined) {
      return undefined;
    }
    const memo = `${timeouts?.source ?? ""}|${retry?.source ?? ""}|${cors?.source ?? ""}|${transcoding?.source ?? ""}`;
    const known = this.#callPolicies.get(memo);
    if (known !== undefined) return known;
    const out: IrCallPolicy = {};
    const t = timeouts?.policy.spec.timeouts;
    if (timeouts !== undefined && t !== undefined) {
      out.timeouts = { requestMs: t.request ?? 0, streamIdleMs: t.streamIdle ?? 0, source: timeouts.source };
    }
    const r = retry?.policy.spec.retry;
    if (retry !== undefined && r !== undefined) {
      out.retry = {
        attempts: r.attempts,
        retryOn: r.on.map((name) => GRPC_STATUS_NAMES.indexOf(name)).filter((c) => c > 0),
        perTryTimeoutMs: r.perTryTimeout ?? 0,
        backoffBaseMs: r.backoff.base,
        backoffMaxMs: r.backoff.max,
        maxBufferedBytes: r.maxBufferedBytes,
        budgetPercent: r.budgetPercent,
        source: retry.source,
      };
    }
    const c = cors?.policy.spec.cors;
    if (cors !== undefined && c !== undefined) {
      out.cors = {
        allowOrigins: c.allowOrigins,
        allowMethods: c.allowMethods,
        allowHeaders: c.allowHeaders.map((h) => h.toLowerCase()),
        exposeHeaders: c.exposeHeaders.map((h) => h.toLowerCase()),
        maxAgeSeconds: c.maxAge,
        allowCredentials: c.allowCredentials,
        source: cors.source,
      };
    }
    const tc = transcoding?.policy.spec.transcoding;
    if (transcoding !== undefined && tc !== undefined) {
      out.transcoding = { enabled: tc.enabled, source: transcoding.source };
    }
    this.#callPolicies.set(memo, out);
    return out;
  }

  /**
   * The merged policy of a cluster's Service port, or undefined when none applies. It applies when some
   * Gateway that supports policies sends calls to the cluster.
   */
  clusterPolicy(cluster: IrCluster, usage: ServiceUsage): IrClusterPolicy | undefined {
    if (this.#claims.size === 0) return undefined;
    const { namespace, name } = cluster.source;
    const key = `${namespace}/${name}`;
    const at = cluster.name.lastIndexOf("/port/");
    const number = Number(cluster.name.slice(at + "/port/".length));
    const portName = this.services.get(key)?.spec.ports.find((p) => p.port === number)?.name ?? "";
    const levels: Evaluated[] = [];
    for (const k of portName === ""
      ? [`Service/${key}#`]
      : [`Service/${key}#${portName}`, `Service/${key}#`]) {
      const e = this.#claims.get(k);
      if (e !== undefined) levels.push(e);
    }
    if (levels.length === 0) return undefined;
    if (!usage.clusterGateways(cluster.name).some(([gw]) => this.#unsupported(gw) === undefined))
      return undefined;
    const connect = levels.find((e) => e.policy.spec.timeouts?.connect !== undefined);
    const health = levels.find((e) => e.policy.spec.healthCheck !== undefined);
    const outlier = levels.find((e) => e.policy.spec.outlierDetection !== undefined);
    const out: IrClusterPolicy = { sources: {} };
    if (connect !== undefined) {
      out.connectTimeoutMs = connect.policy.spec.timeouts?.connect ?? 0;
      out.sources.timeouts = connect.source;
    }
    const h = health?.policy.spec.healthCheck;
    if (health !== undefined && h !== undefined) {
      out.healthCheck = {
        service: h.grpc.service,
        intervalMs: h.interval,
        timeoutMs: h.timeout,
        unhealthyThreshold: h.unhealthyThreshold,
        healthyThreshold: h.healthyThreshold,
      };
      out.sources.healthCheck = health.source;
    }
    const o = outlier?.policy.spec.outlierDetection;
    if (outlier !== undefined && o !== undefined) {
      out.outlierDetection = {
        consecutiveFailures: o.consecutiveFailures,
        intervalMs: o.interval,
        baseEjectionMs: o.baseEjectionTime,
        maxEjectionPercent: o.maxEjectionPercent,
      };
      out.sources.outlierDetection = outlier.source;
    }
    return connect === undefined && health === undefined && outlier === undefined ? undefined : out;
  }

  /** Status of every TrafficPolicy. */
  status(usage: ServiceUsage, controllerName: string): Map<ObjectKey, PolicyStatus> {
    const out = new Map<ObjectKey, PolicyStatus>();
    for (const e of this.#evaluated) {
      const book = new AncestorBook();
      const ns = e.policy.metadata.namespace;
      for (const t of e.targets) {
        const ref = e.policy.spec.targetRefs[t.index]!;
        if (t.self === true || t.key === undefined) {
          const self = { group: ref.group, kind: ref.kind, namespace: ns, name: ref.name };
          book.add(
            ref.sectionName === undefined ? self : { ...self, sectionName: ref.sectionName },
            t.outcome,
          );
          continue;
        }
        const reach = (gwKey: string, sectionName?: string): void => {
          const [gns, gname] = splitKey(gwKey);
          const why = this.#unsupported(gwKey);
          const outcome: TargetOutcome =
            why === undefined || t.outcome.reason === PolicyReason.Invalid
              ? t.outcome
              : { reason: PolicyReason.Invalid, message: `spec.targetRefs[${t.index}]: ${why}` };
          book.add(gatewayAncestor(gns, gname, sectionName), outcome);
        };
        if (t.kind === "Gateway") reach(t.key, ref.sectionName);
        else if (t.kind === "GRPCRoute") {
          const route = this.#routes.get(t.key);
          for (const p of route?.spec.parentRefs ?? []) {
            if (p.group !== GATEWAY_GROUP || p.kind !== "Gateway") continue;
            const gwKey = `${p.namespace ?? ns}/${p.name}`;
            if (this.gateways.has(gwKey)) reach(gwKey, p.sectionName);
          }
        } else {
          const [sns, sname] = splitKey(t.key);
          const port =
            ref.sectionName === undefined
              ? undefined
              : this.services.get(t.key)?.spec.ports.find((p) => p.name === ref.sectionName)?.port;
          for (const [gw] of usage.gateways(sns, sname, port)) reach(gw);
        }
      }
      out.set(objectKey(e.policy.metadata), book.status(controllerName, e.policy.metadata.generation, false));
    }
    return out;
  }
}

function describeTarget(kind: TargetKind, key: string, section: string | undefined): string {
  if (section === undefined) return `${kind} ${key}`;
  const part = kind === "Gateway" ? "listener" : kind === "GRPCRoute" ? "rule" : "port";
  return `${kind} ${key} ${part} ${section}`;
}

/** The field groups (or fields) of a policy that cannot apply to a target of this kind. */
function misplacedGroups(p: TrafficPolicy, kind: TargetKind): string[] {
  const s = p.spec;
  const out: string[] = [];
  if (kind === "Service") {
    if (s.timeouts?.request !== undefined) out.push("timeouts.request");
    if (s.timeouts?.streamIdle !== undefined) out.push("timeouts.streamIdle");
    if (s.retry !== undefined) out.push("retry");
    if (s.cors !== undefined) out.push("cors");
    if (s.transcoding !== undefined) out.push("transcoding");
  } else {
    if (s.timeouts?.connect !== undefined) out.push("timeouts.connect");
    if (s.healthCheck !== undefined) out.push("healthCheck");
    if (s.outlierDetection !== undefined) out.push("outlierDetection");
  }
  return out;
}

/** The field groups a policy sets, for messages. */
function groupsOf(p: TrafficPolicy): string[] {
  const s = p.spec;
  return (["timeouts", "retry", "healthCheck", "outlierDetection", "cors", "transcoding"] as const).filter(
    (k) => s[k] !== undefined,
  );
}
