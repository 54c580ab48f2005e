/**
 * TrafficPolicy (grpcroute.dev/v1alpha1): timeouts, retries on gRPC status, gRPC health checks and outlier
 * detection, attached to Gateways, listeners, GRPCRoutes, rules and Services (GEP-713 direct attachment).
 *
 * The schema checks here are the ones a CRD would make (types, ranges, enums, defaults, and the cross-field
 * rules a CRD states in CEL); which targets a field group may be attached to, and whether the targets exist,
 * is decided by the translator and reported in the policy's status (`Accepted=False`).
 *
 * Defaults and limits, with where they come from:
 * - `retry.attempts` counts the first attempt, 1..5: gRFC A6's `maxAttempts`, which clients cap at 5;
 * - `retry.on` defaults to `[UNAVAILABLE]` (the status gRFC A6's examples retry, and what a connection that
 *   drops before the answer gives); `OK` cannot be retried;
 * - `retry.backoff` 25 ms doubling to 250 ms, randomised as gRFC A6 says (Envoy's defaults);
 * - `retry.maxBufferedBytes` 64 KiB (the request bytes the relay already keeps for a REFUSED_STREAM replay),
 *   at most 4 MiB per call;
 * - `retry.budgetPercent` 20 (Envoy's retry budget default);
 * - `healthCheck` every 5 s, 1 s to answer, 3 failures out, 2 passes back in; `interval` at least 100 ms;
 * - `outlierDetection`: 5 consecutive failures, 10 s interval, 30 s base ejection time, 10 % at most (Envoy's).
 */
import type {
  PolicyHealthCheck,
  PolicyOutlierDetection,
  PolicyRetry,
  PolicyTimeouts,
  PolicyTranscoding,
  TrafficPolicySpec,
} from "../types.js";
import { readCors } from "./cors.js";
import { readDuration } from "./duration.js";
import {
  checkStr,
  item,
  join,
  noteUnknown,
  type Obj,
  type Reader,
  readBool,
  readInt,
  readList,
  readObj,
  readStr,
  show,
} from "./reader.js";
import { readPolicyTargetRefs } from "./refs.js";

/** Limits and defaults of TrafficPolicy fields. */
export const TRAFFIC_POLICY_LIMITS = {
  attemptsMax: 5,
  maxBufferedBytesMax: 4 * 1024 * 1024,
  maxBufferedBytesDefault: 64 * 1024,
  budgetPercentDefault: 20,
  backoffBaseDefault: 25,
  backoffMaxDefault: 250,
  healthIntervalDefault: 5000,
  healthIntervalMin: 100,
  healthTimeoutDefault: 1000,
  unhealthyThresholdDefault: 3,
  healthyThresholdDefault: 2,
  thresholdMax: 1000,
  consecutiveFailuresDefault: 5,
  outlierIntervalDefault: 10_000,
  baseEjectionTimeDefault: 30_000,
  maxEjectionPercentDefault: 10,
} as const;

/** gRPC status code names, indexed by code (the gRPC status code table). */
export const GRPC_STATUS_NAMES: readonly string[] = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

/** gRPC status names `retry.on` accepts (every code but OK). */
export const RETRYABLE_CODES: readonly string[] = GRPC_STATUS_NAMES.slice(1);

const L = TRAFFIC_POLICY_LIMITS;
const FIELD_GROUPS = ["timeouts", "retry", "healthCheck", "outlierDetection", "cors", "transcoding"] as const;

export function readTrafficPolicySpec(r: Reader, o: Obj): TrafficPolicySpec {
  const spec = readObj(r, o, "spec", "", { required: true }) ?? {};
  noteUnknown(r, spec, "spec", ["targetRefs", ...FIELD_GROUPS]);
  const out: TrafficPolicySpec = { targetRefs: readPolicyTargetRefs(r, spec, "spec") };
  const timeouts = readObj(r, spec, "timeouts", "spec");
  if (timeouts !== undefined) out.timeouts = readTimeouts(r, timeouts, "spec.timeouts");
  const retry = readObj(r, spec, "retry", "spec");
  if (retry !== undefined) out.retry = readRetry(r, retry, "spec.retry");
  const hc = readObj(r, spec, "healthCheck", "spec");
  if (hc !== undefined) out.healthCheck = readHealthCheck(r, hc, "spec.healthCheck");
  const od = readObj(r, spec, "outlierDetection", "spec");
  if (od !== undefined) out.outlierDetection = readOutlier(r, od, "spec.outlierDetection");
  const cors = readObj(r, spec, "cors", "spec");
  if (cors !== undefined) out.cors = readCors(r, cors, "spec.cors");
  const tc = readObj(r, spec, "transcoding", "spec");
  if (tc !== undefined) out.transcoding = readTranscoding(r, tc, "spec.transcoding");
  if (FIELD_GROUPS.every((k) => spec[k] === undefined || spec[k] === null)) {
    r.fail(
      "spec",
      "Invalid value: object: at least one of timeouts, retry, healthCheck, outlierDetection, cors or transcoding must be specified",
    );
  }
  return out;
}

function readTranscoding(r: Reader, o: Obj, path: string): PolicyTranscoding {
  noteUnknown(r, o, path, ["enabled"]);
  const enabled = readBool(r, o, "enabled", path);
  if (enabled === undefined) r.fail(join(path, "enabled"), "Required value");
  return { enabled: enabled ?? false };
}

