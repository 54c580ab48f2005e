/**
 * GatewayClass and Gateway (gateway.networking.k8s.io/v1): the CRD's structural rules, defaults and CEL
 * rules (messages quoted from the standard CRD).
 */
import { isIP } from "node:net";
import {
  GATEWAY_GROUP,
  type GatewayClassSpec,
  type GatewaySpec,
  type Listener,
  type RouteGroupKind,
} from "../types.js";
import {
  item,
  join,
  noteUnknown,
  type Obj,
  PATTERNS,
  type Reader,
  readInt,
  readObj,
  readObjList,
  readStr,
  readStrMap,
  show,
} from "./reader.js";
import { readLabelSelector, readSecretRef } from "./refs.js";

/** Limits of the Gateway CRD. */
export const GATEWAY_LIMITS = {
  listeners: 64,
  addresses: 16,
  certificateRefs: 64,
  tlsOptions: 16,
  routeKinds: 8,
} as const;

export function readGatewayClassSpec(r: Reader, o: Obj): GatewayClassSpec {
  const spec = readObj(r, o, "spec", "", { required: true }) ?? {};
  noteUnknown(r, spec, "spec", ["controllerName", "description", "parametersRef"]);
  const out: GatewayClassSpec = {
    controllerName:
      readStr(r, spec, "controllerName", "spec", {
        required: true,
        min: 1,
        max: 253,
        pattern: PATTERNS.controllerName,
      }) ?? "",
  };
  const description = readStr(r, spec, "description", "spec", { max: 64 });
  if (description !== undefined) out.description = description;
  return out;
}

export function readGatewaySpec(r: Reader, o: Obj): GatewaySpec {
  const spec = readObj(r, o, "spec", "", { required: true }) ?? {};
  noteUnknown(r, spec, "spec", [
    "gatewayClassName",
    "listeners",
    "addresses",
    "infrastructure",
    "backendTLS",
    "allowedListeners",
    "tls",
    "defaultScope",
  ]);
  const gatewayClassName =
    readStr(r, spec, "gatewayClassName", "spec", { required: true, min: 1, max: 253 }) ?? "";
  const listeners: Listener[] = [];
  const items = readObjList(r, spec, "listeners", "spec", {
    required: true,
    min: 1,
    max: GATEWAY_LIMITS.listeners,
  });
  for (const { obj, path } of items) listeners.push(readListener(r, obj, path));
  checkListenerRules(r, listeners, items.length === listeners.length);
  const out: GatewaySpec = { gatewayClassName, listeners };
  const addrItems = readObjList(r, spec, "addresses", "spec", { max: GATEWAY_LIMITS.addresses });
  if (addrItems.length > 0) out.addresses = readAddresses(r, addrItems);
  return out;
}

/**
 * `spec.addresses`: type defaults to IPAddress; an IPAddress must be an IP and a Hostname a host name, and
 * neither may repeat. The value may be empty (the implementation then picks one: GatewayAddressEmpty).
 */
function readAddresses(r: Reader, items: { obj: Obj; path: string }[]): { type?: string; value: string }[] {
  const seen = new Set<string>();
  let dupIp = false;
  let dupHost = false;
  const out = items.map(({ obj, path }) => {
    const type =
      readStr(r, obj, "type", path, {
        min: 1,
        max: 253,
        pattern: PATTERNS.addressType,
        default: "IPAddress",
      }) ?? "IPAddress";
    const value = readStr(r, obj, "value", path, { max: 253, default: "" }) ?? "";
    if (value !== "" && type === "IPAddress" && isIP(value) === 0) {
      r.fail(path, `Invalid value: ${show(value)}: IPAddress value must be an IP address`);
    }
    if (value !== "" && type === "Hostname" && !PATTERNS.hostname.re.test(value)) {
      r.fail(
        path,
        `Invalid value: ${show(value)}: Hostname value must only contain valid characters (matching ${PATTERNS.hostname.source})`,
      );
    }
    const key = `${type}\u0000${value}`;
    if (value !== "" && seen.has(key)) {
      if (type === "IPAddress") dupIp = true;
      if (type === "Hostname") dupHost = true;
    }
    seen.add(key);
    return { type, value };
  });
  if (dupIp) r.fail("spec.addresses", "Invalid value: array: IPAddress values must be unique");
  if (dupHost) r.fail("spec.addresses", "Invalid value: array: Hostname values must be unique");
  return out;
}

