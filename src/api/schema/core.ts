/**
 * Core objects grpcroute reads (Service, EndpointSlice, Secret, Namespace) and ReferenceGrant: the fields
 * grpcroute uses, with the checks and defaults the API server applies to them.
 */
import { isIPv4, isIPv6 } from "node:net";
import type {
  ConfigMapSpec,
  Endpoint,
  EndpointSlicePort,
  EndpointSliceSpec,
  ReferenceGrantSpec,
  SecretSpec,
  ServicePort,
  ServiceSpec,
} from "../types.js";
import {
  checkInt,
  checkStr,
  item,
  join,
  noteUnknown,
  type Obj,
  PATTERNS,
  type Reader,
  readBool,
  readInt,
  readList,
  readObj,
  readObjList,
  readStr,
  show,
} from "./reader.js";

const SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] as const;
const PROTOCOLS = ["TCP", "UDP", "SCTP"] as const;

export function readServiceSpec(r: Reader, o: Obj): ServiceSpec {
  const spec = readObj(r, o, "spec", "") ?? {};
  const type = (readStr(r, spec, "type", "spec", { oneOf: SERVICE_TYPES, default: "ClusterIP" }) ??
    "ClusterIP") as ServiceSpec["type"];
  const ports: ServicePort[] = [];
  const items = readObjList(r, spec, "ports", "spec");
  const names = new Set<string>();
  for (const { obj, path } of items) {
    const port: ServicePort = {
      name: readStr(r, obj, "name", path, { max: 63, pattern: PATTERNS.dnsLabel, default: "" }) ?? "",
      port: readInt(r, obj, "port", path, { required: true, min: 1, max: 65535 }) ?? 0,
      protocol: readStr(r, obj, "protocol", path, { oneOf: PROTOCOLS, default: "TCP" }) ?? "TCP",
    };
    // The API server requires names once a Service has several ports, and they must differ.
    if (items.length > 1 && port.name === "") r.fail(join(path, "name"), "Required value");
    if (port.name !== "" && names.has(port.name))
      r.fail(join(path, "name"), `Duplicate value: ${show(port.name)}`);
    names.add(port.name);
    const tp = obj.targetPort;
    if (typeof tp === "number") {
      const n = checkInt(r, tp, join(path, "targetPort"), { min: 1, max: 65535 });
      if (n !== undefined) port.targetPort = n;
    } else if (typeof tp === "string") {
      if (checkStr(r, tp, join(path, "targetPort"), { min: 1, max: 15, pattern: PATTERNS.ianaSvcName })) {
        port.targetPort = tp;
      }
    } else if (tp !== undefined && tp !== null) {
      r.fail(join(path, "targetPort"), `Invalid value: ${show(tp)}: must be an integer or a string`);
    }
    const ap = readStr(r, obj, "appProtocol", path);
    if (ap !== undefined) port.appProtocol = ap;
    ports.push(port);
  }
  const out: ServiceSpec = { type, ports };
  const clusterIP = readStr(r, spec, "clusterIP", "spec");
  if (clusterIP !== undefined) out.clusterIP = clusterIP;
  if (type === "ExternalName") {
    const en = readStr(r, spec, "externalName", "spec", {
      required: true,
      min: 1,
      max: 253,
      pattern: PATTERNS.dnsSubdomain,
    });
    if (en !== undefined) out.externalName = en;
  } else if (ports.length === 0 && clusterIP !== "None") {
    // Only headless Services may omit ports.
    r.fail("spec.ports", "Required value");
  }
  const families: string[] = [];
  readList(r, spec, "ipFamilies", "spec", { max: 2 }).forEach((v, i) => {
    if (typeof v === "string" && checkStr(r, v, item("spec.ipFamilies", i), { oneOf: ["IPv4", "IPv6"] })) {
      families.push(v);
    } else if (typeof v !== "string") {
      r.fail(item("spec.ipFamilies", i), `Invalid value: ${show(v)}: must be of type string`);
    }
  });
  if (families.length > 0) out.ipFamilies = families;
  return out;
}

