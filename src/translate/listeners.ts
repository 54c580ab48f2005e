/**
 * Listener status: supported kinds, TLS certificates, conflicts, and the Accepted / ResolvedRefs /
 * Programmed / Conflicted conditions (reference sections 3.2 and 3.3).
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import {
  type Condition,
  GATEWAY_GROUP,
  type Gateway,
  type Listener,
  type RouteGroupKind,
} from "../api/types.js";
import type { IrTls } from "../ir/routing-table.js";
import { type Indexes, referenceGranted } from "./context.js";
import { intersectHostname } from "./hostnames.js";
import type { GatewayProfile, ProfileContext } from "./profile.js";
import { condition } from "./status/conditions.js";
import {
  CondAccepted,
  CondConflicted,
  CondOverlappingTLSConfig,
  CondProgrammed,
  CondResolvedRefs,
  ListenerReason,
} from "./status/reasons.js";

/** A listener after evaluation, before routes attach. */
export interface ListenerState {
  readonly listener: Listener;
  readonly index: number;
  /** Kinds the listener supports (its status `supportedKinds`). */
  readonly supportedKinds: RouteGroupKind[];
  /** GRPCRoute is among the supported kinds. */
  readonly allowsGrpcRoute: boolean;
  /** Why GRPCRoute is not allowed (for NotAllowedByListeners messages). */
  readonly kindProblem?: string;
  readonly accepted: boolean;
  readonly conflicted: boolean;
  /** Certificates from valid certificateRefs (HTTPS). */
  readonly certificates: IrTls["certificates"];
  /** HTTPS listener served with a generated certificate (profile hook). */
  readonly generateTls: boolean;
  /** Whether the data plane serves this listener. */
  readonly programmed: boolean;
  /** Accepted, Programmed, ResolvedRefs, Conflicted. */
  readonly conditions: Condition[];
}

interface CertResult {
  certificates: IrTls["certificates"];
  problems: { reason: string; message: string }[];
}

/** Resolves an HTTPS listener's certificateRefs to PEM pairs (InvalidCertificateRef / RefNotPermitted). */
function resolveCertificates(idx: Indexes, gateway: Gateway, listener: Listener): CertResult {
  const out: CertResult = { certificates: [], problems: [] };
  const gwNs = gateway.metadata.namespace;
  (listener.tls?.certificateRefs ?? []).forEach((ref, i) => {
    const ns = ref.namespace ?? gwNs;
    const where = `tls.certificateRefs[${i}] (${ref.kind} ${ns}/${ref.name})`;
    if (ref.group !== "" || ref.kind !== "Secret") {
      out.problems.push({
        reason: ListenerReason.InvalidCertificateRef,
        message: `${where}: only core Secrets are supported`,
      });
      return;
    }
    if (ns !== gwNs) {
      const ok = referenceGranted(
        idx,
        { group: GATEWAY_GROUP, kind: "Gateway", namespace: gwNs },
        { group: "", kind: "Secret", namespace: ns, name: ref.name },
      );
      if (!ok) {
        out.problems.push({
          reason: ListenerReason.RefNotPermitted,
          message: `${where}: no ReferenceGrant in ${ns} allows Gateways from ${gwNs}`,
        });
        return;
      }
    }
    const secret = idx.secrets.get(`${ns}/${ref.name}`);
    if (secret === undefined) {
      out.problems.push({ reason: ListenerReason.InvalidCertificateRef, message: `${where}: not found` });
      return;
    }
    if (secret.spec.type !== "kubernetes.io/tls") {
      out.problems.push({
        reason: ListenerReason.InvalidCertificateRef,
        message: `${where}: type is "${secret.spec.type}", want kubernetes.io/tls`,
      });
      return;
    }
    const certPem = secret.spec.data["tls.crt"] ?? "";
    const keyPem = secret.spec.data["tls.key"] ?? "";
    const bad = pemProblem(certPem, keyPem);
    if (bad !== undefined) {
      out.problems.push({ reason: ListenerReason.InvalidCertificateRef, message: `${where}: ${bad}` });
      return;
    }
    out.certificates.push({ certPem, keyPem, source: `secret/${ns}/${ref.name}` });
  });
  return out;
}

/** Parses the pair (pure computation, no I/O) so a malformed Secret is reported, not served. */
function pemProblem(certPem: string, keyPem: string): string | undefined {
  if (certPem === "") return "tls.crt is missing";
  if (keyPem === "") return "tls.key is missing";
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return "tls.crt is not a PEM certificate";
  }
  try {
    const key = createPrivateKey(keyPem);
    if (!cert.checkPrivateKey(key)) return "tls.key does not match tls.crt";
  } catch {
    return "tls.key is not a PEM private key";
  }
  return undefined;
}

function kindName(k: RouteGroupKind): string {
  return k.group === "" ? k.kind : `${k.kind} (${k.group})`;
}

