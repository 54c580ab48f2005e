/**
 * TargetGroupPolicy (the AWS Gateway API Controller's `application-networking.k8s.aws/v1alpha1` kind) on the
 * Lattice profile: the protocol and VPC Lattice health check of the target groups of a Service.
 *
 * Status is what the AWS controller writes, `status.conditions` with one `Accepted` condition (no
 * ancestors), with its reasons:
 * - `Invalid`: the target is not a core Service (the AWS controller also takes a ServiceExport, which
 *   grpcroute does not read); where the controller is silent we also say Invalid, naming field and value:
 *   a `targetRef.namespace` other than the policy's (the controller looks in the policy's namespace anyway),
 *   a value VPC Lattice would refuse (`src/lattice/target-group-policy.ts`), a Service that only Gateways of
 *   the standard profile use (a TargetGroupPolicy means nothing there: a TrafficPolicy does);
 * - `TargetNotFound`: no such Service in the policy's namespace;
 * - `Conflicted`: an older policy (creationTimestamp, then name: the controller's order) targets the same
 *   Service; the older one applies. Unlike the controller, a policy that is itself not Accepted claims nothing;
 * - `Accepted`: otherwise, with a message saying what applies where (the controller writes none). A Service no
 *   route uses yet is Accepted, as the controller has it: the policy takes effect when a route uses it.
 *
 * What applies: on each cluster (Service port) a Lattice-profile Gateway sends calls to, the health check of
 * the Service's Accepted policy, when enabled, as an HTTP check (`IrHealthCheck.http`). A cluster a
 * TrafficPolicy health-checks too (through a Gateway of the standard profile) keeps the TrafficPolicy's checks,
 * and the policy's message says so.
 */
import {
  type ConditionsStatus,
  LATTICE_GROUP,
  type ObjectKey,
  objectKey,
  type ResourceSet,
  type Service,
  type TargetGroupPolicy,
} from "../../api/types.js";
import type { IrCluster, IrHealthCheck } from "../../ir/routing-table.js";
import {
  type LatticeHealthCheckConfig,
  latticeHealthCheck,
  parseStatusMatch,
  targetGroupPolicyProblems,
} from "../../lattice/target-group-policy.js";
import { condition } from "../status/conditions.js";
import { CondAccepted, PolicyReason } from "../status/reasons.js";
import { byPrecedence } from "./ancestors.js";
import { type ServiceUsage, splitKey } from "./usage.js";

/** GRPCRoute target groups are GRPC whatever a policy says; their health checks default from that. */
const GRPC = "GRPC";

type Reason = (typeof PolicyReason)[keyof typeof PolicyReason];

interface Evaluated {
  policy: TargetGroupPolicy;
  /** `namespace/name` of the targeted Service, when it exists. */
  service?: string;
  reason: Reason;
  message: string;
}

export class TargetGroupPolicies {
  readonly #evaluated: Evaluated[] = [];
  /** The policy that applies to each Service, by `namespace/name`. */
  readonly #winners = new Map<string, Evaluated>();
  /** Services some of whose clusters keep a TrafficPolicy's health check instead: which policy. */
  readonly #shadowed = new Map<string, string>();

  constructor(resources: ResourceSet, services: ReadonlyMap<string, Service>) {
    for (const policy of [...resources.targetGroupPolicies].sort(byPrecedence)) {
      const e = this.#evaluate(policy, services);
      if (e.reason === PolicyReason.Accepted && e.service !== undefined) this.#winners.set(e.service, e);
      this.#evaluated.push(e);
    }
  }