/** Label naming an EndpointSlice's Service. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

const ADDRESS_TYPES = ["IPv4", "IPv6", "FQDN"] as const;

/** EndpointSlice has no `spec`: its top-level fields are read from the object itself. */
export function readEndpointSliceSpec(r: Reader, o: Obj, labels: Record<string, string>): EndpointSliceSpec {
  const serviceName = labels[SERVICE_NAME_LABEL];
  if (serviceName === undefined || serviceName === "") {
    r.fail(
      `metadata.labels[${SERVICE_NAME_LABEL}]`,
      "Required value: grpcroute finds a slice's Service by this label",
    );
  }
  const addressType = (readStr(r, o, "addressType", "", { required: true, oneOf: ADDRESS_TYPES }) ??
    "IPv4") as EndpointSliceSpec["addressType"];
  const endpoints: Endpoint[] = readObjList(r, o, "endpoints", "", { max: 1000 }).map(({ obj, path }) => {
    const addresses: string[] = [];
    const ap = join(path, "addresses");
    readList(r, obj, "addresses", path, { required: true, min: 1, max: 100 }).forEach((v, i) => {
      const p = item(ap, i);
      if (typeof v !== "string") {
        r.fail(p, `Invalid value: ${show(v)}: must be of type string`);
        return;
      }
      const ok =
        addressType === "IPv4"
          ? isIPv4(v)
          : addressType === "IPv6"
            ? isIPv6(v)
            : PATTERNS.dnsSubdomain.re.test(v) && v.length <= 253;
      if (!ok) r.fail(p, `Invalid value: ${show(v)}: must be a valid ${addressType} address`);
      else addresses.push(v);
    });
    const ep: Endpoint = { addresses, conditions: {} };
    const c = readObj(r, obj, "conditions", path);
    if (c !== undefined) {
      const cp = join(path, "conditions");
      for (const k of ["ready", "serving", "terminating"] as const) {
        const b = readBool(r, c, k, cp);
        if (b !== undefined) ep.conditions[k] = b;
      }
    }
    const hostname = readStr(r, obj, "hostname", path, { max: 63, pattern: PATTERNS.dnsLabel });
    if (hostname !== undefined) ep.hostname = hostname;
    const tr = readObj(r, obj, "targetRef", path);
    if (tr !== undefined) {
      const ref: NonNullable<Endpoint["targetRef"]> = {};
      for (const k of ["kind", "name", "namespace"] as const) {
        const s = readStr(r, tr, k, join(path, "targetRef"));
        if (s !== undefined) ref[k] = s;
      }
      ep.targetRef = ref;
    }
    return ep;
  });
  const names = new Set<string>();
  const ports: EndpointSlicePort[] = readObjList(r, o, "ports", "", { max: 100 }).map(({ obj, path }) => {
    const name = readStr(r, obj, "name", path, { max: 63, pattern: PATTERNS.dnsLabel, default: "" }) ?? "";
    if (names.has(name)) r.fail(join(path, "name"), `Duplicate value: ${show(name)}`);
    names.add(name);
    // A slice port without a number means "all ports", which a proxy cannot dial.
    const port = readInt(r, obj, "port", path, { min: 1, max: 65535 });
    if (port === undefined && (obj.port === undefined || obj.port === null)) {
      r.fail(join(path, "port"), "Required value: grpcroute needs the port number to reach the endpoints");
    }
    const p: EndpointSlicePort = {
      name,
      port: port ?? 0,
      protocol: readStr(r, obj, "protocol", path, { oneOf: PROTOCOLS, default: "TCP" }) ?? "TCP",
    };
    const ap = readStr(r, obj, "appProtocol", path);
    if (ap !== undefined) p.appProtocol = ap;
    return p;
  });
  return { serviceName: serviceName ?? "", addressType, endpoints, ports };
}

const TLS_SECRET = "kubernetes.io/tls";
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Secret has no `spec`: `type` and the decoded `data` (base64) merged with `stringData` (which wins, as
 * the API server merges it) are gathered here. Messages name keys, never values.
 */
export function readSecretSpec(r: Reader, o: Obj): SecretSpec {
  const type = readStr(r, o, "type", "", { max: 253, default: "Opaque" }) ?? "Opaque";
  const data: Record<string, string> = {};
  const d = readObj(r, o, "data", "");
  if (d !== undefined) {
    for (const [k, v] of Object.entries(d)) {
      const p = `data[${k}]`;
      if (!checkKey(r, k, p)) continue;
      if (v === null || v === undefined) {
        data[k] = "";
        continue;
      }
      if (typeof v !== "string") {
        r.fail(p, "Invalid value: must be a base64 string");
        continue;
      }
      const compact = v.replace(/[\r\n]/g, "");
      if (compact.length % 4 !== 0 || !BASE64.test(compact)) {
        r.fail(p, "Invalid value: not valid base64 (the value is not shown)");
        continue;
      }
      data[k] = Buffer.from(compact, "base64").toString("utf8");
    }
  }
  const sd = readObj(r, o, "stringData", "");
  if (sd !== undefined) {
    for (const [k, v] of Object.entries(sd)) {
      const p = `stringData[${k}]`;
      if (!checkKey(r, k, p)) continue;
      if (typeof v !== "string") {
        r.fail(p, "Invalid value: must be a string");
        continue;
      }
      data[k] = v;
    }
  }
  if (type === TLS_SECRET) {
    for (const k of ["tls.crt", "tls.key"]) {
      if (!(k in data)) r.fail(`data[${k}]`, `Required value: a ${TLS_SECRET} Secret needs it`);
    }
  }
  return { type, data };
}

