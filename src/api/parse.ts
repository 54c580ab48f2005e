/**
 * Reads manifests: multi-document YAML or JSON text, files and folders, into a {@link ResourceSet} of the
 * kinds of PRODUCT.md section 2, with the API server's defaults applied and its schema rules enforced.
 *
 * Nothing a user writes makes this throw. Each problem becomes an {@link Issue}: an object that breaks a
 * rule is left out (severity `error`, every violation listed), unknown kinds and fields are skipped with a
 * `note`, and input that cannot be read or parsed at all is `fatal`. The valid objects are always kept.
 */
import { readFile, realpath } from "node:fs/promises";
import { extname } from "node:path";
import { LineCounter, parseAllDocuments } from "yaml";
import { GW_ERR_PARSE } from "../util/errors.js";
import { listManifestFiles, readIssue } from "./files.js";
import { findJsonError } from "./json-position.js";
import { readBackendTLSPolicySpec } from "./schema/backend-tls-policy.js";
import {
  readConfigMapSpec,
  readEndpointSliceSpec,
  readReferenceGrantSpec,
  readSecretSpec,
  readServiceSpec,
} from "./schema/core.js";
import { readGatewayClassSpec, readGatewaySpec } from "./schema/gateway.js";
import { readGRPCRouteSpec } from "./schema/grpcroute.js";
import {
  DEFAULT_NAMESPACE,
  LABEL_NAME,
  type NameRule,
  peekName,
  readMeta,
  SERVICE_NAME,
  SUBDOMAIN_NAME,
} from "./schema/meta.js";
import { isObj, type Obj, Reader } from "./schema/reader.js";
import { readTargetGroupPolicySpec } from "./schema/target-group-policy.js";
import { readTrafficPolicySpec } from "./schema/traffic-policy.js";
import {
  apiGroup,
  emptyResourceSet,
  GATEWAY_GROUP,
  GRPCROUTE_GROUP,
  type Issue,
  type K8sObject,
  LATTICE_GROUP,
  type ObjectMeta,
  type ObjectRef,
  type Origin,
  objectIdentity,
  type ResourceSet,
} from "./types.js";

/** The outcome of reading manifests. */
export interface LoadResult {
  /** The valid objects, defaults applied, in input order (files sorted, then document order). */
  resources: ResourceSet;
  /** Rejected objects (severity `error`) and notes (unknown kinds or fields skipped, ...). */
  issues: Issue[];
  /** Input that could not be read or parsed at all: a missing file, a YAML or JSON syntax error. */
  fatal: Issue[];
  /**
   * The rejected objects of the kinds grpcroute reads that are named well enough to find an earlier
   * version of them (a kind, and a name). Their errors are in `issues` too.
   */
  rejected: RejectedObject[];
}

/** An object refused as an API server would refuse it, with what identifies it across versions. */
export interface RejectedObject {
  /** {@link objectIdentity}: API group, kind, namespace and name. */
  id: string;
  ref: ObjectRef;
  origin: Origin;
  /** How many valid objects of its kind came before it in the input: where it stands in its kind's list. */
  position: number;
  /** Why it was refused (severity `error`). */
  issues: Issue[];
}

/** How one kind is read: its API group, served versions, scope, name rule and spec reader. */
interface KindDef {
  group: string;
  versions: readonly string[];
  namespaced: boolean;
  name: NameRule;
  read(r: Reader, o: Obj, meta: ObjectMeta): unknown;
  list(set: ResourceSet): K8sObject<string, unknown>[];
}

