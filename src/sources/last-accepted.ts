/**
 * What an API server does with an edit it refuses: the object stays as it was. A source that re-reads its
 * whole input (files now, a Kubernetes watch later) merges each fresh load with the versions it accepted
 * before: an object whose new version is rejected keeps its last accepted version (a "kept" object, said
 * so in logs, `/status` and metrics); a new object that is rejected is left out, as before; an object no
 * longer in the input is deleted, since a deletion is not a refused edit. Objects are matched by API group,
 * kind, namespace and name ({@link identityOf}), across every kind.
 */
import type { RejectedObject } from "../api/parse.js";
import { emptyResourceSet, type Issue, identityOf, type K8sObject, type ResourceSet } from "../api/types.js";

type AnyObject = K8sObject<string, unknown>;
type ListName = keyof ResourceSet;

/** An object whose new version was rejected while its previous version keeps serving. */
export interface KeptObject {
  /** The version that keeps serving (where it was read then, in `previous.origin`). */
  readonly previous: AnyObject;
  /** The refused new version: where it is and why. */
  readonly rejected: RejectedObject;
}

/** A fresh load: what it accepted and what it refused. */
export interface FreshObjects {
  readonly resources: ResourceSet;
  readonly issues: readonly Issue[];
  readonly rejected: readonly RejectedObject[];
}

export interface Merged {
  /** The fresh valid objects, with each kept previous version where its rejected version stands. */
  readonly resources: ResourceSet;
  /** The fresh issues less the errors of kept objects (those are in `kept`). */
  readonly issues: Issue[];
  readonly kept: KeptObject[];
  /** The accepted version of every object now, for the next merge. */
  readonly accepted: Accepted;
}

/** The last accepted version of each object by identity, with the list of a ResourceSet it belongs in. */
export type Accepted = ReadonlyMap<string, { readonly object: AnyObject; readonly list: ListName }>;

/** Merges a fresh load with the versions accepted before it. Pure. */
export function mergeAccepted(previous: Accepted, fresh: FreshObjects): Merged {
  const accepted = new Map<string, { object: AnyObject; list: ListName }>();
  const lists = Object.keys(fresh.resources) as ListName[];
  for (const list of lists) {
    for (const object of fresh.resources[list] as AnyObject[])
      accepted.set(identityOf(object), { object, list });
  }

  const kept: (KeptObject & { list: ListName })[] = [];
  for (const r of fresh.rejected) {
    const before = previous.get(r.id);
    // A valid definition of the same object in this load wins (a duplicate whose first copy is invalid).
    if (before === undefined || accepted.has(r.id)) continue;
    accepted.set(r.id, before);
    kept.push({ previous: before.object, rejected: r, list: before.list });
  }
  if (kept.length === 0) return { resources: fresh.resources, issues: [...fresh.issues], kept, accepted };

  const resources = emptyResourceSet();
  for (const list of lists) {
    const out = [...(fresh.resources[list] as AnyObject[])];
    // Inserted from the last position back, so an insertion does not move the places of those before it.
    const here = kept.filter((k) => k.list === list);
    for (let i = here.length - 1; i >= 0; i--) {
      const k = here[i]!;
      out.splice(Math.min(k.rejected.position, out.length), 0, k.previous);
    }
    (resources[list] as AnyObject[]) = out;
  }
  const keptIssues = new Set(kept.flatMap((k) => k.rejected.issues));
  return {
    resources,
    issues: fresh.issues.filter((i) => !keptIssues.has(i)),
    kept: kept.map(({ previous, rejected }) => ({ previous, rejected })),
    accepted,
  };
}

/** {@link mergeAccepted} with its state: what a source holds between loads. */
export class LastAccepted {
  #accepted: Accepted = new Map();

  /**
   * Merges a fresh load. `commit` false (a load that will not be applied, such as one with unreadable
   * files) leaves the accepted versions as they were.
   */
  merge(fresh: FreshObjects, commit = true): Merged {
    const merged = mergeAccepted(this.#accepted, fresh);
    if (commit) this.#accepted = merged.accepted;
    return merged;
  }
}