/** Total size of a ConfigMap's data the API server accepts (1 MiB). */
export const CONFIGMAP_MAX_BYTES = 1024 * 1024;

/**
 * ConfigMap has no `spec`: `data` (strings) merged with `binaryData` (base64, decoded as UTF-8) are gathered
 * here. Keys follow the Secret key rule; a key may not be in both maps; the whole is at most 1 MiB.
 */
export function readConfigMapSpec(r: Reader, o: Obj): ConfigMapSpec {
  const data: Record<string, string> = {};
  let bytes = 0;
  const d = readObj(r, o, "data", "");
  if (d !== undefined) {
    for (const [k, v] of Object.entries(d)) {
      const p = `data[${k}]`;
      if (!checkKey(r, k, p)) continue;
      if (typeof v !== "string") {
        r.fail(p, `Invalid value: ${show(v)}: must be of type string`);
        continue;
      }
      data[k] = v;
      bytes += k.length + Buffer.byteLength(v);
    }
  }
  const b = readObj(r, o, "binaryData", "");
  if (b !== undefined) {
    for (const [k, v] of Object.entries(b)) {
      const p = `binaryData[${k}]`;
      if (!checkKey(r, k, p)) continue;
      if (k in data) {
        r.fail(p, `Invalid value: ${show(k)}: duplicate of key present in data`);
        continue;
      }
      const compact = typeof v === "string" ? v.replace(/[\r\n]/g, "") : "";
      if (typeof v !== "string" || compact.length % 4 !== 0 || !BASE64.test(compact)) {
        r.fail(p, "Invalid value: must be a base64 string");
        continue;
      }
      const decoded = Buffer.from(compact, "base64");
      data[k] = decoded.toString("utf8");
      bytes += k.length + decoded.length;
    }
  }
  if (bytes > CONFIGMAP_MAX_BYTES) {
    r.fail("data", `Too long: must have at most ${CONFIGMAP_MAX_BYTES} bytes (got ${bytes})`);
  }
  return { data };
}

function checkKey(r: Reader, k: string, p: string): boolean {
  if (k.length > 253 || !PATTERNS.secretKey.re.test(k)) {
    r.fail(p, "Invalid value: a key must be at most 253 characters of alphanumerics, '-', '_' or '.'");
    return false;
  }
  return true;
}

/** ReferenceGrant (v1 and v1beta1 share the schema). */
export function readReferenceGrantSpec(r: Reader, o: Obj): ReferenceGrantSpec {
  const spec = readObj(r, o, "spec", "", { required: true }) ?? {};
  noteUnknown(r, spec, "spec", ["from", "to"]);
  const from = readObjList(r, spec, "from", "spec", { required: true, min: 1, max: 16 }).map(
    ({ obj, path }) => {
      noteUnknown(r, obj, path, ["group", "kind", "namespace"]);
      return {
        group: readStr(r, obj, "group", path, { required: true, max: 253, pattern: PATTERNS.group }) ?? "",
        kind:
          readStr(r, obj, "kind", path, { required: true, min: 1, max: 63, pattern: PATTERNS.kind }) ?? "",
        namespace:
          readStr(r, obj, "namespace", path, {
            required: true,
            min: 1,
            max: 63,
            pattern: PATTERNS.dnsLabel,
          }) ?? "",
      };
    },
  );
  const to = readObjList(r, spec, "to", "spec", { required: true, min: 1, max: 16 }).map(({ obj, path }) => {
    noteUnknown(r, obj, path, ["group", "kind", "name"]);
    const t: ReferenceGrantSpec["to"][number] = {
      group: readStr(r, obj, "group", path, { required: true, max: 253, pattern: PATTERNS.group }) ?? "",
      kind: readStr(r, obj, "kind", path, { required: true, min: 1, max: 63, pattern: PATTERNS.kind }) ?? "",
    };
    const name = readStr(r, obj, "name", path, { min: 1, max: 253 });
    if (name !== undefined) t.name = name;
    return t;
  });
  return { from, to };
}