const KINDS: Record<string, KindDef> = {
  GatewayClass: {
    group: GATEWAY_GROUP,
    versions: ["v1", "v1beta1"],
    namespaced: false,
    name: SUBDOMAIN_NAME,
    read: (r, o) => readGatewayClassSpec(r, o),
    list: (s) => s.gatewayClasses,
  },
  Gateway: {
    group: GATEWAY_GROUP,
    versions: ["v1", "v1beta1"],
    namespaced: true,
    name: SUBDOMAIN_NAME,
    read: (r, o) => readGatewaySpec(r, o),
    list: (s) => s.gateways,
  },
  GRPCRoute: {
    group: GATEWAY_GROUP,
    // v1alpha2 has not been served since Gateway API v1.2.
    versions: ["v1"],
    namespaced: true,
    name: SUBDOMAIN_NAME,
    read: (r, o) => readGRPCRouteSpec(r, o),
    list: (s) => s.grpcRoutes,
  },
  ReferenceGrant: {
    group: GATEWAY_GROUP,
    versions: ["v1", "v1beta1"],
    namespaced: true,
    name: SUBDOMAIN_NAME,
    read: (r, o) => readReferenceGrantSpec(r, o),
    list: (s) => s.referenceGrants,
  },
  Service: {
    group: "",
    versions: ["v1"],
    namespaced: true,
    name: SERVICE_NAME,
    read: (r, o) => readServiceSpec(r, o),
    list: (s) => s.services,
  },
  EndpointSlice: {
    group: "discovery.k8s.io",
    versions: ["v1"],
    namespaced: true,
    name: SUBDOMAIN_NAME,
    read: (r, o, meta) => readEndpointSliceSpec(r, o, meta.labels),
    list: (s) => s.endpointSlices,
  },
  Secret: {
    group: "",
    versions: ["v1"],
    namespaced: true,
    name: SUBDOMAIN_NAME,
    read: (r, o) => readSecretSpec(r, o),
    list: (s) => s.secrets,
  },
  Namespace: {
    group: "",
    versions: ["v1"],
    namespaced: false,
    name: LABEL_NAME,
    read: () => ({}),
    list: (s) => s.namespaces,
  },
  ConfigMap: {
    group: "",
    versions: ["v1"],
    namespaced: true,
    name: SUBDOMAIN_NAME,
    read: (r, o) => readConfigMapSpec(r, o),
    list: (s) => s.configMaps,
  },
  BackendTLSPolicy: {
    group: GATEWAY_GROUP,
    // v1 since Gateway API v1.4; the experimental v1alpha3 has the same shape.
    versions: ["v1", "v1alpha3"],
    namespaced: true,
    name: SUBDOMAIN_NAME,
    read: (r, o) => readBackendTLSPolicySpec(r, o),
    list: (s) => s.backendTLSPolicies,
  },
  TrafficPolicy: {
    group: GRPCROUTE_GROUP,
    versions: ["v1alpha1"],
    namespaced: true,
    name: SUBDOMAIN_NAME,
    read: (r, o) => readTrafficPolicySpec(r, o),
    list: (s) => s.trafficPolicies,
  },
  TargetGroupPolicy: {
    group: LATTICE_GROUP,
    versions: ["v1alpha1"],
    namespaced: true,
    name: SUBDOMAIN_NAME,
    read: (r, o) => readTargetGroupPolicySpec(r, o),
    list: (s) => s.targetGroupPolicies,
  },
};

/** The kinds grpcroute reads; anything else is skipped with a note. */
export const KNOWN_KINDS: readonly string[] = Object.keys(KINDS);

/** Accumulates objects and issues across documents and files, and rejects duplicates. */
class Collector {
  readonly resources = emptyResourceSet();
  readonly issues: Issue[] = [];
  readonly fatal: Issue[] = [];
  readonly rejected: RejectedObject[] = [];
  private readonly seen = new Map<string, Origin>();

  result(): LoadResult {
    return { resources: this.resources, issues: this.issues, fatal: this.fatal, rejected: this.rejected };
  }

  /**
   * Records the errors of an object of a kind we read; when it has a name, also as a rejected object, so
   * a source can keep serving the version it had before.
   */
  reject(def: KindDef, kind: string, name: Partial<ObjectMeta>, origin: Origin, issues: Issue[]): void {
    this.issues.push(...issues);
    if (name.name === undefined || name.name === "" || issues.length === 0) return;
    const namespace = def.namespaced
      ? name.namespace === undefined || name.namespace === ""
        ? DEFAULT_NAMESPACE
        : name.namespace
      : "";
    this.rejected.push({
      id: objectIdentity(def.group, kind, namespace, name.name),
      ref: refOf(kind, { namespace, name: name.name }),
      origin,
      position: def.list(this.resources).length,
      issues,
    });
  }

