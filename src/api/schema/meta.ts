/** `metadata` as the API server checks and defaults it. */
import type { ObjectMeta } from "../types.js";
import {
  charLength,
  checkStr,
  type Obj,
  PATTERNS,
  type Pattern,
  type Reader,
  readInt,
  readObj,
  readStr,
  readStrMap,
  show,
} from "./reader.js";

/** How a kind's names are checked: most kinds use DNS-1123 subdomains, Services DNS-1035 labels. */
export interface NameRule {
  pattern: Pattern;
  max: number;
}

export const SUBDOMAIN_NAME: NameRule = { pattern: PATTERNS.dnsSubdomain, max: 253 };
export const LABEL_NAME: NameRule = { pattern: PATTERNS.dnsLabel, max: 63 };
export const SERVICE_NAME: NameRule = { pattern: PATTERNS.dns1035Label, max: 63 };

/** Default namespace of a namespaced object that names none. */
export const DEFAULT_NAMESPACE = "default";

/**
 * Reads `metadata`. Namespaced kinds default to namespace `default`; cluster-scoped kinds (GatewayClass,
 * Namespace) get namespace `""`. Returns undefined when the object cannot be named at all.
 */
export function readMeta(r: Reader, o: Obj, nameRule: NameRule, namespaced: boolean): ObjectMeta | undefined {
  const m = readObj(r, o, "metadata", "", { required: true });
  if (m === undefined) return undefined;
  const name = readStr(r, m, "name", "metadata", {
    required: true,
    min: 1,
    max: nameRule.max,
    pattern: nameRule.pattern,
  });
  let namespace = "";
  if (namespaced) {
    namespace =
      readStr(r, m, "namespace", "metadata", {
        max: 63,
        pattern: PATTERNS.dnsLabel,
        default: DEFAULT_NAMESPACE,
      }) ?? DEFAULT_NAMESPACE;
    if (namespace === "") namespace = DEFAULT_NAMESPACE;
  }
  // File mode has no API server to stamp a generation: 1 is what a freshly created object carries.
  const generation = readInt(r, m, "generation", "metadata", { min: 1, default: 1 }) ?? 1;
  const creationTimestamp = readStr(r, m, "creationTimestamp", "metadata", { default: "" }) ?? "";
  if (creationTimestamp !== "" && !isRfc3339(creationTimestamp)) {
    r.fail(
      "metadata.creationTimestamp",
      `Invalid value: ${show(creationTimestamp)}: must be an RFC 3339 time such as 2024-01-02T03:04:05Z`,
    );
  }
  const labels = readStrMap(r, m, "labels", "metadata");
  for (const [k, v] of Object.entries(labels)) {
    checkLabelKey(r, k, `metadata.labels[${k}]`);
    checkStr(r, v, `metadata.labels[${k}]`, { max: 63, pattern: PATTERNS.labelValue });
  }
  const annotations = readStrMap(r, m, "annotations", "metadata");
  const meta: ObjectMeta = {
    name: name ?? "",
    namespace,
    generation,
    creationTimestamp,
    labels,
    annotations,
  };
  const uid = readStr(r, m, "uid", "metadata");
  if (uid !== undefined) meta.uid = uid;
  const rv = readStr(r, m, "resourceVersion", "metadata");
  if (rv !== undefined) meta.resourceVersion = rv;
  return meta;
}

/** Reads just enough of `metadata` to name an object in a message, whatever else is wrong with it. */
export function peekName(o: Obj): { name?: string; namespace?: string } {
  const m = o.metadata;
  if (typeof m !== "object" || m === null || Array.isArray(m)) return {};
  const meta = m as Obj;
  const out: { name?: string; namespace?: string } = {};
  if (typeof meta.name === "string") out.name = meta.name;
  if (typeof meta.namespace === "string") out.namespace = meta.namespace;
  return out;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function isRfc3339(s: string): boolean {
  return RFC3339.test(s) && !Number.isNaN(Date.parse(s));
}

/** Label keys: an optional DNS subdomain prefix and `/`, then a name of at most 63 characters. */
export function checkLabelKey(r: Reader, key: string, p: string): void {
  const slash = key.indexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (charLength(prefix) > 253 || !PATTERNS.dnsSubdomain.re.test(prefix))) {
    r.fail(p, `Invalid value: ${show(key)}: prefix part must be a DNS subdomain of at most 253 characters`);
  }
  if (charLength(name) > 63 || !PATTERNS.labelName.re.test(name)) {
    r.fail(
      p,
      `Invalid value: ${show(key)}: name part must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`,
    );
  }
}
