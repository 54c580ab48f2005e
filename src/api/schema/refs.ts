/** Object references and label selectors shared by several kinds. */
import type { BackendObjectReference, LabelSelector, SecretObjectReference } from "../types.js";
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