/** A listener of some Gateway we serve, for conflict detection across Gateways. */
export interface ServedListener {
  gateway: string;
  listener: Listener;
  index: number;
}

/** Key of a listener in the conflict map: `namespace/gateway#index`. */
export function listenerKey(gateway: string, index: number): string {
  return `${gateway}#${index}`;
}

/**
 * Finds listeners that cannot be told apart (reference 3.3, "Listener distinctness"): on one port, a
 * different protocol is a ProtocolConflict; the same protocol and the same hostname (none counts as one
 * hostname) is a HostnameConflict. grpcroute binds one server per port for every Gateway it serves, so
 * listeners of different Gateways are compared too. Returns the conflict per `listenerKey`.
 */
export function findConflicts(
  all: readonly ServedListener[],
): Map<string, { reason: string; message: string }> {
  const out = new Map<string, { reason: string; message: string }>();
  const describe = (x: ServedListener, self: ServedListener): string =>
    x.gateway === self.gateway
      ? `listener "${x.listener.name}"`
      : `listener "${x.listener.name}" of Gateway ${x.gateway}`;
  for (const a of all) {
    const ka = listenerKey(a.gateway, a.index);
    for (const b of all) {
      if (out.has(ka)) break;
      if ((a.gateway === b.gateway && a.index === b.index) || a.listener.port !== b.listener.port) continue;
      if (a.listener.protocol !== b.listener.protocol) {
        out.set(ka, {
          reason: ListenerReason.ProtocolConflict,
          message: `${describe(b, a)} uses port ${a.listener.port} with protocol ${b.listener.protocol}`,
        });
      } else if ((a.listener.hostname ?? "") === (b.listener.hostname ?? "")) {
        out.set(ka, {
          reason: ListenerReason.HostnameConflict,
          message: `${describe(b, a)} uses port ${a.listener.port}, protocol ${a.listener.protocol} and the same hostname ${a.listener.hostname ?? "(none)"}`,
        });
      }
    }
  }
  return out;
}

/** Whether two listener hostnames (undefined: any host) can both match one name. */
function hostnamesOverlap(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || a === "" || b === undefined || b === "") return true;
  return intersectHostname(a, b) !== undefined;
}

/**
 * Finds HTTPS listeners on one port whose hostnames overlap (`*.example.com` and `a.example.com`, or a
 * listener without hostname): HTTP/2 clients may reuse one TLS connection for both names, so a call can
 * reach the other listener's certificate and routes. Reported as OverlappingTLSConfig=True /
 * OverlappingHostnames (reference 3.2); it does not stop the listener. Conflicting listeners are skipped.
 */
export function findTlsOverlaps(
  all: readonly ServedListener[],
  conflictMap: ReadonlyMap<string, unknown>,
): Map<string, string> {
  const out = new Map<string, string>();
  const https = all.filter(
    (x) => x.listener.protocol === "HTTPS" && !conflictMap.has(listenerKey(x.gateway, x.index)),
  );
  for (const a of https) {
    const names: string[] = [];
    for (const b of https) {
      if ((a.gateway === b.gateway && a.index === b.index) || a.listener.port !== b.listener.port) continue;
      if (!hostnamesOverlap(a.listener.hostname, b.listener.hostname)) continue;
      const who =
        a.gateway === b.gateway ? `"${b.listener.name}"` : `"${b.listener.name}" of Gateway ${b.gateway}`;
      names.push(`${who} (${b.listener.hostname ?? "any host"})`);
    }
    if (names.length > 0) {
      out.set(
        listenerKey(a.gateway, a.index),
        `hostname ${a.listener.hostname ?? "(any host)"} overlaps HTTPS listener(s) ${names.join(", ")} on port ${a.listener.port}`,
      );
    }
  }
  return out;
}