  #evaluate(policy: TargetGroupPolicy, services: ReadonlyMap<string, Service>): Evaluated {
    const ns = policy.metadata.namespace;
    const ref = policy.spec.targetRef;
    const out = (reason: Reason, message: string, service?: string): Evaluated =>
      service === undefined ? { policy, reason, message } : { policy, reason, message, service };
    if (ref.group === LATTICE_GROUP && ref.kind === "ServiceExport") {
      return out(
        PolicyReason.Invalid,
        `spec.targetRef: kind ServiceExport of group "${LATTICE_GROUP}" is not read by grpcroute (no multi-cluster export); target the Service`,
      );
    }
    if (ref.group !== "" || ref.kind !== "Service") {
      return out(
        PolicyReason.Invalid,
        `spec.targetRef: Unsupported value: kind "${ref.kind}" of group "${ref.group}": a TargetGroupPolicy targets a Service (group "")`,
      );
    }
    if (ref.namespace !== undefined && ref.namespace !== ns) {
      return out(
        PolicyReason.Invalid,
        `spec.targetRef.namespace: Invalid value: "${ref.namespace}": a TargetGroupPolicy applies to a Service of its own namespace "${ns}"`,
      );
    }
    const key = `${ns}/${ref.name}`;
    if (!services.has(key))
      return out(PolicyReason.TargetNotFound, `spec.targetRef: Service ${key} not found`);
    const problems = targetGroupPolicyProblems(policy.spec);
    if (problems.length > 0) {
      return out(PolicyReason.Invalid, problems.map((p) => `${p.path}: ${p.message}`).join("; "), key);
    }
    const winner = this.#winners.get(key);
    if (winner !== undefined) {
      return out(
        PolicyReason.Conflicted,
        `TargetGroupPolicy ${objectKey(winner.policy.metadata)} (older) already targets Service ${key}; the older one applies`,
        key,
      );
    }
    return out(PolicyReason.Accepted, "", key);
  }

  /** The Accepted policy of Service `namespace/name`, if any. */
  forService(namespace: string, name: string): TargetGroupPolicy | undefined {
    return this.#winners.get(`${namespace}/${name}`)?.policy;
  }

  /**
   * The health check a Lattice-profile Gateway's calls to `cluster` get from the policy of its Service, or
   * undefined (no policy, checks not enabled, or no Lattice-profile Gateway uses the cluster). `keeps`: the
   * TrafficPolicy whose health check the cluster has already (it stays; the policy's status says so).
   */
  clusterHealth(
    cluster: IrCluster,
    usage: ServiceUsage,
    keeps: string | undefined,
  ): { healthCheck: IrHealthCheck; source: string } | undefined {
    const key = `${cluster.source.namespace}/${cluster.source.name}`;
    const e = this.#winners.get(key);
    if (e === undefined) return undefined;
    if (!usage.clusterGateways(cluster.name).some(([, profile]) => profile === "lattice")) return undefined;
    const hc = latticeHealthCheck(e.policy.spec, GRPC);
    if (!hc.enabled) return undefined;
    if (keeps !== undefined) {
      this.#shadowed.set(key, keeps);
      return undefined;
    }
    return { healthCheck: irHealthCheck(hc), source: `TargetGroupPolicy ${objectKey(e.policy.metadata)}` };
  }

  /** Status of every TargetGroupPolicy, by `namespace/name`. */
  status(usage: ServiceUsage): Map<ObjectKey, ConditionsStatus> {
    const out = new Map<ObjectKey, ConditionsStatus>();
    for (const e of this.#evaluated) {
      let { reason, message } = e;
      if (reason === PolicyReason.Accepted && e.service !== undefined) {
        ({ reason, message } = this.#accepted(e, e.service, usage));
      }
      const status = reason === PolicyReason.Accepted ? "True" : "False";
      out.set(objectKey(e.policy.metadata), {
        conditions: [condition(CondAccepted, status, reason, message, e.policy.metadata.generation)],
      });
    }
    return out;
  }

  /** The outcome of a policy that holds its Service, now that every Gateway's use of it is known. */
  #accepted(e: Evaluated, service: string, usage: ServiceUsage): { reason: Reason; message: string } {
    const [ns, name] = splitKey(service);
    const users = usage.gateways(ns, name);
    const lattice = users.filter(([, p]) => p === "lattice").map(([gw]) => gw);
    const standard = users.filter(([, p]) => p !== "lattice").map(([gw]) => gw);
    if (lattice.length === 0 && standard.length > 0) {
      return {
        reason: PolicyReason.Invalid,
        message: `Service ${service} is used only by Gateways of the standard profile (${standard.join(", ")}): a TargetGroupPolicy applies on the Lattice profile only; a TrafficPolicy's healthCheck does this there`,
      };
    }
    if (lattice.length === 0) {
      return {
        reason: PolicyReason.Accepted,
        message: `no Lattice-profile GRPCRoute uses Service ${service} yet; the policy applies once one does`,
      };
    }
    const spec = e.policy.spec;
    const hc = latticeHealthCheck(spec, GRPC);
    const parts = [
      `applies to the target groups of Service ${service} (Gateways ${lattice.join(", ")}): protocol ${spec.protocol ?? "HTTP"}`,
      hc.enabled ? `health check ${describe(hc)}` : "health check disabled (enabled: true turns it on)",
    ];
    if (spec.protocolVersion !== undefined && spec.protocolVersion !== GRPC) {
      parts.push(
        `protocolVersion ${spec.protocolVersion} is not used: a GRPCRoute's target groups are GRPC (as the AWS controller makes them)`,
      );
    }
    const shadowedBy = this.#shadowed.get(service);
    if (shadowedBy !== undefined) {
      parts.push(
        `its endpoints keep the health check of ${shadowedBy}, which a standard-profile Gateway uses`,
      );
    }
    if (standard.length > 0) {
      parts.push(`it does not apply through the standard-profile Gateways ${standard.join(", ")}`);
    }
    return { reason: PolicyReason.Accepted, message: parts.join("; ") };
  }
}

/** `HTTP1 GET / on the traffic port, code 200, every 30 s (timeout 5 s), 2 failures out, 5 passes in`. */
function describe(hc: LatticeHealthCheckConfig): string {
  const scheme = hc.protocol === "HTTPS" ? " over TLS" : "";
  const port = hc.port === undefined ? "the traffic port" : `port ${hc.port}`;
  return `${hc.protocolVersion} GET ${hc.path || "/"} on ${port}${scheme}, code ${hc.matcher.httpCode}, every ${hc.healthCheckIntervalSeconds} s (timeout ${hc.healthCheckTimeoutSeconds} s), ${hc.unhealthyThresholdCount} failures out, ${hc.healthyThresholdCount} passes in`;
}

/** The data plane's form of an enabled Lattice health check. */
function irHealthCheck(hc: LatticeHealthCheckConfig): IrHealthCheck {
  return {
    service: "",
    intervalMs: hc.healthCheckIntervalSeconds * 1000,
    timeoutMs: hc.healthCheckTimeoutSeconds * 1000,
    unhealthyThreshold: hc.unhealthyThresholdCount,
    healthyThreshold: hc.healthyThresholdCount,
    http: {
      version: hc.protocolVersion === "HTTP2" ? 2 : 1,
      tls: hc.protocol === "HTTPS",
      // Lattice's path pattern allows "": that is its default, "/".
      path: hc.path === "" ? "/" : hc.path,
      port: hc.port ?? 0,
      // Checked by targetGroupPolicyProblems before the policy could be Accepted.
      statusCodes: parseStatusMatch(hc.matcher.httpCode) ?? [[200, 200]],
    },
  };
}
