/**
 * Invariants of a RoutingTable. A table that breaks one is a translator bug, not bad input, so this throws.
 * Run in tests on every translated table, and by the data plane before it applies a table.
 */
import type { IrAction, IrCallPolicy, IrCluster, IrDirect, RoutingTable } from "./routing-table.js";

/** Thrown when a RoutingTable breaks an invariant. */
export class RoutingTableInvariantError extends Error {
  override name = "RoutingTableInvariantError";
}

function fail(message: string): never {
  throw new RoutingTableInvariantError(message);
}

function checkDirect(d: IrDirect, where: string): void {
  if (d.grpcStatus === undefined && d.httpStatus === undefined)
    fail(`${where}: direct answer without a status`);
  if (
    d.grpcStatus !== undefined &&
    (!Number.isInteger(d.grpcStatus) || d.grpcStatus < 0 || d.grpcStatus > 16)
  ) {
    fail(`${where}: gRPC status ${d.grpcStatus} out of 0..16`);
  }
  if (
    d.httpStatus !== undefined &&
    (!Number.isInteger(d.httpStatus) || d.httpStatus < 100 || d.httpStatus > 599)
  ) {
    fail(`${where}: HTTP status ${d.httpStatus} out of 100..599`);
  }
}

function checkAction(a: IrAction, where: string, clusters: RoutingTable["clusters"]): void {
  if (a.kind === "direct") {
    checkDirect(a, where);
    return;
  }
  if (a.backends.length === 0) fail(`${where}: forward action without backends`);
  let sum = 0;
  a.backends.forEach((b, i) => {
    const w = `${where} backend ${i}`;
    if (!Number.isInteger(b.weight) || b.weight < 0) fail(`${w}: weight ${b.weight} is not an integer >= 0`);
    sum += b.weight;
    if ((b.cluster === undefined) === (b.invalid === undefined)) {
      fail(`${w}: exactly one of cluster and invalid must be set`);
    }
    if (b.cluster !== undefined && clusters[b.cluster] === undefined)
      fail(`${w}: unknown cluster ${b.cluster}`);
    if (b.invalid !== undefined) checkDirect(b.invalid, w);
  });
  if (sum <= 0) fail(`${where}: forward action whose weights sum to 0`);
  a.mirrors.forEach((m, i) => {
    if (clusters[m.cluster] === undefined) fail(`${where} mirror ${i}: unknown cluster ${m.cluster}`);
    if (m.denominator < 1 || m.numerator < 0 || m.numerator > m.denominator) {
      fail(`${where} mirror ${i}: fraction ${m.numerator}/${m.denominator} out of range`);
    }
  });
}

function checkMs(v: number | undefined, what: string, min = 0): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min)) fail(`${what} ${v} is not an integer >= ${min}`);
}

function checkCallPolicy(p: IrCallPolicy, where: string): void {
  if (p.timeouts !== undefined) {
    checkMs(p.timeouts.requestMs, `${where}: timeouts.requestMs`);
    checkMs(p.timeouts.streamIdleMs, `${where}: timeouts.streamIdleMs`);
  }
  const r = p.retry;
  if (r === undefined) return;
  if (!Number.isInteger(r.attempts) || r.attempts < 1 || r.attempts > 5) {
    fail(`${where}: retry.attempts ${r.attempts} out of 1..5`);
  }
  if (r.retryOn.length === 0 || r.retryOn.some((c) => !Number.isInteger(c) || c < 1 || c > 16)) {
    fail(`${where}: retry.retryOn must hold gRPC codes 1..16`);
  }
  checkMs(r.perTryTimeoutMs, `${where}: retry.perTryTimeoutMs`);
  checkMs(r.backoffBaseMs, `${where}: retry.backoffBaseMs`, 1);
  checkMs(r.backoffMaxMs, `${where}: retry.backoffMaxMs`, r.backoffBaseMs);
  checkMs(r.maxBufferedBytes, `${where}: retry.maxBufferedBytes`);
  if (!Number.isInteger(r.budgetPercent) || r.budgetPercent < 0 || r.budgetPercent > 100) {
    fail(`${where}: retry.budgetPercent ${r.budgetPercent} out of 0..100`);
  }
}

