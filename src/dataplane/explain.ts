/**
 * Why a call would be served the way it is: the listener chosen by `:authority`, the winning route, the
 * backends (weights, shares, endpoints) or the gateway-made answer, and for every other candidate why it
 * lost. Built on the compiled router itself (its listener choice and `match()`), so an explanation never
 * disagrees with the proxy. Pure: no I/O.
 */

import type {
  IrBackend,
  IrDirect,
  IrListener,
  IrMethodMatch,
  IrRoute,
  RoutingTable,
} from "../ir/routing-table.js";
import { type ExplainedReflection, explainReflection, reflectionLines } from "./explain-local.js";
import {
  backendPolicyLines,
  callPolicyLines,
  type ExplainedBackendPolicy,
  type ExplainedCallPolicy,
  explainBackendPolicy,
  explainCallPolicy,
} from "./explain-policy.js";
import { grpcCodeName } from "./grpc-status.js";
import {
  type CompiledListener,
  type CompiledRoute,
  type CompiledRouter,
  compileRouters,
  headerValue,
  hostFromAuthority,
  hostnameMatches,
  parseGrpcPath,
  type RequestHeaders,
  routeAcceptsHeaders,
  routeAcceptsHost,
} from "./router.js";

/** The call to explain. */
export interface ExplainCall {
  /** `:authority`, possibly with a port. */
  authority: string;
  path: string;
  /** Request headers (names lowercase). */
  headers: RequestHeaders;
  /** Only this listener port; default: the authority's port when a listener uses it, else every port. */
  port?: number;
}

export interface ExplainedListener {
  name: string;
  gateway: string;
  listener: string;
  hostname: string | null;
  profile: string;
  protocol: string;
}

export interface ExplainedBackend {
  /** Cluster name, or null for an invalid backendRef. */
  cluster: string | null;
  /** The backendRef's Service as `namespace/name`. */
  service: string;
  weight: number;
  /** Share of calls, in percent (two decimals). */
  sharePercent: number;
  endpoints: string[];
  tls: boolean;
  /** Set when this backend's share gets a gateway-made answer instead. */
  answer?: ExplainedAnswer;
  /** Set when this backend's share goes to the rule's other backendRefs instead: why. */
  failover?: string;
  /** Its Service's policies: BackendTLSPolicy, and a TrafficPolicy's connect timeout, health checks, outlier detection. */
  policy?: ExplainedBackendPolicy;
}

export interface ExplainedAnswer {
  /** gRPC status of the gateway-made answer (a plain HTTP status answer maps to one too). */
  grpcStatus?: number;
  httpStatus?: number;
  message: string;
}

export interface ExplainedCandidate {
  route: string;
  /** `namespace/name` of the GRPCRoute, rule and match indexes. */
  source: string;
  listener: string;
  /** "selected", or why the candidate lost. */
  outcome: "selected" | "lost";
  reason: string;
}

/** The explanation for one listener port. */
export interface PortExplanation {
  port: number;
  host: string;
  /** The chosen listener; null when no listener of the port accepts the host. */
  listener: ExplainedListener | null;
  /** Why each other listener of the port was not chosen. */
  otherListeners: { listener: string; reason: string }[];
  /** The winning route; null when none matched. */
  route: { name: string; source: string } | null;
  /** forward: the call goes to `backends`; answer: the gateway answers itself with `answer`. */
  result: "forward" | "answer";
  backends: ExplainedBackend[];
  mirrors: { cluster: string; percent: number }[];
  answer: ExplainedAnswer | null;
  /** The rule's TrafficPolicy timeouts and retries; null when none applies. */
  policy: ExplainedCallPolicy | null;
  /** Set when the gateway answers the call itself with its reflection service. */
  reflection?: ExplainedReflection;
  candidates: ExplainedCandidate[];
}

export interface Explanation {
  authority: string;
  path: string;
  /** Whether `:path` is a well-formed `/service/method`. */
  pathValid: boolean;
  ports: PortExplanation[];
}

function describeListener(l: IrListener): ExplainedListener {
  return {
    name: l.name,
    gateway: `${l.gateway.namespace}/${l.gateway.name}`,
    listener: l.listener,
    hostname: l.hostname ?? null,
    profile: l.profile,
    protocol: l.protocol,
  };
}

function routeSource(r: IrRoute): string {
  const s = r.source;
  return `GRPCRoute ${s.namespace}/${s.name} rule ${s.rule}${s.ruleName ? ` (${s.ruleName})` : ""} match ${s.match}`;
}

function answerOf(d: IrDirect): ExplainedAnswer {
  const a: ExplainedAnswer = { message: d.message };
  if (d.httpStatus !== undefined) a.httpStatus = d.httpStatus;
  else a.grpcStatus = d.grpcStatus ?? 14;
  return a;
}

