/**
 * BackendTLSPolicy (gateway.networking.k8s.io/v1, also served as v1alpha3 with the same shape): the standard
 * CRD's structural rules and its CEL rules, with their messages quoted exactly. Whether the targets and the
 * CA certificate references resolve is the translator's business (the policy's status).
 */
import type { BackendTLSPolicySpec, SubjectAltName } from "../types.js";
import {
  noteUnknown,
  type Obj,
  PATTERNS,
  pattern,
  type Reader,
  readObj,
  readObjList,
  readStr,
  readStrMap,
} from "./reader.js";
import { readPolicyTargetRefs } from "./refs.js";

/** Limits of the BackendTLSPolicy CRD. */
export const BACKEND_TLS_POLICY_LIMITS = {
  caCertificateRefs: 8,
  subjectAltNames: 5,
  options: 16,
} as const;

/** `PreciseHostname`: a DNS name without wildcard. */
const PRECISE_HOSTNAME = pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
/** `AbsoluteURI`: a scheme and a scheme-specific part (a SPIFFE ID, for example). */
const ABSOLUTE_URI = pattern("^(([^:/?#]+):)(//([^/?#]*))([^?#]*)(\\?([^#]*))?(#(.*))?");

export function readBackendTLSPolicySpec(r: Reader, o: Obj): BackendTLSPolicySpec {
  const spec = readObj(r, o, "spec", "", { required: true }) ?? {};
  noteUnknown(r, spec, "spec", ["targetRefs", "validation", "options"]);
  const targetRefs = readPolicyTargetRefs(r, spec, "spec");
  const v = readObj(r, spec, "validation", "spec", { required: true }) ?? {};
  const vp = "spec.validation";
  noteUnknown(r, v, vp, ["caCertificateRefs", "wellKnownCACertificates", "hostname", "subjectAltNames"]);
  const caCertificateRefs = readObjList(r, v, "caCertificateRefs", vp, {
    max: BACKEND_TLS_POLICY_LIMITS.caCertificateRefs,
  }).map(({ obj, path }) => {
    noteUnknown(r, obj, path, ["group", "kind", "name"]);
    return {
      group: readStr(r, obj, "group", path, { required: true, max: 253, pattern: PATTERNS.group }) ?? "",
      kind: readStr(r, obj, "kind", path, { required: true, min: 1, max: 63, pattern: PATTERNS.kind }) ?? "",
      name: readStr(r, obj, "name", path, { required: true, min: 1, max: 253 }) ?? "",
    };
  });
  const wellKnown = readStr(r, v, "wellKnownCACertificates", vp, { oneOf: ["System"] });
  const hasRefs = Array.isArray(v.caCertificateRefs) && v.caCertificateRefs.length > 0;
  const hasWellKnown = typeof v.wellKnownCACertificates === "string" && v.wellKnownCACertificates !== "";
  if (hasRefs && hasWellKnown) {
    r.fail(vp, "Invalid value: object: must not contain both CACertificateRefs and WellKnownCACertificates");
  }
  if (!hasRefs && !hasWellKnown) {
    r.fail(vp, "Invalid value: object: must specify either CACertificateRefs or WellKnownCACertificates");
  }
  const hostname =
    readStr(r, v, "hostname", vp, { required: true, min: 1, max: 253, pattern: PRECISE_HOSTNAME }) ?? "";
  const subjectAltNames = readObjList(r, v, "subjectAltNames", vp, {
    max: BACKEND_TLS_POLICY_LIMITS.subjectAltNames,
  }).map(({ obj, path }) => readSubjectAltName(r, obj, path));
  const out: BackendTLSPolicySpec = {
    targetRefs,
    validation: { caCertificateRefs, hostname, subjectAltNames },
    options: readStrMap(r, spec, "options", "spec", { maxEntries: BACKEND_TLS_POLICY_LIMITS.options }),
  };
  if (wellKnown === "System") out.validation.wellKnownCACertificates = "System";
  return out;
}

function readSubjectAltName(r: Reader, o: Obj, path: string): SubjectAltName {
  noteUnknown(r, o, path, ["type", "hostname", "uri"]);
  const type = (readStr(r, o, "type", path, { required: true, oneOf: ["Hostname", "URI"] }) ??
    "Hostname") as SubjectAltName["type"];
  const hostname = readStr(r, o, "hostname", path, { min: 1, max: 253, pattern: PATTERNS.hostname });
  const uri = readStr(r, o, "uri", path, { min: 1, max: 253, pattern: ABSOLUTE_URI });
  const given = (k: string): boolean => typeof o[k] === "string" && o[k] !== "";
  const t = o.type;
  if (t === "Hostname" && !given("hostname")) {
    r.fail(
      path,
      "Invalid value: object: SubjectAltName element must contain Hostname, if Type is set to Hostname",
    );
  }
  if (t !== "Hostname" && given("hostname")) {
    r.fail(
      path,
      "Invalid value: object: SubjectAltName element must not contain Hostname, if Type is not set to Hostname",
    );
  }
  if (t === "URI" && !given("uri")) {
    r.fail(path, "Invalid value: object: SubjectAltName element must contain URI, if Type is set to URI");
  }
  if (t !== "URI" && given("uri")) {
    r.fail(
      path,
      "Invalid value: object: SubjectAltName element must not contain URI, if Type is not set to URI",
    );
  }
  const out: SubjectAltName = { type };
  if (hostname !== undefined) out.hostname = hostname;
  if (uri !== undefined) out.uri = uri;
  return out;
}
