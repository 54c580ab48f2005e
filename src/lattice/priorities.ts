/**
 * Lattice rule priorities of a GRPCRoute, assigned as the AWS Gateway API Controller's `buildRules` does:
 * rule `i` gets priority `i + 1`, unless annotation `application-networking.k8s.aws/rule-<i>-priority` gives
 * one. Annotated rules are placed first, in rule order, with their own priorities; then every other rule, in
 * rule order, gets the priority of the rule placed just before it plus one (1 when none was placed).
 * Example: rule 0 plain, rule 1 annotated 5, rule 2 plain gives 5 (rule 1), 6 (rule 0), 7 (rule 2).
 *
 * Priorities are computed over every rule of the route, valid or not, so rejecting one rule never moves the
 * others.
 */
import { MAX_RULE_PRIORITY, MIN_RULE_PRIORITY } from "./limits.js";
import { rulePriorityAnnotation } from "./names.js";

/** A priority that cannot be used, said against the annotation (or the rule) that caused it. */
export interface PriorityProblem {
  rule: number;
  /** Field path: `metadata.annotations[<key>]` or `spec.rules[<i>]`. */
  path: string;
  message: string;
}

export interface RulePriorities {
  /** Priority of each rule by index; lower runs first. */
  priorities: number[];
  /** Rules whose priority Lattice would refuse (out of range, duplicate, unreadable annotation). */
  problems: PriorityProblem[];
}

/** Assigns a priority to each of `ruleCount` rules from the route's annotations. */
export function assignRulePriorities(
  ruleCount: number,
  annotations: Readonly<Record<string, string>>,
): RulePriorities {
  const problems: PriorityProblem[] = [];
  const given: (number | undefined)[] = [];
  for (let i = 0; i < ruleCount; i++) {
    const key = rulePriorityAnnotation(i);
    const raw = annotations[key];
    if (raw === undefined) {
      given.push(undefined);
      continue;
    }
    const text = raw.trim();
    // strconv.ParseInt semantics: an optional sign and decimal digits, nothing else.
    if (!/^[+-]?\d+$/.test(text)) {
      problems.push({
        rule: i,
        path: `metadata.annotations[${key}]`,
        message: `annotation ${key} is "${raw}", not an integer rule priority`,
      });
      given.push(undefined);
      continue;
    }
    given.push(Number.parseInt(text, 10));
  }

  const priorities: number[] = new Array<number>(ruleCount).fill(0);
  let last = 0;
  for (let i = 0; i < ruleCount; i++) {
    const p = given[i];
    if (p !== undefined) {
      priorities[i] = p;
      last = p;
    }
  }
  for (let i = 0; i < ruleCount; i++) {
    if (given[i] === undefined) {
      last += 1;
      priorities[i] = last;
    }
  }

  const byPriority = new Map<number, number>();
  for (let i = 0; i < ruleCount; i++) {
    const p = priorities[i] ?? 0;
    const annotated = given[i] !== undefined;
    const path = annotated ? `metadata.annotations[${rulePriorityAnnotation(i)}]` : `spec.rules[${i}]`;
    if (p < MIN_RULE_PRIORITY || p > MAX_RULE_PRIORITY.value) {
      problems.push({
        rule: i,
        path,
        message: `rule ${i} gets priority ${p}; VPC Lattice allows ${MIN_RULE_PRIORITY}-${MAX_RULE_PRIORITY.value} (${MAX_RULE_PRIORITY.source})`,
      });
      continue;
    }
    const other = byPriority.get(p);
    if (other !== undefined) {
      problems.push({
        rule: i,
        path,
        message: `rule ${i} gets priority ${p}, already used by rule ${other}; a Lattice listener needs distinct rule priorities`,
      });
      continue;
    }
    byPriority.set(p, i);
  }
  problems.sort((a, b) => a.rule - b.rule);
  return { priorities, problems };
}
