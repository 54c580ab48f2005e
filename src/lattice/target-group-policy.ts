/**
 * What VPC Lattice and the AWS Gateway API Controller make of a TargetGroupPolicy on a GRPCRoute backend:
 *
 * - the target group's health check, as the controller converges it: its defaults for the target group's
 *   protocol version (`getDefaultHealthCheckConfig`: off for GRPC and HTTP2 target groups, HTTP/1 on `/`,
 *   code 200, every 30 s, 5 s to answer, 5 passes in, 2 failures out, the traffic port), each field the
 *   policy sets replacing the default (`fillDefaultHealthCheckConfig`);
 * - the target group's protocol from the policy (HTTP by default); its protocol version stays GRPC for a
 *   GRPCRoute, whatever the policy says (the CRD: "When a policy is behind GRPCRoute, this field value will be
 *   ignored as GRPC is only supported through HTTP/2");
 * - the values the CRD leaves free but VPC Lattice's API refuses (target group protocol and protocol version,
 *   `matcher.httpCode`, health-check `path`): the AWS controller only finds out when Lattice rejects the call,
 *   and says nothing on the policy; we report them as the policy's `Invalid` reason, naming field and value.
 */
import type { TargetGroupPolicySpec } from "../api/types.js";

/** VPC Lattice's `HealthCheckConfig`, as CreateTargetGroup and UpdateTargetGroup take it. */
export interface LatticeHealthCheckConfig {
  enabled: boolean;
  protocol: "HTTP" | "HTTPS";
  protocolVersion: "HTTP1" | "HTTP2";
  /** Absent: the port each target receives traffic on. */
  port?: number;
  path: string;
  matcher: { httpCode: string };
  healthCheckIntervalSeconds: number;
  healthCheckTimeoutSeconds: number;
  healthyThresholdCount: number;
  unhealthyThresholdCount: number;
}