function readListener(r: Reader, o: Obj, path: string): Listener {
  noteUnknown(r, o, path, ["name", "hostname", "port", "protocol", "tls", "allowedRoutes"]);
  const listener: Listener = {
    name:
      readStr(r, o, "name", path, { required: true, min: 1, max: 253, pattern: PATTERNS.sectionName }) ?? "",
    port: readInt(r, o, "port", path, { required: true, min: 1, max: 65535 }) ?? 0,
    protocol:
      readStr(r, o, "protocol", path, { required: true, min: 1, max: 255, pattern: PATTERNS.protocol }) ?? "",
    allowedRoutes: { namespaces: { from: "Same" } },
  };
  const hostname = readStr(r, o, "hostname", path, { min: 1, max: 253, pattern: PATTERNS.hostname });
  if (hostname !== undefined) listener.hostname = hostname;

  const tls = readObj(r, o, "tls", path);
  if (tls !== undefined) {
    const tp = join(path, "tls");
    noteUnknown(r, tls, tp, ["mode", "certificateRefs", "options", "frontendValidation"]);
    const mode = readStr(r, tls, "mode", tp, { oneOf: ["Terminate", "Passthrough"], default: "Terminate" }) as
      | "Terminate"
      | "Passthrough"
      | undefined;
    const certificateRefs = readObjList(r, tls, "certificateRefs", tp, {
      max: GATEWAY_LIMITS.certificateRefs,
    }).map(({ obj, path: p }) => readSecretRef(r, obj, p));
    const options = readStrMap(r, tls, "options", tp, { maxEntries: GATEWAY_LIMITS.tlsOptions });
    if (
      (mode ?? "Terminate") === "Terminate" &&
      certificateRefs.length === 0 &&
      Object.keys(options).length === 0
    ) {
      r.fail(
        tp,
        "Invalid value: object: certificateRefs or options must be specified when mode is Terminate",
      );
    }
    listener.tls = { mode: mode ?? "Terminate", certificateRefs };
    if (Object.keys(options).length > 0) listener.tls.options = options;
  }

  const ar = readObj(r, o, "allowedRoutes", path);
  if (ar !== undefined) {
    const ap = join(path, "allowedRoutes");
    noteUnknown(r, ar, ap, ["namespaces", "kinds"]);
    const ns = readObj(r, ar, "namespaces", ap);
    if (ns !== undefined) {
      const np = join(ap, "namespaces");
      noteUnknown(r, ns, np, ["from", "selector"]);
      const from = (readStr(r, ns, "from", np, { oneOf: ["All", "Selector", "Same"], default: "Same" }) ??
        "Same") as "All" | "Selector" | "Same";
      listener.allowedRoutes.namespaces = { from };
      const sel = readObj(r, ns, "selector", np);
      if (sel !== undefined)
        listener.allowedRoutes.namespaces.selector = readLabelSelector(r, sel, join(np, "selector"));
    }
    if (ar.kinds !== undefined && ar.kinds !== null) {
      const kinds: RouteGroupKind[] = readObjList(r, ar, "kinds", ap, { max: GATEWAY_LIMITS.routeKinds }).map(
        ({ obj, path: p }) => ({
          group:
            readStr(r, obj, "group", p, { max: 253, pattern: PATTERNS.group, default: GATEWAY_GROUP }) ?? "",
          kind: readStr(r, obj, "kind", p, { required: true, min: 1, max: 63, pattern: PATTERNS.kind }) ?? "",
        }),
      );
      listener.allowedRoutes.kinds = kinds;
    }
  }
  return listener;
}

/** The CEL rules on `spec.listeners` (messages as in the standard CRD). */
function checkListenerRules(r: Reader, listeners: Listener[], complete: boolean): void {
  const p = "spec.listeners";
  listeners.forEach((l, i) => {
    if (l.tls !== undefined && ["HTTP", "TCP", "UDP"].includes(l.protocol)) {
      r.fail(
        item(p, i),
        "Invalid value: object: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']",
      );
    }
    if (l.protocol === "HTTPS" && l.tls !== undefined && l.tls.mode !== "Terminate") {
      r.fail(item(p, i), "Invalid value: object: tls mode must be Terminate for protocol HTTPS");
    }
    if (l.hostname !== undefined && ["TCP", "UDP"].includes(l.protocol)) {
      r.fail(
        item(p, i),
        "Invalid value: object: hostname must not be specified for protocols ['TCP', 'UDP']",
      );
    }
  });
  // The uniqueness rules compare whole listeners; with unreadable items the comparison would be noise.
  if (!complete) return;
  const names = new Set<string>();
  const combos = new Set<string>();
  let nameDup = false;
  let comboDup = false;
  for (const l of listeners) {
    if (names.has(l.name)) nameDup = true;
    names.add(l.name);
    const combo = `${l.port}\u0000${l.protocol}\u0000${l.hostname ?? ""}`;
    if (combos.has(combo)) comboDup = true;
    combos.add(combo);
  }
  if (nameDup) r.fail(p, "Invalid value: array: Listener name must be unique within the Gateway");
  if (comboDup) {
    r.fail(
      p,
      "Invalid value: array: Combination of port, protocol and hostname must be unique for each listener",
    );
  }
}