  /** Adds a valid object unless one with the same kind, namespace and name came earlier. */
  add(def: KindDef, obj: K8sObject<string, unknown>): void {
    const key = `${obj.kind}/${obj.metadata.namespace}/${obj.metadata.name}`;
    const first = this.seen.get(key);
    if (first !== undefined) {
      this.issues.push({
        severity: "error",
        origin: obj.origin,
        ref: refOf(obj.kind, obj.metadata),
        path: "metadata.name",
        message: `Duplicate value: ${obj.kind} ${displayName(obj.metadata)} is already defined at ${formatOrigin(first)}; this later definition is ignored`,
      });
      return;
    }
    this.seen.set(key, obj.origin);
    def.list(this.resources).push(obj);
  }
}

function refOf(kind: string, meta: { namespace?: string; name?: string }): ObjectRef {
  const ref: ObjectRef = { kind };
  if (meta.namespace !== undefined && meta.namespace !== "") ref.namespace = meta.namespace;
  if (meta.name !== undefined) ref.name = meta.name;
  return ref;
}

function displayName(meta: { namespace: string; name: string }): string {
  return meta.namespace === "" ? meta.name : `${meta.namespace}/${meta.name}`;
}

/** `file (document 2, item 0, line 14)`: where something came from, for messages. */
export function formatOrigin(o: Origin): string {
  const parts = [`document ${o.index}`];
  if (o.item !== undefined) parts.push(`item ${o.item}`);
  if (o.line !== undefined)
    parts.push(o.column !== undefined ? `line ${o.line}:${o.column}` : `line ${o.line}`);
  return `${o.file} (${parts.join(", ")})`;
}

/**
 * One line for an issue: where, which object, which field, what is wrong. Example:
 * `routes.yaml (document 1, line 12) GRPCRoute default/greeter: spec.rules[2].matches[0].method.service: Too long: ...`
 */
export function formatIssue(i: Issue): string {
  const parts: string[] = [];
  if (i.origin !== undefined) parts.push(formatOrigin(i.origin));
  if (i.ref !== undefined) {
    const name =
      i.ref.name === undefined ? "" : ` ${i.ref.namespace ? `${i.ref.namespace}/` : ""}${i.ref.name}`;
    parts.push(`${i.ref.kind}${name}`);
  }
  const head = parts.join(" ");
  const body = i.path === "" ? i.message : `${i.path}: ${i.message}`;
  return head === "" ? body : `${head}: ${body}`;
}

/** The documents' `apiVersion` split into group and version (`v1` is the core group). */
function splitApiVersion(av: string): { group: string; version: string } {
  return { group: apiGroup(av), version: av.slice(av.lastIndexOf("/") + 1) };
}