/** The target group protocols VPC Lattice has (API_TargetGroupConfig `protocol`). */
export const TARGET_GROUP_PROTOCOLS = ["HTTP", "HTTPS", "TCP"] as const;
/** The target group protocol versions VPC Lattice has (API_TargetGroupConfig `protocolVersion`). */
export const TARGET_GROUP_PROTOCOL_VERSIONS = ["HTTP1", "HTTP2", "GRPC"] as const;
/** `matcher.httpCode`: digits, `-` and `,` (API_Matcher pattern), at most 2000 characters. */
const HTTP_CODE = /^[0-9,-]+$/;
const HTTP_CODE_MAX = 2000;
/** Health-check `path` (API_HealthCheckConfig pattern), at most 2048 characters. */
const PATH = /^(\/[a-zA-Z0-9@:%_+.~#?&/=-]*)?$/;
const PATH_MAX = 2048;

/** The health check the controller gives a target group of `protocolVersion` with no policy. */
export function defaultLatticeHealthCheck(protocolVersion: string): LatticeHealthCheckConfig {
  return {
    // Lattice (and the controller) health-check HTTP1 target groups by default, not HTTP2 or GRPC ones.
    enabled: protocolVersion === "HTTP1",
    protocol: "HTTP",
    // Lattice cannot health-check with GRPC: the controller checks GRPC target groups over HTTP/1.
    protocolVersion: protocolVersion === "HTTP2" ? "HTTP2" : "HTTP1",
    path: "/",
    matcher: { httpCode: "200" },
    healthCheckIntervalSeconds: 30,
    healthCheckTimeoutSeconds: 5,
    healthyThresholdCount: 5,
    unhealthyThresholdCount: 2,
  };
}

/** The health check of a target group of `protocolVersion` under `spec` (absent: the defaults alone). */
export function latticeHealthCheck(
  spec: TargetGroupPolicySpec | undefined,
  protocolVersion: string,
): LatticeHealthCheckConfig {
  const out = defaultLatticeHealthCheck(protocolVersion);
  const h = spec?.healthCheck;
  if (h === undefined) return out;
  if (h.enabled !== undefined) out.enabled = h.enabled;
  if (h.protocol !== undefined) out.protocol = h.protocol;
  if (h.protocolVersion !== undefined) out.protocolVersion = h.protocolVersion;
  if (h.port !== undefined) out.port = h.port;
  if (h.path !== undefined) out.path = h.path;
  if (h.statusMatch !== undefined) out.matcher = { httpCode: h.statusMatch };
  if (h.intervalSeconds !== undefined) out.healthCheckIntervalSeconds = h.intervalSeconds;
  if (h.timeoutSeconds !== undefined) out.healthCheckTimeoutSeconds = h.timeoutSeconds;
  if (h.healthyThresholdCount !== undefined) out.healthyThresholdCount = h.healthyThresholdCount;
  if (h.unhealthyThresholdCount !== undefined) out.unhealthyThresholdCount = h.unhealthyThresholdCount;
  return out;
}

/**
 * The HTTP status codes `httpCode` lets pass, as inclusive ranges: `"200"`, `"200-399"`, `"200,204"`, or a
 * mix; undefined when it is not of that form, or names a code outside 100..599.
 */
export function parseStatusMatch(httpCode: string): [number, number][] | undefined {
  if (httpCode.length > HTTP_CODE_MAX || !HTTP_CODE.test(httpCode)) return undefined;
  const out: [number, number][] = [];
  for (const part of httpCode.split(",")) {
    const m = /^(\d{3})(?:-(\d{3}))?$/.exec(part);
    if (m === null) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 100 || hi > 599 || lo > hi) return undefined;
    out.push([lo, hi]);
  }
  return out;
}

/** A value of a policy VPC Lattice would refuse for a GRPCRoute's target group: field path and why. */
export interface PolicyValueProblem {
  path: string;
  message: string;
}

const quoted = (vs: readonly string[]): string => vs.map((v) => `"${v}"`).join(", ");

/** What VPC Lattice would refuse in `spec` for the target group of a GRPCRoute backend. */
export function targetGroupPolicyProblems(spec: TargetGroupPolicySpec): PolicyValueProblem[] {
  const out: PolicyValueProblem[] = [];
  const p = spec.protocol;
  if (p !== undefined && !(TARGET_GROUP_PROTOCOLS as readonly string[]).includes(p)) {
    out.push({
      path: "spec.protocol",
      message: `Unsupported value: "${p}": VPC Lattice target groups take ${quoted(TARGET_GROUP_PROTOCOLS)}`,
    });
  } else if (p === "TCP") {
    out.push({
      path: "spec.protocol",
      message: `Unsupported value: "TCP": a GRPCRoute's target group carries HTTP requests (protocol "HTTP" or "HTTPS"); TCP target groups serve TLS passthrough`,
    });
  }
  const v = spec.protocolVersion;
  if (v !== undefined && !(TARGET_GROUP_PROTOCOL_VERSIONS as readonly string[]).includes(v)) {
    out.push({
      path: "spec.protocolVersion",
      message: `Unsupported value: "${v}": VPC Lattice target groups take ${quoted(TARGET_GROUP_PROTOCOL_VERSIONS)}`,
    });
  }
  const h = spec.healthCheck;
  if (h?.statusMatch !== undefined && parseStatusMatch(h.statusMatch) === undefined) {
    out.push({
      path: "spec.healthCheck.statusMatch",
      message: `Invalid value: "${h.statusMatch}": VPC Lattice matches HTTP codes 100..599 written as "200", "200-399" or "200,204"`,
    });
  }
  if (h?.path !== undefined && (h.path.length > PATH_MAX || !PATH.test(h.path))) {
    out.push({
      path: "spec.healthCheck.path",
      message:
        h.path.length > PATH_MAX
          ? `Too long: may not be more than ${PATH_MAX} characters (got ${h.path.length})`
          : `Invalid value: "${h.path}": VPC Lattice takes a path starting with "/" of letters, digits and @:%_+.~#?&/=-`,
    });
  }
  return out;
}
