/**
 * What VPC Lattice (through the AWS Gateway API Controller) cannot express in a GRPCRoute, found before any
 * translation. Pure: the Lattice profile turns each violation into route status (`UnsupportedValue`, or
 * `PartiallyInvalid` when other rules remain valid), `validate` prints it, and `plan` leaves the rule out.
 *
 * Every violation carries the field path; its message names the value found and the Lattice limit with its
 * source (the path is not repeated in the message: outputs print `path: message`).
 */
import type { GRPCRoute, GRPCRouteRule } from "../api/types.js";
import {
  MAX_HEADER_MATCHES,
  MAX_HEADER_NAME_LENGTH,
  MAX_HEADER_VALUE_LENGTH,
  MAX_MATCHES_PER_RULE,
  MAX_PATH_LENGTH,
  MAX_RULES_PER_LISTENER,
  MAX_TARGET_GROUPS_PER_FORWARD,
  MAX_WEIGHT,
  PATH_PATTERN,
} from "./limits.js";
import { ANNOTATION_SERVICE_NAME_OVERRIDE, serviceNameOverrideProblem } from "./names.js";
import { assignRulePriorities } from "./priorities.js";

/** One thing Lattice cannot do with this route. */
export interface LatticeViolation {
  /** Rule index; absent when the whole route is concerned. */
  rule?: number;
  /** Field path, e.g. `spec.rules[1].matches[0].headers`. */
  path: string;
  message: string;
}

/** The result of checking one route. */
export interface LatticeRouteCheck {
  /** Violations of the route as a whole (the route cannot become a Lattice service). */
  route: LatticeViolation[];
  /** Violations per rule index (a rule with any is not programmed). Same length as `spec.rules`. */
  rules: LatticeViolation[][];
  /** Lattice priority of each rule (lower first). */
  priorities: number[];
}

/** The Lattice path match of a method match: exact `/S/M`, prefix `/S/`, or prefix `/`. */
export function latticePath(method: { service?: string; method?: string } | undefined): {
  kind: "exact" | "prefix";
  value: string;
} {
  if (method?.service === undefined || method.service === "") return { kind: "prefix", value: "/" };
  if (method.method === undefined || method.method === "") {
    return { kind: "prefix", value: `/${method.service}/` };
  }
  return { kind: "exact", value: `/${method.service}/${method.method}` };
}