/** Reads one decoded object (a document, or an item of a `kind: List`) into the collector. */
function readObject(c: Collector, value: unknown, origin: Origin): void {
  if (!isObj(value)) {
    c.issues.push({
      severity: "error",
      origin,
      path: "",
      message: `a manifest must be a mapping with apiVersion and kind, not ${Array.isArray(value) ? "a list" : typeof value}`,
    });
    return;
  }
  const kind = value.kind;
  const apiVersion = value.apiVersion;
  const named = peekName(value);
  if (typeof kind !== "string" || kind === "") {
    c.issues.push({
      severity: "error",
      origin,
      ...(named.name !== undefined ? { ref: refOf("(no kind)", named) } : {}),
      path: "kind",
      message: "Required value: every manifest needs a kind",
    });
    return;
  }
  const ref = refOf(kind, named);
  if (typeof apiVersion !== "string" || apiVersion === "") {
    const issue: Issue = { severity: "error", origin, ref, path: "apiVersion", message: "Required value" };
    // Without apiVersion a kind we read is still most likely ours: an edit that dropped the line.
    const def = Object.hasOwn(KINDS, kind) ? KINDS[kind] : undefined;
    if (def !== undefined) c.reject(def, kind, named, origin, [issue]);
    else c.issues.push(issue);
    return;
  }
  // `kind: List` (kubectl's) and typed lists such as `GRPCRouteList` (the API server's) hold objects.
  if ((kind === "List" && apiVersion === "v1") || (kind.endsWith("List") && Array.isArray(value.items))) {
    readList(c, value, origin);
    return;
  }
  // Own properties only: a kind such as "constructor" must not find Object.prototype members.
  const def = Object.hasOwn(KINDS, kind) ? KINDS[kind] : undefined;
  const { group, version } = splitApiVersion(apiVersion);
  if (def === undefined || def.group !== group) {
    // Another API's object (HTTPRoute, ConfigMap, a same-named kind of another group): not ours to read.
    c.issues.push({
      severity: "note",
      origin,
      ref,
      path: "",
      message: `kind ${kind} (${apiVersion}) is not read by grpcroute; skipped`,
    });
    return;
  }
  if (!def.versions.includes(version)) {
    c.reject(def, kind, named, origin, [
      {
        severity: "error",
        origin,
        ref,
        path: "apiVersion",
        message: `Unsupported value: "${apiVersion}": ${kind} is served as ${def.versions.map((v) => `"${group === "" ? v : `${group}/${v}`}"`).join(", ")}`,
      },
    ]);
    return;
  }
  const r = new Reader();
  const meta = readMeta(r, value, def.name, def.namespaced);
  // Reading the spec goes on even when metadata is broken, so every violation is reported at once.
  const spec = def.read(r, value, meta ?? emptyMeta());
  // An invalid name is still the best way to point at the object.
  const objRef = meta === undefined || meta.name === "" ? ref : refOf(kind, meta);
  for (const n of r.notes)
    c.issues.push({ severity: "note", origin, ref: objRef, path: n.path, message: n.message });
  if (r.errors.length > 0 || meta === undefined) {
    const errors: Issue[] = r.errors.map((e) => ({
      severity: "error",
      origin,
      ref: objRef,
      path: e.path,
      message: e.message,
    }));
    const name = meta?.name ? meta : named;
    c.reject(def, kind, name, origin, errors);
    return;
  }
  c.add(def, { apiVersion, kind, metadata: meta, spec, raw: value, origin });
}

function emptyMeta(): ObjectMeta {
  return { name: "", namespace: "", generation: 1, creationTimestamp: "", labels: {}, annotations: {} };
}

function readList(c: Collector, list: Obj, origin: Origin): void {
  const items = list.items;
  if (items === undefined || items === null) return;
  if (!Array.isArray(items)) {
    c.issues.push({
      severity: "error",
      origin,
      ref: { kind: "List" },
      path: "items",
      message: "Invalid value: must be of type array",
    });
    return;
  }
  items.forEach((it, i) => {
    readObject(c, it, { ...origin, item: i });
  });
}

/**
 * Reads a `.json` file with a strict JSON parser, as kubectl does for JSON input: YAML would accept
 * trailing commas and comments that JSON tools reject.
 */
function readJson(c: Collector, text: string, file: string): void {
  // A byte order mark is common in files saved by Windows editors; JSON.parse refuses it.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.trim() === "") return;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (e: unknown) {
    const found = findJsonError(text);
    const origin: Origin = { file, index: 0 };
    if (found !== undefined) {
      const lc = new LineCounter();
      lc.addNewLine(0);
      for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) lc.addNewLine(i + 1);
      const pos = lc.linePos(found.offset);
      Object.assign(origin, { line: pos.line, column: pos.col });
    }
    c.fatal.push({
      severity: "error",
      origin,
      path: "",
      code: GW_ERR_PARSE,
      message: `JSON syntax error: ${found?.reason ?? messageOf(e)}`,
    });
    return;
  }
  readObject(c, value, { file, index: 0, line: 1 });
}