function checkClusterPolicies(c: IrCluster): void {
  const where = `cluster ${c.name}`;
  const t = c.backendTls;
  if (t !== undefined) {
    if (!c.tls) fail(`${where}: backendTls without tls`);
    if (t.hostname === "") fail(`${where}: backendTls without hostname`);
    const sources = [t.caPem !== undefined, t.system === true, t.invalid !== undefined].filter(Boolean);
    if (sources.length !== 1) fail(`${where}: backendTls needs exactly one of caPem, system and invalid`);
  }
  const p = c.policy;
  if (p === undefined) return;
  checkMs(p.connectTimeoutMs, `${where}: connectTimeoutMs`);
  const h = p.healthCheck;
  if (h !== undefined) {
    checkMs(h.intervalMs, `${where}: healthCheck.intervalMs`, 1);
    checkMs(h.timeoutMs, `${where}: healthCheck.timeoutMs`, 1);
    checkMs(h.unhealthyThreshold, `${where}: healthCheck.unhealthyThreshold`, 1);
    checkMs(h.healthyThreshold, `${where}: healthCheck.healthyThreshold`, 1);
    const web = h.http;
    if (web !== undefined) {
      if (!web.path.startsWith("/"))
        fail(`${where}: healthCheck.http.path ${JSON.stringify(web.path)} lacks "/"`);
      if (!Number.isInteger(web.port) || web.port < 0 || web.port > 65535)
        fail(`${where}: healthCheck.http.port ${web.port} out of 0..65535`);
      if (
        web.statusCodes.length === 0 ||
        web.statusCodes.some(([lo, hi]) => !(lo >= 100 && lo <= hi && hi <= 599))
      )
        fail(
          `${where}: healthCheck.http.statusCodes ${JSON.stringify(web.statusCodes)} are not ranges of 100..599`,
        );
    }
  }
  const o = p.outlierDetection;
  if (o !== undefined) {
    checkMs(o.consecutiveFailures, `${where}: outlierDetection.consecutiveFailures`, 1);
    checkMs(o.intervalMs, `${where}: outlierDetection.intervalMs`, 1);
    checkMs(o.baseEjectionMs, `${where}: outlierDetection.baseEjectionMs`, 1);
    if (o.maxEjectionPercent < 0 || o.maxEjectionPercent > 100 || !Number.isInteger(o.maxEjectionPercent)) {
      fail(`${where}: outlierDetection.maxEjectionPercent ${o.maxEjectionPercent} out of 0..100`);
    }
  }
}

/**
 * Checks: unique listener names and (listener) port/name pairs, unique route names in the table, weights
 * integers >= 0 with a positive sum per forward action, every referenced cluster exists and is named by
 * its key, every direct answer has a status, cluster keys are sorted, policy values in range (timeouts and
 * counts whole numbers >= 0, retry attempts 1..5 on codes 1..16, backoff base <= max, a BackendTLSPolicy
 * only on a TLS cluster with exactly one source of trust).
 */
export function validateRoutingTable(table: RoutingTable): void {
  const listenerNames = new Set<string>();
  const routeNames = new Set<string>();
  for (const l of table.listeners) {
    if (listenerNames.has(l.name)) fail(`duplicate listener name ${l.name}`);
    listenerNames.add(l.name);
    if (!Number.isInteger(l.port) || l.port < 1 || l.port > 65535)
      fail(`${l.name}: port ${l.port} out of range`);
    checkDirect(l.noRoute, `${l.name} noRoute`);
    for (const r of l.routes) {
      const key = `${l.name}|${r.name}`;
      if (routeNames.has(key)) fail(`${l.name}: duplicate route name ${r.name}`);
      routeNames.add(key);
      if (r.hostnames.some((h) => h !== h.toLowerCase())) fail(`${r.name}: hostnames must be lowercase`);
      if (r.match.headers.some((h) => h.name !== h.name.toLowerCase())) {
        fail(`${r.name}: header match names must be lowercase`);
      }
      checkAction(r.action, r.name, table.clusters);
      if (r.policy !== undefined) checkCallPolicy(r.policy, r.name);
    }
  }
  const keys = Object.keys(table.clusters);
  const sorted = [...keys].sort();
  if (keys.some((k, i) => k !== sorted[i])) fail("cluster keys are not sorted");
  for (const [k, c] of Object.entries(table.clusters)) {
    if (c.name !== k) fail(`cluster ${k} is named ${c.name}`);
    for (const e of c.endpoints) {
      if (e.host === "" || !Number.isInteger(e.port) || e.port < 1 || e.port > 65535) {
        fail(`cluster ${k}: bad endpoint ${e.host}:${e.port}`);
      }
    }
    checkClusterPolicies(c);
  }
}
