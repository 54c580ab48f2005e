/**
 * TargetGroupPolicy (`application-networking.k8s.aws/v1alpha1`, the AWS Gateway API Controller's CRD): the
 * protocol, protocol version and health check of the VPC Lattice target group made for a Service.
 *
 * The checks here are the CRD's own, with the API server's messages: `targetRef` required (group, kind and name
 * required, the Gateway API's patterns and lengths, an optional namespace), and in `healthCheck` the ranges
 * VPC Lattice's HealthCheckConfig takes (interval 5..300 s, timeout 1..120 s, thresholds 2..10, port
 * 1..65535) and the enums `protocol` HTTP|HTTPS and `protocolVersion` HTTP1|HTTP2. VPC Lattice cannot
 * health-check with the GRPC protocol version, so `protocolVersion: GRPC` there gets the enum's refusal and a
 * sentence that says why. The CRD sets no defaults; which apply is the Lattice profile's business
 * (`src/lattice/target-group-policy.ts`), as are the values the CRD leaves free but VPC Lattice refuses
 * (`protocol`, `protocolVersion`, `statusMatch`, `path`): those are reported in the policy's status.
 */
import type { TargetGroupHealthCheck, TargetGroupPolicySpec } from "../types.js";
import {
  join,
  noteUnknown,
  type Obj,
  PATTERNS,
  type Reader,
  readBool,
  readInt,
  readObj,
  readStr,
  show,
} from "./reader.js";

/** Ranges of `spec.healthCheck` (the CRD's, which are VPC Lattice's HealthCheckConfig ranges). */
export const TARGET_GROUP_POLICY_LIMITS = {
  intervalSeconds: { min: 5, max: 300 },
  timeoutSeconds: { min: 1, max: 120 },
  thresholdCount: { min: 2, max: 10 },
  port: { min: 1, max: 65535 },
} as const;

const HEALTH_PROTOCOLS = ["HTTP", "HTTPS"] as const;
const HEALTH_PROTOCOL_VERSIONS = ["HTTP1", "HTTP2"] as const;

/** Why `healthCheck.protocolVersion: GRPC` is refused, after the enum's own message. */
export const GRPC_HEALTH_CHECK_MESSAGE =
  "VPC Lattice health checks cannot use the GRPC protocol version; a gRPC target is checked with an HTTP1 or HTTP2 request";

export function readTargetGroupPolicySpec(r: Reader, o: Obj): TargetGroupPolicySpec {
  const spec = readObj(r, o, "spec", "", { required: true }) ?? {};
  noteUnknown(r, spec, "spec", ["targetRef", "protocol", "protocolVersion", "healthCheck"]);
  const ref = readObj(r, spec, "targetRef", "spec", { required: true }) ?? {};
  const rp = "spec.targetRef";
  noteUnknown(r, ref, rp, ["group", "kind", "name", "namespace"]);
  const out: TargetGroupPolicySpec = {
    targetRef: {
      group: readStr(r, ref, "group", rp, { required: true, max: 253, pattern: PATTERNS.group }) ?? "",
      kind: readStr(r, ref, "kind", rp, { required: true, min: 1, max: 63, pattern: PATTERNS.kind }) ?? "",
      name: readStr(r, ref, "name", rp, { required: true, min: 1, max: 253 }) ?? "",
    },
  };
  const ns = readStr(r, ref, "namespace", rp, { min: 1, max: 63, pattern: PATTERNS.dnsLabel });
  if (ns !== undefined) out.targetRef.namespace = ns;
  const protocol = readStr(r, spec, "protocol", "spec");
  if (protocol !== undefined) out.protocol = protocol;
  const version = readStr(r, spec, "protocolVersion", "spec");
  if (version !== undefined) out.protocolVersion = version;
  const hc = readObj(r, spec, "healthCheck", "spec");
  if (hc !== undefined) out.healthCheck = readHealthCheck(r, hc, "spec.healthCheck");
  return out;
}

function readHealthCheck(r: Reader, o: Obj, path: string): TargetGroupHealthCheck {
  noteUnknown(r, o, path, [
    "enabled",
    "intervalSeconds",
    "timeoutSeconds",
    "healthyThresholdCount",
    "unhealthyThresholdCount",
    "statusMatch",
    "path",
    "port",
    "protocol",
    "protocolVersion",
  ]);
  const L = TARGET_GROUP_POLICY_LIMITS;
  const out: TargetGroupHealthCheck = {};
  const enabled = readBool(r, o, "enabled", path);
  if (enabled !== undefined) out.enabled = enabled;
  const ints = [
    ["intervalSeconds", L.intervalSeconds],
    ["timeoutSeconds", L.timeoutSeconds],
    ["healthyThresholdCount", L.thresholdCount],
    ["unhealthyThresholdCount", L.thresholdCount],
    ["port", L.port],
  ] as const;
  for (const [key, range] of ints) {
    const v = readInt(r, o, key, path, range);
    if (v !== undefined) out[key] = v;
  }
  const statusMatch = readStr(r, o, "statusMatch", path);
  if (statusMatch !== undefined) out.statusMatch = statusMatch;
  const p = readStr(r, o, "path", path);
  if (p !== undefined) out.path = p;
  const protocol = readStr(r, o, "protocol", path, { oneOf: HEALTH_PROTOCOLS });
  if (protocol !== undefined) out.protocol = protocol as "HTTP" | "HTTPS";
  const pv = o.protocolVersion;
  if (pv === "GRPC") {
    // The enum refuses it as for any other value; say why, since GRPC is the target group's own version.
    r.fail(
      join(path, "protocolVersion"),
      `Unsupported value: ${show(pv)}: supported values: ${HEALTH_PROTOCOL_VERSIONS.map((v) => `"${v}"`).join(", ")} (${GRPC_HEALTH_CHECK_MESSAGE})`,
    );
  } else {
    const version = readStr(r, o, "protocolVersion", path, { oneOf: HEALTH_PROTOCOL_VERSIONS });
    if (version !== undefined) out.protocolVersion = version as "HTTP1" | "HTTP2";
  }
  return out;
}