function quote(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}...` : s);
}

/** Checks one rule against what a Lattice listener rule can express. */
export function checkLatticeRule(rule: GRPCRouteRule, i: number): LatticeViolation[] {
  const out: LatticeViolation[] = [];
  const at = `spec.rules[${i}]`;
  const add = (path: string, message: string): void => {
    out.push({ rule: i, path, message });
  };

  if (rule.matches.length > MAX_MATCHES_PER_RULE.value) {
    add(
      `${at}.matches`,
      `${rule.matches.length} matches; VPC Lattice allows ${MAX_MATCHES_PER_RULE.value} match per rule (${MAX_MATCHES_PER_RULE.source}): split it into one rule per match`,
    );
  }
  rule.matches.forEach((m, j) => {
    const mat = `${at}.matches[${j}]`;
    const method = m.method;
    if (method !== undefined) {
      if (method.type === "RegularExpression") {
        add(
          `${mat}.method.type`,
          `RegularExpression; VPC Lattice matches paths only by exact value or prefix (method match type Exact only; AWS controller: unsupported gRPC method match type RegularExpression)`,
        );
      } else if (
        (method.service === undefined || method.service === "") &&
        method.method !== undefined &&
        method.method !== ""
      ) {
        add(
          `${mat}.method`,
          `method ${quote(method.method)} without a service; VPC Lattice has no suffix path match, so a method match needs a service`,
        );
      } else {
        const path = latticePath(method);
        if (path.value.length > MAX_PATH_LENGTH.value) {
          add(
            `${mat}.method`,
            `path ${path.kind} ${quote(path.value)} has ${path.value.length} characters; VPC Lattice allows ${MAX_PATH_LENGTH.value} (${MAX_PATH_LENGTH.source})`,
          );
        } else if (!PATH_PATTERN.test(path.value)) {
          add(
            `${mat}.method`,
            `path ${quote(path.value)} has characters VPC Lattice path matches do not accept (${PATH_PATTERN.source})`,
          );
        }
      }
    }
    if (m.headers.length > MAX_HEADER_MATCHES.value) {
      add(
        `${mat}.headers`,
        `${m.headers.length} header matches; VPC Lattice allows ${MAX_HEADER_MATCHES.value} per rule (${MAX_HEADER_MATCHES.source})`,
      );
    }
    m.headers.forEach((h, k) => {
      const hat = `${mat}.headers[${k}]`;
      if (h.type === "RegularExpression") {
        add(
          `${hat}.type`,
          `RegularExpression (header ${quote(h.name)}); VPC Lattice header matches used for GRPCRoute are Exact only (AWS controller LATTICE_UNSUPPORTED_HEADER_MATCH_TYPE)`,
        );
      }
      if (h.name.length > MAX_HEADER_NAME_LENGTH.value) {
        add(
          `${hat}.name`,
          `header name ${quote(h.name)} has ${h.name.length} characters; VPC Lattice allows ${MAX_HEADER_NAME_LENGTH.value} (${MAX_HEADER_NAME_LENGTH.source})`,
        );
      }
      if (h.value.length > MAX_HEADER_VALUE_LENGTH.value) {
        add(
          `${hat}.value`,
          `value of header ${quote(h.name)} has ${h.value.length} characters; VPC Lattice allows ${MAX_HEADER_VALUE_LENGTH.value} (${MAX_HEADER_VALUE_LENGTH.source})`,
        );
      }
    });
  });

  if (rule.filters.length > 0) {
    const types = rule.filters.map((f) => f.type).join(", ");
    add(
      `${at}.filters`,
      `${rule.filters.length} filter(s) (${types}); VPC Lattice rules have no filters and the AWS controller silently ignores them`,
    );
  }
  if (rule.backendRefs.length > MAX_TARGET_GROUPS_PER_FORWARD.value) {
    add(
      `${at}.backendRefs`,
      `${rule.backendRefs.length} backendRefs; VPC Lattice allows ${MAX_TARGET_GROUPS_PER_FORWARD.value} target groups per rule (${MAX_TARGET_GROUPS_PER_FORWARD.source})`,
    );
  }
  rule.backendRefs.forEach((b, k) => {
    const bat = `${at}.backendRefs[${k}]`;
    if (b.weight > MAX_WEIGHT.value) {
      add(
        `${bat}.weight`,
        `weight ${b.weight} (backend ${quote(b.name)}); VPC Lattice allows 0-${MAX_WEIGHT.value} (${MAX_WEIGHT.source})`,
      );
    }
    if (b.filters.length > 0) {
      add(
        `${bat}.filters`,
        `${b.filters.length} filter(s); VPC Lattice target groups have no filters and the AWS controller silently ignores them`,
      );
    }
  });
  return out;
}

/**
 * Checks a whole route: each rule, the rule priorities, the service name override, and the rules-per-listener
 * quota (counted over the rules that are otherwise valid, in priority order: the ones past the quota are
 * the ones rejected). `rulesPerListener` is the account's quota when it was raised; default 10.
 */
export function checkLatticeRoute(
  route: GRPCRoute,
  rulesPerListener: number = MAX_RULES_PER_LISTENER.value,
): LatticeRouteCheck {
  const routeViolations: LatticeViolation[] = [];
  const override = route.metadata.annotations[ANNOTATION_SERVICE_NAME_OVERRIDE];
  if (override !== undefined) {
    const problem = serviceNameOverrideProblem(override);
    if (problem !== undefined) {
      routeViolations.push({
        path: `metadata.annotations[${ANNOTATION_SERVICE_NAME_OVERRIDE}]`,
        message: `annotation ${ANNOTATION_SERVICE_NAME_OVERRIDE} is ${quote(override)}: a Lattice service name ${problem}`,
      });
    }
  }

  const rules = route.spec.rules.map((r, i) => checkLatticeRule(r, i));
  const { priorities, problems } = assignRulePriorities(route.spec.rules.length, route.metadata.annotations);
  for (const p of problems) rules[p.rule]?.push({ rule: p.rule, path: p.path, message: p.message });

  const valid = rules
    .map((v, i) => ({ i, ok: v.length === 0, priority: priorities[i] ?? 0 }))
    .filter((r) => r.ok)
    .sort((a, b) => a.priority - b.priority || a.i - b.i);
  const quota =
    Number.isInteger(rulesPerListener) && rulesPerListener > 0
      ? rulesPerListener
      : MAX_RULES_PER_LISTENER.value;
  const source =
    quota === MAX_RULES_PER_LISTENER.value
      ? MAX_RULES_PER_LISTENER.source
      : `VPC Lattice quota 'Rules per listener', set to ${quota} for this account`;
  for (const r of valid.slice(quota)) {
    rules[r.i]?.push({
      rule: r.i,
      path: `spec.rules[${r.i}]`,
      message: `priority ${r.priority} makes it rule ${valid.indexOf(r) + 1} of ${valid.length} on the listener; VPC Lattice allows ${quota} (${source})`,
    });
  }
  return { route: routeViolations, rules, priorities };
}
