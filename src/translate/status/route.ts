/** Route parent status: Accepted, ResolvedRefs and PartiallyInvalid (reference section 3.1). */
import type { Condition, ParentReference, RouteParentStatus } from "../../api/types.js";
import type { RuleProblem } from "../profile.js";
import type { RefProblem } from "../routes.js";
import { condition } from "./conditions.js";
import { CondAccepted, CondPartiallyInvalid, CondResolvedRefs, RouteReason } from "./reasons.js";

/** Everything that decides one parent's conditions. */
export interface ParentOutcome {
  parentRef: ParentReference;
  controllerName: string;
  generation: number;
  /** Attachment failure (NoMatchingParent, NotAllowedByListeners, NoMatchingListenerHostname). */
  attachProblem?: { reason: string; message: string };
  /** Listener names the route attached to (when attachment succeeded). */
  listeners: string[];
  gateway: string;
  /** Problems that reject the whole route (from the profile's route check). */
  routeProblems: RuleProblem[];
  /** Per rule index, the problems that make it invalid (empty: valid). */
  ruleProblems: RuleProblem[][];
  /** Notes appended to the Accepted message. */
  notes: string[];
  refProblems: RefProblem[];
}

function problemList(ps: readonly RuleProblem[]): string {
  return ps.map((p) => `${p.path}: ${p.message}`).join("; ");
}

/** Whether the route is rejected as a whole: a route-level problem, or every rule invalid. */
export function whollyInvalid(o: Pick<ParentOutcome, "routeProblems" | "ruleProblems">): boolean {
  return (
    o.routeProblems.length > 0 || (o.ruleProblems.length > 0 && o.ruleProblems.every((p) => p.length > 0))
  );
}

/** The status entry of one parentRef. */
export function parentStatus(o: ParentOutcome): RouteParentStatus {
  const gen = o.generation;
  const conditions: Condition[] = [];
  const invalid = whollyInvalid(o);
  let accepted = false;
  if (o.attachProblem !== undefined) {
    conditions.push(condition(CondAccepted, "False", o.attachProblem.reason, o.attachProblem.message, gen));
  } else if (invalid) {
    const all = [...o.routeProblems, ...o.ruleProblems.flat()];
    conditions.push(
      condition(
        CondAccepted,
        "False",
        RouteReason.UnsupportedValue,
        `Route is invalid: ${problemList(all)}`,
        gen,
      ),
    );
  } else {
    accepted = true;
    const msg = [
      `Accepted by Gateway ${o.gateway} listener(s) ${o.listeners.map((l) => `"${l}"`).join(", ")}`,
    ];
    msg.push(...o.notes);
    conditions.push(condition(CondAccepted, "True", RouteReason.Accepted, msg.join("; "), gen));
  }
  const first = o.refProblems[0];
  conditions.push(
    first === undefined
      ? condition(CondResolvedRefs, "True", RouteReason.ResolvedRefs, "All references resolved", gen)
      : condition(
          CondResolvedRefs,
          "False",
          first.reason,
          o.refProblems.map((p) => `${p.path}: ${p.message}`).join("; "),
          gen,
        ),
  );
  if (accepted && o.ruleProblems.some((p) => p.length > 0)) {
    // Never set PartiallyInvalid when the route is fully valid, fully invalid or not accepted.
    const dropped = o.ruleProblems
      .map((ps, i) => (ps.length === 0 ? "" : `Dropped Rule ${i}: ${problemList(ps)}`))
      .filter((s) => s !== "");
    conditions.push(
      condition(CondPartiallyInvalid, "True", RouteReason.UnsupportedValue, dropped.join("; "), gen),
    );
  }
  return { parentRef: o.parentRef, controllerName: o.controllerName, conditions };
}