function describeMethod(m: IrMethodMatch): string {
  const parts: string[] = [];
  if (m.service !== undefined) parts.push(`service ${JSON.stringify(m.service)}`);
  if (m.method !== undefined) parts.push(`method ${JSON.stringify(m.method)}`);
  return `${m.type}${m.caseInsensitive ? " (case-insensitive)" : ""} ${parts.join(" ")}`;
}

/** Why a route of the chosen listener does not accept the call ("" when it does). */
function mismatch(r: CompiledRoute, host: string, path: string, headers: RequestHeaders): string {
  if (!routeAcceptsHost(r, host))
    return `route hostnames ${JSON.stringify(r.route.hostnames)} do not accept host "${host}"`;
  const parsed = parseGrpcPath(path);
  if (parsed === undefined) return `":path" ${JSON.stringify(path)} is not /<service>/<method>`;
  const m = r.route.match.method;
  if (r.method !== undefined && m !== undefined && !r.method(parsed.service, parsed.method)) {
    return `method match ${describeMethod(m)} does not accept ${path}`;
  }
  if (!routeAcceptsHeaders(r, headers)) {
    for (const h of r.route.match.headers) {
      const v = headerValue(headers, h.name);
      const one: CompiledRoute = { ...r, headers: r.headers.filter((x) => x.name === h.name.toLowerCase()) };
      if (!routeAcceptsHeaders(one, headers)) {
        return `header match ${h.name} ${h.type} ${JSON.stringify(h.value)} fails (${v === undefined ? "header absent" : `got ${JSON.stringify(v)}`})`;
      }
    }
    return "a header match fails";
  }
  return "";
}

function whyNotListener(other: IrListener, chosen: IrListener | undefined, host: string): string {
  const h = other.hostname?.toLowerCase();
  if (h !== undefined && h !== "" && h !== "*" && !hostnameMatches(h, host)) {
    return `hostname "${other.hostname}" does not match host "${host}"`;
  }
  if (chosen === undefined) return "not chosen";
  const c = chosen.hostname ?? "(any)";
  return `also accepts host "${host}", but listener ${chosen.name} (hostname "${c}") is more specific: an exact hostname beats a wildcard, a longer wildcard beats a shorter one, any hostname beats none`;
}

function explainPort(router: CompiledRouter, table: RoutingTable, call: ExplainCall): PortExplanation {
  const host = hostFromAuthority(call.authority);
  const chosen: CompiledListener | undefined = router.selectCompiled(host);
  const match = router.match(call.authority, call.path, call.headers);
  const out: PortExplanation = {
    port: router.port,
    host,
    listener: chosen === undefined ? null : describeListener(chosen.listener),
    otherListeners: router.listeners
      .filter((l) => l !== chosen?.listener)
      .map((l) => ({ listener: l.name, reason: whyNotListener(l, chosen?.listener, host) })),
    route: match.route === undefined ? null : { name: match.route.name, source: routeSource(match.route) },
    result: "answer",
    backends: [],
    mirrors: [],
    answer: null,
    policy: null,
    candidates: [],
  };
  for (const l of router.compiled) {
    for (const r of l.routes) {
      const base = { route: r.route.name, source: routeSource(r.route), listener: l.listener.name };
      if (l !== chosen) {
        out.candidates.push({
          ...base,
          outcome: "lost",
          reason: `its listener ${l.listener.name} was not chosen for host "${host}"`,
        });
        continue;
      }
      if (r.route === match.route) {
        out.candidates.push({
          ...base,
          outcome: "selected",
          reason: "first route in precedence order that accepts the call",
        });
        continue;
      }
      const why = mismatch(r, host, call.path, call.headers);
      out.candidates.push({
        ...base,
        outcome: "lost",
        reason:
          why === ""
            ? `also accepts the call, but ${match.route?.name} comes first in precedence order`
            : why,
      });
    }
  }
  const reflection = explainReflection(chosen, table, host, call.path, call.headers);
  if (reflection !== undefined) {
    out.reflection = reflection;
    out.answer = { grpcStatus: 0, message: "answered by the gateway's reflection service" };
    return out;
  }
  const action = match.action;
  if (action.kind === "direct") {
    out.answer = answerOf(action);
    return out;
  }
  out.result = "forward";
  out.policy = explainCallPolicy(match.route?.policy) ?? null;
  const total = action.backends.reduce((s, b) => s + Math.max(b.weight, 0), 0);
  // Standard profile: a valid backendRef that cannot take calls hands them to the others that can.
  const ready = (b: IrBackend): boolean =>
    b.weight > 0 && b.cluster !== undefined && (table.clusters[b.cluster]?.endpoints.length ?? 0) > 0;
  const standard = match.listener?.profile !== "lattice";
  for (const b of action.backends) {
    const c = b.cluster === undefined ? undefined : table.clusters[b.cluster];
    const e: ExplainedBackend = {
      cluster: c?.name ?? null,
      service: `${b.source.namespace}/${b.source.name}`,
      weight: b.weight,
      sharePercent: total > 0 && b.weight > 0 ? Math.round((b.weight / total) * 10_000) / 100 : 0,
      endpoints: c?.endpoints.map((x) => `${x.host}:${x.port}`) ?? [],
      tls: c?.tls ?? false,
    };
    if (b.invalid !== undefined) e.answer = answerOf(b.invalid);
    else if (c === undefined) e.answer = { grpcStatus: 14, message: `backend ${e.service} has no cluster` };
    else if (c.endpoints.length === 0 && standard && action.backends.some((o) => o !== b && ready(o)))
      e.failover = "no ready endpoint";
    else if (c.endpoints.length === 0)
      e.answer = { grpcStatus: 14, message: `no ready endpoint for backend ${c.name}` };
    const policy = explainBackendPolicy(c);
    if (policy !== undefined) e.policy = policy;
    out.backends.push(e);
  }
  if (total === 0) out.answer = { grpcStatus: 14, message: "every backend of the rule has weight 0" };
  out.mirrors = action.mirrors.map((m) => ({
    cluster: m.cluster,
    percent: Math.round((m.numerator / m.denominator) * 10_000) / 100,
  }));
  return out;
}

