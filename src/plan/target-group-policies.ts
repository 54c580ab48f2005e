/**
 * The TargetGroupPolicies a plan applies: for each Service, the one whose status the translator made
 * `Accepted=True` (at most one per Service; a Conflicted or Invalid policy changes nothing, as the AWS
 * controller ignores a policy it did not accept).
 */
import { objectKey, type ResourceSet, type TargetGroupPolicy } from "../api/types.js";
import type { TranslateResult } from "../translate/types.js";

/** Accepted policies by the `namespace/name` of their Service. */
export type TargetGroupPolicies = ReadonlyMap<string, TargetGroupPolicy>;

export function acceptedTargetGroupPolicies(
  resources: ResourceSet,
  result: TranslateResult,
): TargetGroupPolicies {
  const out = new Map<string, TargetGroupPolicy>();
  for (const p of resources.targetGroupPolicies) {
    const st = result.status.targetGroupPolicies.get(objectKey(p.metadata));
    if (!st?.conditions.some((c) => c.type === "Accepted" && c.status === "True")) continue;
    out.set(`${p.metadata.namespace}/${p.spec.targetRef.name}`, p);
  }
  return out;
}
