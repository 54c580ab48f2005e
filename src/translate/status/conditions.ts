/** Building conditions. The translator never stamps `lastTransitionTime`: the status sink does. */
import type { Condition, ConditionStatus } from "../../api/types.js";

/** One condition with `observedGeneration` set to the object's `metadata.generation`. */
export function condition(
  type: string,
  status: ConditionStatus,
  reason: string,
  message: string,
  generation: number,
): Condition {
  return { type, status, reason, message, observedGeneration: generation };
}

/** Whether `conditions` holds `type` with status True. */
export function isTrue(conditions: readonly Condition[], type: string): boolean {
  return conditions.some((c) => c.type === type && c.status === "True");
}
