/** Object references and label selectors shared by several kinds. */
import type {
  BackendObjectReference,
  LabelSelector,
  PolicyTargetRef,
  SecretObjectReference,
} from "../types.js";
import { checkLabelKey } from "./meta.js";
import {
  checkStr,
  item,
  join,
  noteUnknown,
  type Obj,
  PATTERNS,
  type Reader,
  readInt,
  readList,
  readObjList,
  readStr,
  readStrMap,
  show,
} from "./reader.js";

/** A Gateway listener's `certificateRefs[]` item (group "" and kind Secret by default). */
export function readSecretRef(r: Reader, o: Obj, path: string): SecretObjectReference {
  noteUnknown(r, o, path, ["group", "kind", "name", "namespace"]);
  const ref: SecretObjectReference = {
    group: readStr(r, o, "group", path, { max: 253, pattern: PATTERNS.group, default: "" }) ?? "",
    kind:
      readStr(r, o, "kind", path, { min: 1, max: 63, pattern: PATTERNS.kind, default: "Secret" }) ?? "Secret",
    name: readStr(r, o, "name", path, { required: true, min: 1, max: 253 }) ?? "",
  };
  const ns = readStr(r, o, "namespace", path, { min: 1, max: 63, pattern: PATTERNS.dnsLabel });
  if (ns !== undefined) ref.namespace = ns;
  return ref;
}

/**
 * A BackendObjectReference (backendRefs, mirror backendRef): group "" and kind Service by default, and the
 * CEL rule "Must have port for Service reference".
 */
export function readBackendObjectRef(r: Reader, o: Obj, path: string): BackendObjectReference {
  const ref: BackendObjectReference = {
    group: readStr(r, o, "group", path, { max: 253, pattern: PATTERNS.group, default: "" }) ?? "",
    kind:
      readStr(r, o, "kind", path, { min: 1, max: 63, pattern: PATTERNS.kind, default: "Service" }) ??
      "Service",
    name: readStr(r, o, "name", path, { required: true, min: 1, max: 253 }) ?? "",
  };
  const ns = readStr(r, o, "namespace", path, { min: 1, max: 63, pattern: PATTERNS.dnsLabel });
  if (ns !== undefined) ref.namespace = ns;
  const port = readInt(r, o, "port", path, { min: 1, max: 65535 });
  if (port !== undefined) ref.port = port;
  if (ref.group === "" && ref.kind === "Service" && (o.port === undefined || o.port === null)) {
    r.fail(path, "Invalid value: object: Must have port for Service reference");
  }
  return ref;
}

const SELECTOR_OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"] as const;

/** A metav1.LabelSelector (listener `allowedRoutes.namespaces.selector`). */
export function readLabelSelector(r: Reader, o: Obj, path: string): LabelSelector {
  noteUnknown(r, o, path, ["matchLabels", "matchExpressions"]);
  const sel: LabelSelector = {};
  if (o.matchLabels !== undefined && o.matchLabels !== null) {
    const ml = readStrMap(r, o, "matchLabels", path);
    for (const [k, v] of Object.entries(ml)) {
      const p = `${join(path, "matchLabels")}[${k}]`;
      checkLabelKey(r, k, p);
      checkStr(r, v, p, { max: 63, pattern: PATTERNS.labelValue });
    }
    sel.matchLabels = ml;
  }
  const exprs = readObjList(r, o, "matchExpressions", path);
  if (exprs.length > 0) {
    sel.matchExpressions = exprs.map(({ obj, path: p }) => {
      const key = readStr(r, obj, "key", p, { required: true, min: 1 }) ?? "";
      const operator = (readStr(r, obj, "operator", p, { required: true, oneOf: SELECTOR_OPERATORS }) ??
        "Exists") as (typeof SELECTOR_OPERATORS)[number];
      const values: string[] = [];
      readList(r, obj, "values", p).forEach((v, i) => {
        if (typeof v === "string") values.push(v);
        else r.fail(item(join(p, "values"), i), `Invalid value: ${show(v)}: must be of type string`);
      });
      // The API server refuses selectors it cannot evaluate (metav1.LabelSelectorAsSelector).
      if ((operator === "In" || operator === "NotIn") && values.length === 0) {
        r.fail(join(p, "values"), `Required value: must be specified when operator is ${operator}`);
      }
      if ((operator === "Exists" || operator === "DoesNotExist") && values.length > 0) {
        r.fail(join(p, "values"), `Forbidden: may not be specified when operator is ${operator}`);
      }
      const e: NonNullable<LabelSelector["matchExpressions"]>[number] = { key, operator };
      if (values.length > 0) e.values = values;
      return e;
    });
  }
  return sel;
}

/** Targets a policy may name at most (`targetRefs`, GEP-713 and BackendTLSPolicy). */
export const MAX_TARGET_REFS = 16;

/**
 * `targetRefs` of a policy: `LocalPolicyTargetReferenceWithSectionName` items (group, kind and name
 * required, group may be "" for the core group) and the two CEL rules of BackendTLSPolicy's CRD on them.
 */
export function readPolicyTargetRefs(r: Reader, spec: Obj, path: string): PolicyTargetRef[] {
  const items = readObjList(r, spec, "targetRefs", path, { required: true, min: 1, max: MAX_TARGET_REFS });
  const refs = items.map(({ obj, path: p }) => {
    noteUnknown(r, obj, p, ["group", "kind", "name", "sectionName"]);
    const ref: PolicyTargetRef = {
      group: readStr(r, obj, "group", p, { required: true, max: 253, pattern: PATTERNS.group }) ?? "",
      kind: readStr(r, obj, "kind", p, { required: true, min: 1, max: 63, pattern: PATTERNS.kind }) ?? "",
      name: readStr(r, obj, "name", p, { required: true, min: 1, max: 253 }) ?? "",
    };
    const section = readStr(r, obj, "sectionName", p, { min: 1, max: 253, pattern: PATTERNS.sectionName });
    if (section !== undefined) ref.sectionName = section;
    return ref;
  });
  let mustSpecify = false;
  let mustBeUnique = false;
  for (let i = 0; i < refs.length; i++) {
    for (let j = i + 1; j < refs.length; j++) {
      const a = refs[i]!;
      const b = refs[j]!;
      if (a.group !== b.group || a.kind !== b.kind || a.name !== b.name) continue;
      const sa = a.sectionName ?? "";
      const sb = b.sectionName ?? "";
      if ((sa === "") !== (sb === "")) mustSpecify = true;
      else if (sa === sb) mustBeUnique = true;
    }
  }
  const p = join(path, "targetRefs");
  if (mustSpecify) {
    r.fail(
      p,
      "Invalid value: array: sectionName must be specified when targetRefs includes 2 or more references to the same target",
    );
  }
  if (mustBeUnique) {
    r.fail(
      p,
      "Invalid value: array: sectionName must be unique when targetRefs includes 2 or more references to the same target",
    );
  }
  return refs;
}