/** Evaluates every listener of a Gateway for its profile. */
export function evaluateListeners(
  idx: Indexes,
  gateway: Gateway,
  profile: GatewayProfile,
  ctx: ProfileContext,
  conflictMap: ReadonlyMap<string, { reason: string; message: string }>,
  tlsOverlaps: ReadonlyMap<string, string>,
  gatewayProblem?: string,
): ListenerState[] {
  const gen = gateway.metadata.generation;
  const gwKey = `${gateway.metadata.namespace}/${gateway.metadata.name}`;
  return gateway.spec.listeners.map((listener, index) => {
    const conditions: Condition[] = [];
    const refProblems: { reason: string; message: string }[] = [];
    let acceptedProblem: { reason: string; message: string } | undefined;
    const httpLike = listener.protocol === "HTTP" || listener.protocol === "HTTPS";
    if (!httpLike) {
      acceptedProblem = {
        reason: ListenerReason.UnsupportedProtocol,
        message: `protocol ${listener.protocol} is not supported; grpcroute serves HTTP (h2c) and HTTPS (h2) listeners`,
      };
    }

    // Route kinds: listed kinds are kept when the profile supports them on this protocol.
    let supportedKinds: RouteGroupKind[];
    let kindProblem: string | undefined;
    const listed = listener.allowedRoutes.kinds;
    if (listed !== undefined && listed.length > 0) {
      supportedKinds = [];
      const invalid: string[] = [];
      for (const k of listed) {
        if (profile.routeKindAllowed(listener.protocol, k, ctx))
          supportedKinds.push({ group: k.group, kind: k.kind });
        else invalid.push(kindName(k));
      }
      if (invalid.length > 0) {
        refProblems.push({
          reason: ListenerReason.InvalidRouteKinds,
          message: `route kinds not supported on this ${listener.protocol} listener: ${invalid.join(", ")}`,
        });
      }
      if (!supportedKinds.some((k) => k.group === GATEWAY_GROUP && k.kind === "GRPCRoute")) {
        kindProblem = listed.some((k) => k.kind === "GRPCRoute")
          ? `GRPCRoute is not supported on this ${listener.protocol} listener`
          : "allowedRoutes.kinds does not include GRPCRoute";
      }
    } else {
      supportedKinds = profile.defaultRouteKinds(listener.protocol, ctx);
      if (!supportedKinds.some((k) => k.group === GATEWAY_GROUP && k.kind === "GRPCRoute")) {
        kindProblem = `protocol ${listener.protocol} does not carry GRPCRoute`;
      }
    }
    const allowsGrpcRoute = kindProblem === undefined;

    // TLS.
    let certificates: IrTls["certificates"] = [];
    let generateTls = false;
    let tlsUsable = true;
    if (listener.protocol === "HTTPS" && acceptedProblem === undefined) {
      if (listener.tls?.mode === "Passthrough") {
        acceptedProblem = {
          reason: ListenerReason.UnsupportedValue,
          message: "tls.mode Passthrough is not supported on an HTTPS listener (TLS is terminated here)",
        };
      } else if ((listener.tls?.certificateRefs ?? []).length === 0) {
        if (profile.missingCertificates(listener, ctx) === "generate") {
          generateTls = true;
        } else {
          tlsUsable = false;
          refProblems.push({
            reason: ListenerReason.InvalidCertificateRef,
            message: "an HTTPS listener needs tls.certificateRefs",
          });
        }
      } else {
        const r = resolveCertificates(idx, gateway, listener);
        certificates = r.certificates;
        refProblems.push(...r.problems);
        tlsUsable = certificates.length > 0;
      }
    }

    const conflict = conflictMap.get(listenerKey(gwKey, index));
    const accepted = acceptedProblem === undefined;
    conditions.push(
      accepted
        ? condition(CondAccepted, "True", ListenerReason.Accepted, "Listener is accepted", gen)
        : condition(CondAccepted, "False", acceptedProblem!.reason, acceptedProblem!.message, gen),
    );

    let notProgrammed: string | undefined;
    if (gatewayProblem !== undefined) notProgrammed = gatewayProblem;
    else if (!accepted) notProgrammed = "the listener is not accepted";
    else if (conflict !== undefined) notProgrammed = "the listener conflicts with another listener";
    else if (!tlsUsable) notProgrammed = "the listener has no usable certificate";
    else if (supportedKinds.length === 0) notProgrammed = "the listener supports no route kind";
    const programmed = notProgrammed === undefined;
    conditions.push(
      programmed
        ? condition(CondProgrammed, "True", ListenerReason.Programmed, "Listener is programmed", gen)
        : condition(CondProgrammed, "False", ListenerReason.Invalid, `Not programmed: ${notProgrammed}`, gen),
    );

    const first = refProblems[0];
    conditions.push(
      first === undefined
        ? condition(CondResolvedRefs, "True", ListenerReason.ResolvedRefs, "All references resolved", gen)
        : condition(
            CondResolvedRefs,
            "False",
            first.reason,
            refProblems.map((p) => p.message).join("; "),
            gen,
          ),
    );
    conditions.push(
      conflict === undefined
        ? condition(CondConflicted, "False", ListenerReason.NoConflicts, "No conflicts", gen)
        : condition(CondConflicted, "True", conflict.reason, conflict.message, gen),
    );

    const overlap = tlsOverlaps.get(listenerKey(gwKey, index));
    if (overlap !== undefined) {
      conditions.push(
        condition(CondOverlappingTLSConfig, "True", ListenerReason.OverlappingHostnames, overlap, gen),
      );
    }

    const state: ListenerState = {
      listener,
      index,
      supportedKinds,
      allowsGrpcRoute,
      accepted,
      conflicted: conflict !== undefined,
      certificates,
      generateTls,
      programmed,
      conditions,
      ...(kindProblem === undefined ? {} : { kindProblem }),
    };
    return state;
  });
}