/** Explains how `table` would serve `call`, per listener port considered. */
export function explainCall(table: RoutingTable, call: ExplainCall): Explanation {
  const routers = compileRouters(table.listeners);
  let ports = [...routers.keys()];
  if (call.port !== undefined) ports = ports.filter((p) => p === call.port);
  else {
    const m = /:(\d+)$/.exec(call.authority);
    const p = m ? Number(m[1]) : undefined;
    if (p !== undefined && routers.has(p)) ports = [p];
  }
  return {
    authority: call.authority,
    path: call.path,
    pathValid: parseGrpcPath(call.path) !== undefined,
    ports: ports.map((p) => explainPort(routers.get(p) as CompiledRouter, table, call)),
  };
}

function describeAnswer(a: ExplainedAnswer): string {
  if (a.httpStatus !== undefined) return `HTTP ${a.httpStatus} (no gRPC status): ${a.message}`;
  const code = a.grpcStatus ?? 14;
  return `gRPC ${code} ${grpcCodeName(code)}: ${a.message}`;
}

/** Human-readable form of an explanation. */
export function renderExplanation(e: Explanation): string {
  const lines: string[] = [`call: ${e.path} on ${JSON.stringify(e.authority)}`];
  if (!e.pathValid) lines.push(`  note: ":path" is not /<service>/<method>: no route can match it`);
  if (e.ports.length === 0) lines.push("no listener port to consider (no Gateway listener is programmed)");
  for (const p of e.ports) {
    lines.push("", `port ${p.port} (host "${p.host}")`);
    if (p.listener === null) lines.push("  listener: none accepts this host");
    else {
      const l = p.listener;
      lines.push(
        `  listener: ${l.listener} of gateway ${l.gateway} (${l.protocol}, hostname ${l.hostname ?? "any"}, ${l.profile} profile)`,
      );
    }
    for (const o of p.otherListeners) lines.push(`    not ${o.listener}: ${o.reason}`);
    lines.push(`  route: ${p.route === null ? "none matches" : `${p.route.name} (${p.route.source})`}`);
    if (p.result === "forward") {
      lines.push("  backends:");
      for (const b of p.backends) {
        const where = b.endpoints.length > 0 ? `endpoints ${b.endpoints.join(", ")}` : "no endpoints";
        lines.push(
          `    ${b.cluster ?? `${b.service} (invalid)`} weight ${b.weight} (${b.sharePercent}% of calls)${b.tls ? " TLS" : ""}: ${where}`,
        );
        if (b.answer !== undefined) lines.push(`      its share gets ${describeAnswer(b.answer)}`);
        if (b.failover !== undefined)
          lines.push(`      its share goes to the other backendRefs: ${b.failover}`);
        if (b.policy !== undefined) lines.push(...backendPolicyLines(b.policy, "      "));
      }
      if (p.policy !== null) {
        lines.push("  traffic policy:");
        lines.push(...callPolicyLines(p.policy, "    "));
      }
      for (const m of p.mirrors) lines.push(`  mirror: ${m.cluster} (${m.percent}% of calls)`);
      if (p.answer !== null) lines.push(`  answer: ${describeAnswer(p.answer)}`);
    } else if (p.reflection !== undefined) {
      lines.push(...reflectionLines(p.reflection, "  "));
    } else if (p.answer !== null) {
      lines.push(`  answer: ${describeAnswer(p.answer)}`);
    }
    const lost = p.candidates.filter((c) => c.outcome === "lost");
    if (lost.length > 0) {
      lines.push("  other candidates:");
      for (const c of lost) lines.push(`    ${c.route}: ${c.reason}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