function readTimeouts(r: Reader, o: Obj, path: string): PolicyTimeouts {
  noteUnknown(r, o, path, ["request", "streamIdle", "connect"]);
  const out: PolicyTimeouts = {};
  for (const k of ["request", "streamIdle", "connect"] as const) {
    const v = readDuration(r, o, k, path);
    if (v !== undefined) out[k] = v;
  }
  if (Object.keys(o).every((k) => o[k] === undefined || o[k] === null)) {
    r.fail(path, "Invalid value: object: at least one of request, streamIdle or connect must be specified");
  }
  return out;
}

function readRetry(r: Reader, o: Obj, path: string): PolicyRetry {
  noteUnknown(r, o, path, [
    "attempts",
    "perTryTimeout",
    "on",
    "backoff",
    "maxBufferedBytes",
    "budgetPercent",
  ]);
  const out: PolicyRetry = {
    attempts: readInt(r, o, "attempts", path, { required: true, min: 1, max: L.attemptsMax }) ?? 1,
    on: [],
    backoff: { base: L.backoffBaseDefault, max: L.backoffMaxDefault },
    maxBufferedBytes:
      readInt(r, o, "maxBufferedBytes", path, {
        min: 0,
        max: L.maxBufferedBytesMax,
        default: L.maxBufferedBytesDefault,
      }) ?? L.maxBufferedBytesDefault,
    budgetPercent:
      readInt(r, o, "budgetPercent", path, { min: 0, max: 100, default: L.budgetPercentDefault }) ??
      L.budgetPercentDefault,
  };
  const perTry = readDuration(r, o, "perTryTimeout", path, { min: 1 });
  if (perTry !== undefined) out.perTryTimeout = perTry;
  const onPath = join(path, "on");
  const codes = readList(r, o, "on", path, { min: 1, max: RETRYABLE_CODES.length });
  codes.forEach((v, i) => {
    const p = item(onPath, i);
    if (typeof v !== "string") {
      r.fail(p, `Invalid value: ${show(v)}: must be of type string`);
      return;
    }
    if (!checkStr(r, v, p, { oneOf: RETRYABLE_CODES })) return;
    if (out.on.includes(v)) r.fail(p, `Duplicate value: ${show(v)}`);
    else out.on.push(v);
  });
  if (o.on === undefined || o.on === null) out.on = ["UNAVAILABLE"];
  const backoff = readObj(r, o, "backoff", path);
  if (backoff !== undefined) {
    const bp = join(path, "backoff");
    noteUnknown(r, backoff, bp, ["base", "max"]);
    out.backoff.base = readDuration(r, backoff, "base", bp, { min: 1, default: L.backoffBaseDefault }) ?? 1;
    out.backoff.max = readDuration(r, backoff, "max", bp, { min: 1, default: L.backoffMaxDefault }) ?? 1;
    if (out.backoff.base > out.backoff.max) {
      r.fail(bp, "Invalid value: object: base must be less than or equal to max");
    }
  }
  return out;
}

function readHealthCheck(r: Reader, o: Obj, path: string): PolicyHealthCheck {
  noteUnknown(r, o, path, ["grpc", "interval", "timeout", "unhealthyThreshold", "healthyThreshold"]);
  const grpc = readObj(r, o, "grpc", path, { required: true }) ?? {};
  const gp = join(path, "grpc");
  noteUnknown(r, grpc, gp, ["service"]);
  const threshold = (key: string, dflt: number): number =>
    readInt(r, o, key, path, { min: 1, max: L.thresholdMax, default: dflt }) ?? dflt;
  return {
    grpc: { service: readStr(r, grpc, "service", gp, { max: 1024, default: "" }) ?? "" },
    interval:
      readDuration(r, o, "interval", path, {
        min: L.healthIntervalMin,
        default: L.healthIntervalDefault,
      }) ?? L.healthIntervalDefault,
    timeout:
      readDuration(r, o, "timeout", path, { min: 1, default: L.healthTimeoutDefault }) ??
      L.healthTimeoutDefault,
    unhealthyThreshold: threshold("unhealthyThreshold", L.unhealthyThresholdDefault),
    healthyThreshold: threshold("healthyThreshold", L.healthyThresholdDefault),
  };
}

function readOutlier(r: Reader, o: Obj, path: string): PolicyOutlierDetection {
  noteUnknown(r, o, path, ["consecutiveFailures", "interval", "baseEjectionTime", "maxEjectionPercent"]);
  return {
    consecutiveFailures:
      readInt(r, o, "consecutiveFailures", path, {
        min: 1,
        max: L.thresholdMax,
        default: L.consecutiveFailuresDefault,
      }) ?? L.consecutiveFailuresDefault,
    interval:
      readDuration(r, o, "interval", path, { min: 1, default: L.outlierIntervalDefault }) ??
      L.outlierIntervalDefault,
    baseEjectionTime:
      readDuration(r, o, "baseEjectionTime", path, { min: 1, default: L.baseEjectionTimeDefault }) ??
      L.baseEjectionTimeDefault,
    maxEjectionPercent:
      readInt(r, o, "maxEjectionPercent", path, {
        min: 0,
        max: 100,
        default: L.maxEjectionPercentDefault,
      }) ?? L.maxEjectionPercentDefault,
  };
}
