/**
 * Policy status (GEP-713): `status.ancestors[]`, one entry per ancestor (a Gateway, or the target itself when
 * it cannot be found), each with an `Accepted` condition (and `ResolvedRefs` for BackendTLSPolicy). A policy
 * with several targets may meet one ancestor through several of them: the entry then carries the worst
 * outcome, and its message names each target's.
 */
import type { Condition, ParentReference, PolicyStatus } from "../../api/types.js";
import { condition } from "../status/conditions.js";
import { CondAccepted, CondResolvedRefs, PolicyReason } from "../status/reasons.js";

/** The Gateway API keeps at most 16 ancestors per policy. */
export const MAX_ANCESTORS = 16;

export type AcceptReason =
  | typeof PolicyReason.Accepted
  | typeof PolicyReason.Conflicted
  | typeof PolicyReason.Invalid
  | typeof PolicyReason.TargetNotFound
  | typeof PolicyReason.NoValidCACertificate;

/** What became of one target of a policy, seen from one ancestor. */
export interface TargetOutcome {
  reason: AcceptReason;
  message: string;
  /** BackendTLSPolicy: why a CA reference did not resolve (ResolvedRefs=False), absent when all did. */
  refs?: { reason: string; message: string };
}

/** Worse outcomes win when several targets meet at one ancestor. */
const SEVERITY: Record<AcceptReason, number> = {
  Accepted: 0,
  Conflicted: 1,
  TargetNotFound: 2,
  NoValidCACertificate: 3,
  Invalid: 4,
};

function ancestorKey(a: ParentReference): string {
  return `${a.group}/${a.kind}/${a.namespace ?? ""}/${a.name}/${a.sectionName ?? ""}/${a.port ?? ""}`;
}

/** The ancestorRef of a Gateway (or one of its listeners). */
export function gatewayAncestor(namespace: string, name: string, sectionName?: string): ParentReference {
  const ref: ParentReference = { group: "gateway.networking.k8s.io", kind: "Gateway", namespace, name };
  if (sectionName !== undefined) ref.sectionName = sectionName;
  return ref;
}

/** Collects the outcomes of one policy's targets by ancestor, in the order ancestors are first met. */
export class AncestorBook {
  readonly #entries = new Map<string, { ancestor: ParentReference; outcomes: TargetOutcome[] }>();

  add(ancestor: ParentReference, outcome: TargetOutcome): void {
    const key = ancestorKey(ancestor);
    const e = this.#entries.get(key);
    if (e !== undefined) e.outcomes.push(outcome);
    else this.#entries.set(key, { ancestor, outcomes: [outcome] });
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The policy's status. `resolvedRefs`: also write a ResolvedRefs condition (BackendTLSPolicy). */
  status(controllerName: string, generation: number, resolvedRefs: boolean): PolicyStatus {
    const ancestors = [...this.#entries.values()].slice(0, MAX_ANCESTORS).map(({ ancestor, outcomes }) => {
      let worst = outcomes[0]!;
      for (const o of outcomes) if (SEVERITY[o.reason] > SEVERITY[worst.reason]) worst = o;
      const messages = [...new Set(outcomes.map((o) => o.message))];
      const conditions: Condition[] = [
        condition(
          CondAccepted,
          worst.reason === PolicyReason.Accepted ? "True" : "False",
          worst.reason,
          messages.join("; "),
          generation,
        ),
      ];
      if (resolvedRefs) {
        const bad = outcomes.filter((o) => o.refs !== undefined);
        const first = bad[0]?.refs;
        conditions.push(
          first === undefined
            ? condition(
                CondResolvedRefs,
                "True",
                PolicyReason.ResolvedRefs,
                "All references resolved",
                generation,
              )
            : condition(
                CondResolvedRefs,
                "False",
                first.reason,
                [...new Set(bad.map((o) => o.refs?.message ?? ""))].join("; "),
                generation,
              ),
        );
      }
      return { ancestorRef: ancestor, controllerName, conditions };
    });
    return { ancestors };
  }
}

/** Policies in precedence order: the oldest first (creationTimestamp, unset last), then by namespace/name. */
export function byPrecedence<
  T extends { metadata: { creationTimestamp: string; namespace: string; name: string } },
>(a: T, b: T): number {
  const ta = a.metadata.creationTimestamp;
  const tb = b.metadata.creationTimestamp;
  if (ta !== tb) {
    if (ta === "") return 1;
    if (tb === "") return -1;
    return ta < tb ? -1 : 1;
  }
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
