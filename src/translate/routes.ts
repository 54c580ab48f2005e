/**
 * GRPCRoute rules: standard validity checks, matches and filters to IR, and backend resolution per rule
 * (reference sections 1.4 to 1.7, 2.2, 2.6).
 */
import RE2 from "re2";
import type { GRPCRoute, GRPCRouteFilter, GRPCRouteMatch, HTTPHeaderFilter } from "../api/types.js";
import type { IrCluster, IrHeaderMatch, IrHeaderModifier, IrMatch, IrMirror } from "../ir/routing-table.js";
import { resolveBackendRef } from "./backends.js";
import type { Indexes } from "./context.js";
import type { ResolvedBackendRef, RuleProblem } from "./profile.js";

/** Why a regular expression is not valid RE2, or undefined when it is. */
export function re2Problem(pattern: string): string | undefined {
  try {
    new RE2(pattern);
    return undefined;
  } catch (e: unknown) {
    return e instanceof Error ? e.message : String(e);
  }
}

/**
 * The standard checks of one rule, beyond what the API server's schema enforces: regular expressions must
 * compile with RE2 (linear time, no backtracking), rule names must be unique in the route (the standard
 * CRD leaves that check to controllers), and filters grpcroute cannot honour make the rule invalid
 * (ExtensionRef, and RequestMirror / ExtensionRef on a backendRef). Every problem is UnsupportedValue.
 */
export function standardRuleProblems(route: GRPCRoute, ruleIndex: number): RuleProblem[] {
  const rule = route.spec.rules[ruleIndex];
  if (rule === undefined) return [];
  const base = `spec.rules[${ruleIndex}]`;
  const out: RuleProblem[] = [];
  rule.matches.forEach((m, j) => {
    const mp = `${base}.matches[${j}]`;
    if (m.method?.type === "RegularExpression") {
      for (const field of ["service", "method"] as const) {
        const v = m.method[field];
        if (v === undefined) continue;
        const p = re2Problem(v);
        if (p !== undefined) {
          out.push({ path: `${mp}.method.${field}`, message: `invalid RE2 regular expression "${v}": ${p}` });
        }
      }
    }
    m.headers.forEach((h, k) => {
      if (h.type !== "RegularExpression") return;
      const p = re2Problem(h.value);
      if (p !== undefined) {
        out.push({
          path: `${mp}.headers[${k}].value`,
          message: `invalid RE2 regular expression "${h.value}": ${p}`,
        });
      }
    });
  });
  if (rule.name !== undefined) {
    const first = route.spec.rules.findIndex((r) => r.name === rule.name);
    if (first !== ruleIndex) {
      out.push({
        path: `${base}.name`,
        message: `rule name "${rule.name}" is already used by spec.rules[${first}]; rule names must be unique within a route`,
      });
    }
  }
  rule.filters.forEach((f, k) => {
    if (f.type === "ExtensionRef") {
      out.push({
        path: `${base}.filters[${k}].type`,
        message:
          "filter type ExtensionRef is not supported (supported: RequestHeaderModifier, ResponseHeaderModifier, RequestMirror)",
      });
    }
  });
  rule.backendRefs.forEach((b, k) => {
    b.filters.forEach((f, n) => {
      if (f.type === "ExtensionRef" || f.type === "RequestMirror") {
        out.push({
          path: `${base}.backendRefs[${k}].filters[${n}].type`,
          message: `filter type ${f.type} is not supported on a backendRef (supported: RequestHeaderModifier, ResponseHeaderModifier)`,
        });
      }
    });
  });
  return out;
}

/** A header filter with lowercase names (HTTP/2 header names are lowercase on the wire). */
export function headerModifier(f: HTTPHeaderFilter): IrHeaderModifier {
  return {
    set: f.set.map((h) => ({ name: h.name.toLowerCase(), value: h.value })),
    add: f.add.map((h) => ({ name: h.name.toLowerCase(), value: h.value })),
    remove: f.remove.map((n) => n.toLowerCase()),
  };
}

