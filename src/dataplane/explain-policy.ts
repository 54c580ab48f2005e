/**
 * The traffic policy in effect for a call, for `explain`: the rule's timeouts, retries and CORS and each backend's
 * connect timeout, health checks, outlier detection and BackendTLSPolicy, with the policy each comes from.
 * Read from the routing table, exactly what the data plane applies.
 */

import type { IrCallPolicy, IrCluster, IrHttpHealthCheck } from "../ir/routing-table.js";
import { formatDuration } from "../util/duration.js";
import { grpcCodeName } from "./grpc-status.js";
import { GRPC_EXPOSED } from "./relay/cors.js";

export interface ExplainedCallPolicy {
  timeouts?: { request: string; streamIdle: string; source: string };
  transcoding?: { enabled: boolean; source: string };
  retry?: {
    attempts: number;
    on: string[];
    perTryTimeout: string;
    backoff: string;
    maxBufferedBytes: number;
    budgetPercent: number;
    source: string;
  };
  /** CORS answers for gRPC-Web calls from browsers. */
  cors?: { summary: string; source: string };
}

export interface ExplainedBackendPolicy {
  connectTimeout?: { value: string; source: string };
  healthCheck?: { summary: string; source: string };
  outlierDetection?: { summary: string; source: string };
  tls?: { summary: string; source: string };
}

const limit = (ms: number): string => (ms > 0 ? formatDuration(ms) : "none");

/** The call policy of a rule, or undefined when it has none. */
export function explainCallPolicy(p: IrCallPolicy | undefined): ExplainedCallPolicy | undefined {
  if (p === undefined) return undefined;
  const out: ExplainedCallPolicy = {};
  if (p.timeouts !== undefined) {
    out.timeouts = {
      request: limit(p.timeouts.requestMs),
      streamIdle: limit(p.timeouts.streamIdleMs),
      source: p.timeouts.source,
    };
  }
  const r = p.retry;
  if (r !== undefined) {
    out.retry = {
      attempts: r.attempts,
      on: r.retryOn.map(grpcCodeName),
      perTryTimeout: limit(r.perTryTimeoutMs),
      backoff: `${formatDuration(r.backoffBaseMs)} doubling to ${formatDuration(r.backoffMaxMs)}`,
      maxBufferedBytes: r.maxBufferedBytes,
      budgetPercent: r.budgetPercent,
      source: r.source,
    };
  }
  const c = p.cors;
  if (c !== undefined) {
    const list = (xs: string[], none: string): string => (xs.length === 0 ? none : xs.join(", "));
    out.cors = {
      summary:
        `origins ${list(c.allowOrigins, "none")}, methods ${list(c.allowMethods, "none")}, headers ` +
        `${list(c.allowHeaders, "none")}, exposed ${[...GRPC_EXPOSED, ...c.exposeHeaders].join(", ")}, max age ` +
        `${c.maxAgeSeconds} s${c.allowCredentials ? ", with credentials" : ""}`,
      source: c.source,
    };
  }
  if (p.transcoding !== undefined) out.transcoding = { ...p.transcoding };
  return out;
}

/** The policies of a backend's cluster, or undefined when it has none. */
export function explainBackendPolicy(c: IrCluster | undefined): ExplainedBackendPolicy | undefined {
  if (c === undefined || (c.policy === undefined && c.backendTls === undefined)) return undefined;
  const out: ExplainedBackendPolicy = {};
  const p = c.policy;
  if (p?.connectTimeoutMs !== undefined) {
    out.connectTimeout = { value: formatDuration(p.connectTimeoutMs), source: p.sources.timeouts ?? "" };
  }
  const h = p?.healthCheck;
  if (h !== undefined) {
    out.healthCheck = {
      summary: `${h.http === undefined ? `grpc.health.v1 Check${h.service === "" ? "" : ` of "${h.service}"`}` : httpCheck(h.http)} every ${formatDuration(h.intervalMs)}, timeout ${formatDuration(h.timeoutMs)}, out after ${h.unhealthyThreshold} failure(s)${h.http === undefined ? " (NOT_SERVING: at once)" : ""}, back after ${h.healthyThreshold} pass(es)`,
      source: p?.sources.healthCheck ?? "",
    };
  }
  const o = p?.outlierDetection;
  if (o !== undefined) {
    out.outlierDetection = {
      summary: `ejected after ${o.consecutiveFailures} UNAVAILABLE answers or failed connections in a row, for ${formatDuration(o.baseEjectionMs)} x ejections; at most ${o.maxEjectionPercent} % of endpoints at once`,
      source: p?.sources.outlierDetection ?? "",
    };
  }
  const t = c.backendTls;
  if (t !== undefined) {
    const trust =
      t.invalid !== undefined ? "no valid CA: calls fail" : t.system ? "the system's CAs" : "the policy's CA";
    const names =
      t.subjectAltNames.length > 0
        ? `certificate must carry ${t.subjectAltNames.map((s) => `${s.type} ${s.value}`).join(" or ")}`
        : `certificate must carry ${t.hostname}`;
    out.tls = { summary: `TLS (ALPN h2), SNI ${t.hostname}, trusting ${trust}, ${names}`, source: t.source };
  }
  return out;
}

/** Text lines for a call policy, indented by `pad`. */
export function callPolicyLines(p: ExplainedCallPolicy, pad: string): string[] {
  const lines: string[] = [];
  if (p.timeouts !== undefined) {
    const t = p.timeouts;
    lines.push(
      `${pad}timeouts: request ${t.request} (the earlier of it and the client's grpc-timeout), streamIdle ${t.streamIdle} (${t.source})`,
    );
  }
  if (p.retry !== undefined) {
    const r = p.retry;
    lines.push(
      `${pad}retry: ${r.attempts} attempts in all on ${r.on.join(", ")}, perTryTimeout ${r.perTryTimeout}, backoff ${r.backoff}, requests up to ${r.maxBufferedBytes} bytes, budget ${r.budgetPercent} % (${r.source})`,
    );
  }
  if (p.cors !== undefined) lines.push(`${pad}cors (gRPC-Web): ${p.cors.summary} (${p.cors.source})`);
  if (p.transcoding !== undefined) {
    const t = p.transcoding;
    lines.push(
      `${pad}transcoding: ${t.enabled ? 'JSON requests become gRPC calls (README "JSON transcoding")' : "off"} (${t.source})`,
    );
  }
  return lines;
}

/** Text lines for a backend's policies, indented by `pad`. */
export function backendPolicyLines(p: ExplainedBackendPolicy, pad: string): string[] {
  const lines: string[] = [];
  if (p.tls !== undefined) lines.push(`${pad}${p.tls.summary} (${p.tls.source})`);
  if (p.connectTimeout !== undefined)
    lines.push(`${pad}connect timeout ${p.connectTimeout.value} (${p.connectTimeout.source})`);
  if (p.healthCheck !== undefined)
    lines.push(`${pad}health checks: ${p.healthCheck.summary} (${p.healthCheck.source})`);
  if (p.outlierDetection !== undefined) {
    lines.push(`${pad}outlier detection: ${p.outlierDetection.summary} (${p.outlierDetection.source})`);
  }
  return lines;
}

/** `HTTP/1.1 GET /healthz on port 8081 (TLS), status 200-399`. */
function httpCheck(h: IrHttpHealthCheck): string {
  const codes = h.statusCodes.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(",");
  const port = h.port === 0 ? "the traffic port" : `port ${h.port}`;
  return `HTTP/${h.version === 1 ? "1.1" : "2"} GET ${h.path} on ${port}${h.tls ? " (TLS)" : ""}, status ${codes},`;
}