/** Reads a whole text into the collector: JSON for `.json` files, otherwise multi-document YAML. */
function readText(c: Collector, text: string, file: string): void {
  if (extname(file).toLowerCase() === ".json") {
    readJson(c, text, file);
    return;
  }
  const lc = new LineCounter();
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    // `merge`: Kubernetes' YAML reader honours `<<` merge keys, so manifests may use them.
    docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, merge: true });
  } catch (e: unknown) {
    c.fatal.push({
      severity: "error",
      origin: { file, index: 0 },
      path: "",
      code: GW_ERR_PARSE,
      message: `cannot parse: ${messageOf(e)}`,
    });
    return;
  }
  // An empty stream parses to a special object without documents.
  if (!Array.isArray(docs)) return;
  docs.forEach((doc, index) => {
    // The line of the object itself, not of the `---` before it.
    const start = lc.linePos(doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0);
    const origin: Origin = { file, index, line: start.line };
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const pos = lc.linePos(err.pos[0]);
        c.fatal.push({
          severity: "error",
          origin: { file, index, line: pos.line, column: pos.col },
          path: "",
          code: GW_ERR_PARSE,
          message: `syntax error: ${firstLine(err.message)}`,
        });
      }
      return;
    }
    let value: unknown;
    try {
      // The alias cap defends against "billion laughs" expansion.
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e: unknown) {
      c.fatal.push({
        severity: "error",
        origin,
        path: "",
        code: GW_ERR_PARSE,
        message: `cannot read document: ${messageOf(e)}`,
      });
      return;
    }
    // Empty documents (a trailing `---`, comments only) hold nothing.
    if (value === null || value === undefined) return;
    readObject(c, value, origin);
  });
}

function firstLine(s: string): string {
  const text = s.split("\n")[0] ?? s;
  // The parser appends its own position; the origin carries it already.
  return text.replace(/ at line \d+, column \d+:?$/, "");
}

function messageOf(e: unknown): string {
  return e instanceof Error ? firstLine(e.message) : String(e);
}

/**
 * Parses one text (multi-document YAML, or JSON), pure. `kind: List` documents are expanded. `file` names
 * the source in issues.
 */
export function parseText(text: string, file: string): LoadResult {
  const c = new Collector();
  try {
    readText(c, text, file);
  } catch (e: unknown) {
    // Unreachable by design; a bug here must still not take user input down with a stack trace.
    c.fatal.push({
      severity: "error",
      origin: { file, index: 0 },
      path: "",
      code: GW_ERR_PARSE,
      message: `internal error while reading: ${messageOf(e)}`,
    });
  }
  return c.result();
}

/**
 * Reads objects already decoded (from an API server): each as one document, with its own origin. Pure;
 * never throws.
 */
export function parseObjects(items: readonly { value: unknown; origin: Origin }[]): LoadResult {
  const c = new Collector();
  for (const it of items) {
    try {
      readObject(c, it.value, it.origin);
    } catch (e: unknown) {
      c.issues.push({
        severity: "error",
        origin: it.origin,
        path: "",
        message: `internal error while reading: ${messageOf(e)}`,
      });
    }
  }
  return c.result();
}

/**
 * Loads files and folders (folders recursively: `*.yaml`, `*.yml`, `*.json`, sorted), merged into one
 * result. A file named twice is read once. Never rejects: unreadable paths become `fatal` issues.
 */
export async function loadPaths(paths: string[]): Promise<LoadResult> {
  const c = new Collector();
  const listed = await listManifestFiles(paths);
  c.fatal.push(...listed.fatal);
  c.issues.push(...listed.notes);
  const read = new Set<string>();
  for (const f of listed.files) {
    let real = f;
    try {
      real = await realpath(f);
    } catch {
      // Reported by readFile below.
    }
    if (read.has(real)) continue;
    read.add(real);
    let text: string;
    try {
      text = await readFile(f, "utf8");
    } catch (e: unknown) {
      c.fatal.push(readIssue(f, e));
      continue;
    }
    try {
      readText(c, text, f);
    } catch (e: unknown) {
      c.fatal.push({
        severity: "error",
        origin: { file: f, index: 0 },
        path: "",
        code: GW_ERR_PARSE,
        message: `internal error while reading: ${messageOf(e)}`,
      });
    }
  }
  return c.result();
}