/** The RequestHeaderModifier / ResponseHeaderModifier of a filter list (each may appear once). */
export function headerFilters(filters: readonly GRPCRouteFilter[]): {
  requestHeaders?: IrHeaderModifier;
  responseHeaders?: IrHeaderModifier;
} {
  const out: { requestHeaders?: IrHeaderModifier; responseHeaders?: IrHeaderModifier } = {};
  for (const f of filters) {
    if (f.type === "RequestHeaderModifier" && out.requestHeaders === undefined) {
      out.requestHeaders = headerModifier(f.requestHeaderModifier);
    } else if (f.type === "ResponseHeaderModifier" && out.responseHeaders === undefined) {
      out.responseHeaders = headerModifier(f.responseHeaderModifier);
    }
  }
  return out;
}

/**
 * One match in IR form. Header names are lowercased; when two names are equal ignoring case only the first
 * counts (reference section 1.5).
 */
export function irMatch(
  m: GRPCRouteMatch | undefined,
  methodCaseInsensitive: boolean,
  headerValueCaseInsensitive: boolean,
): IrMatch {
  const out: IrMatch = { headers: [] };
  if (m === undefined) return out;
  if (m.method !== undefined && (m.method.service !== undefined || m.method.method !== undefined)) {
    out.method = { type: m.method.type };
    if (m.method.service !== undefined) out.method.service = m.method.service;
    if (m.method.method !== undefined) out.method.method = m.method.method;
    if (methodCaseInsensitive) out.method.caseInsensitive = true;
  }
  const seen = new Set<string>();
  for (const h of m.headers) {
    const name = h.name.toLowerCase();
    if (seen.has(name)) continue;
    seen.add(name);
    const hm: IrHeaderMatch = { type: h.type, name, value: h.value };
    if (headerValueCaseInsensitive) hm.caseInsensitive = true;
    out.headers.push(hm);
  }
  return out;
}

/** A reference problem for ResolvedRefs, located by its field path. */
export interface RefProblem {
  path: string;
  reason: string;
  message: string;
}

/** The references of one rule, resolved. */
export interface ResolvedRule {
  backends: ResolvedBackendRef[];
  mirrors: IrMirror[];
  /** Clusters of the valid backends and mirrors. */
  clusters: IrCluster[];
  problems: RefProblem[];
}

/** Resolves the backendRefs and RequestMirror backends of one rule. */
export function resolveRule(idx: Indexes, route: GRPCRoute, ruleIndex: number): ResolvedRule {
  const out: ResolvedRule = { backends: [], mirrors: [], clusters: [], problems: [] };
  const rule = route.spec.rules[ruleIndex];
  if (rule === undefined) return out;
  const ns = route.metadata.namespace;
  rule.backendRefs.forEach((ref, i) => {
    const path = `spec.rules[${ruleIndex}].backendRefs[${i}]`;
    const r = resolveBackendRef(idx, route, ref);
    const b: ResolvedBackendRef = {
      index: i,
      weight: ref.weight,
      source: { kind: "Service", namespace: ref.namespace ?? ns, name: ref.name },
      ...headerFilters(ref.filters),
    };
    if (r.ok) {
      b.cluster = r.cluster.name;
      if (r.unusable !== undefined) b.unusable = r.unusable;
      out.clusters.push(r.cluster);
    } else {
      b.problem = { reason: r.reason, message: r.message };
      out.problems.push({ path, reason: r.reason, message: r.message });
    }
    out.backends.push(b);
  });
  rule.filters.forEach((f, k) => {
    if (f.type !== "RequestMirror") return;
    const path = `spec.rules[${ruleIndex}].filters[${k}].requestMirror.backendRef`;
    const r = resolveBackendRef(idx, route, f.requestMirror.backendRef);
    if (!r.ok) {
      // The spec: a mirror whose backend cannot be resolved must not be configured.
      out.problems.push({ path, reason: r.reason, message: r.message });
      return;
    }
    out.clusters.push(r.cluster);
    const m = f.requestMirror;
    if (m.percent !== undefined)
      out.mirrors.push({ cluster: r.cluster.name, numerator: m.percent, denominator: 100 });
    else if (m.fraction !== undefined) {
      out.mirrors.push({
        cluster: r.cluster.name,
        numerator: m.fraction.numerator,
        denominator: m.fraction.denominator,
      });
    } else out.mirrors.push({ cluster: r.cluster.name, numerator: 100, denominator: 100 });
  });
  return out;
}
