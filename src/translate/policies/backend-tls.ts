/**
 * BackendTLSPolicy (Gateway API v1, GEP-1897): TLS with ALPN h2 to the targeted Service ports, trusting the
 * CA certificates of ConfigMaps (`ca.crt`) or the system's store, with `hostname` as SNI and as the name the
 * certificate must carry (or one of `subjectAltNames`).
 *
 * - A target must be a core Service in the policy's namespace (else Accepted=False / Invalid), that exists,
 *   with a port named `sectionName` when one is given (else TargetNotFound).
 * - Two policies at one target (Service, or Service port): the older one (creationTimestamp, then name)
 *   wins; the other is Conflicted. A policy on a port beats one on the whole Service for that port.
 * - A CA reference that is not a ConfigMap is ResolvedRefs=False / InvalidKind; one that is missing, has no
 *   `ca.crt` or no PEM certificate in it is InvalidCACertificateRef. With no valid CA at all the policy is
 *   Accepted=False / NoValidCACertificate and the connections it governs fail (never in cleartext): the
 *   backendRef's share of calls is answered UNAVAILABLE, while the route keeps ResolvedRefs=True (as the
 *   Gateway API's conformance tests expect).
 * - A Service port with `appProtocol: kubernetes.io/h2c` stays cleartext: a policy naming that port is
 *   Accepted=False / Invalid; one on the whole Service leaves that port out and says so.
 */
import { X509Certificate } from "node:crypto";
import type {
  BackendTLSPolicy,
  ConfigMap,
  ObjectKey,
  PolicyStatus,
  ResourceSet,
  Service,
  ServicePort,
} from "../../api/types.js";
import { objectKey } from "../../api/types.js";
import type { IrBackendTls } from "../../ir/routing-table.js";
import { PolicyReason } from "../status/reasons.js";
import { AncestorBook, byPrecedence, gatewayAncestor, type TargetOutcome } from "./ancestors.js";
import type { ServiceUsage } from "./usage.js";
import { splitKey } from "./usage.js";

/** The appProtocol that keeps a port in cleartext whatever policy targets it. */
export const H2C_APP_PROTOCOL = "kubernetes.io/h2c";

interface TargetResult {
  index: number;
  /** `namespace/service`, when the target is a Service that exists. */
  service?: string;
  /** Port number the target names (sectionName), or undefined for the whole Service. */
  port?: number;
  outcome: TargetOutcome;
  /** Set when this target's ancestors are the target itself (not found, not a Service). */
  self?: boolean;
}

interface Resolved {
  policy: BackendTLSPolicy;
  tls: IrBackendTls;
  /** ResolvedRefs problem, if any. */
  refs?: { reason: string; message: string };
  targets: TargetResult[];
}

const WIN_ALL = "";

/** Every BackendTLSPolicy of the input, resolved: what each Service port gets, and the policies' status. */
export class BackendTlsPolicies {
  readonly #resolved: Resolved[] = [];
  /** Winning policy by `namespace/service#portName` (`#` alone: the whole Service). */
  readonly #claims = new Map<string, Resolved>();
  readonly #services: ReadonlyMap<string, Service>;

  constructor(resources: ResourceSet, services: ReadonlyMap<string, Service>) {
    this.#services = services;
    const configMaps = new Map<string, ConfigMap>();
    for (const c of resources.configMaps) configMaps.set(objectKey(c.metadata), c);
    for (const policy of [...resources.backendTLSPolicies].sort(byPrecedence)) {
      this.#resolved.push(this.#resolve(policy, configMaps));
    }
  }

  #resolve(policy: BackendTLSPolicy, configMaps: ReadonlyMap<string, ConfigMap>): Resolved {
    const ns = policy.metadata.namespace;
    const v = policy.spec.validation;
    const tls: IrBackendTls = {
      hostname: v.hostname,
      subjectAltNames: v.subjectAltNames.map((s) => ({
        type: s.type,
        value: (s.type === "URI" ? s.uri : s.hostname) ?? "",
      })),
      source: `BackendTLSPolicy ${ns}/${policy.metadata.name}`,
    };
    const r: Resolved = { policy, tls, targets: [] };
    if (v.wellKnownCACertificates === "System") tls.system = true;
    else {
      const pems: string[] = [];
      const problems: { reason: string; message: string }[] = [];
      v.caCertificateRefs.forEach((ref, j) => {
        const where = `spec.validation.caCertificateRefs[${j}]`;
        if (ref.group !== "" || ref.kind !== "ConfigMap") {
          const gk = ref.group === "" ? ref.kind : `${ref.kind}.${ref.group}`;
          problems.push({
            reason: PolicyReason.InvalidKind,
            message: `${where}: kind ${gk} is not supported (only ConfigMap, with the CA in key ca.crt)`,
          });
          return;
        }
        const cm = configMaps.get(`${ns}/${ref.name}`);
        const pem = cm?.spec.data["ca.crt"];
        const certs = pem === undefined ? [] : certificatesIn(pem);
        const why =
          cm === undefined
            ? `ConfigMap ${ns}/${ref.name} not found`
            : pem === undefined
              ? `ConfigMap ${ns}/${ref.name} has no key ca.crt`
              : certs.length === 0
                ? `ConfigMap ${ns}/${ref.name} key ca.crt holds no PEM certificate`
                : undefined;
        if (why !== undefined) {
          problems.push({ reason: PolicyReason.InvalidCACertificateRef, message: `${where}: ${why}` });
          return;
        }
        pems.push(...certs);
      });
      if (problems.length > 0) {
        r.refs = { reason: problems[0]!.reason, message: problems.map((p) => p.message).join("; ") };
      }
      if (pems.length > 0) tls.caPem = pems.join("\n");
      else tls.invalid = `${tls.source} has no valid CA certificate (${r.refs?.message ?? "none given"})`;
    }
    policy.spec.targetRefs.forEach((t, index) => {
      r.targets.push(this.#target(r, t, index));
    });
    return r;
  }

  #target(r: Resolved, t: BackendTLSPolicy["spec"]["targetRefs"][number], index: number): TargetResult {
    const ns = r.policy.metadata.namespace;
    const where = `spec.targetRefs[${index}]`;
    if (t.group !== "" || t.kind !== "Service") {
      const gk = t.group === "" ? t.kind : `${t.kind}.${t.group}`;
      return {
        index,
        self: true,
        outcome: {
          reason: PolicyReason.Invalid,
          message: `${where}.kind: Unsupported value: "${gk}": supported values: "Service"`,
        },
      };
    }
    const key = `${ns}/${t.name}`;
    const svc = this.#services.get(key);
    if (svc === undefined) {
      return {
        index,
        self: true,
        outcome: { reason: PolicyReason.TargetNotFound, message: `${where}: Service ${key} not found` },
      };
    }
    let port: ServicePort | undefined;
    if (t.sectionName !== undefined) {
      port = svc.spec.ports.find((p) => p.name === t.sectionName);
      if (port === undefined) {
        return {
          index,
          self: true,
          outcome: {
            reason: PolicyReason.TargetNotFound,
            message: `${where}.sectionName: Service ${key} has no port named "${t.sectionName}"`,
          },
        };
      }
      if (port.appProtocol === H2C_APP_PROTOCOL) {
        return {
          index,
          service: key,
          port: port.port,
          outcome: {
            reason: PolicyReason.Invalid,
            message: `${where}.sectionName: port "${port.name}" of Service ${key} has appProtocol ${H2C_APP_PROTOCOL}, which stays cleartext`,
          },
        };
      }
    }
    const claim = `${key}#${t.sectionName ?? WIN_ALL}`;
    const res: TargetResult = { index, service: key, outcome: this.#accepted(r, svc, port) };
    if (port !== undefined) res.port = port.port;
    const winner = this.#claims.get(claim);
    if (winner !== undefined) {
      res.outcome = {
        reason: PolicyReason.Conflicted,
        message: `${where}: ${winner.tls.source} (older) already targets Service ${key}${t.sectionName === undefined ? "" : ` port ${t.sectionName}`}`,
      };
      return res;
    }
    this.#claims.set(claim, r);
    return res;
  }

  #accepted(r: Resolved, svc: Service, port: ServicePort | undefined): TargetOutcome {
    const key = objectKey(svc.metadata);
    if (r.tls.invalid !== undefined) {
      return {
        reason: PolicyReason.NoValidCACertificate,
        message: `no valid CA certificate: calls to Service ${key} fail rather than go in cleartext`,
        ...(r.refs === undefined ? {} : { refs: r.refs }),
      };
    }
    const cleartext =
      port === undefined
        ? svc.spec.ports
            .filter((p) => p.appProtocol === H2C_APP_PROTOCOL)
            .map((p) => p.name || String(p.port))
        : [];
    const msg = [
      `TLS to Service ${key}${port === undefined ? "" : ` port ${port.name}`} (SNI ${r.tls.hostname})`,
    ];
    if (cleartext.length > 0)
      msg.push(`port(s) ${cleartext.join(", ")} keep cleartext (appProtocol ${H2C_APP_PROTOCOL})`);
    return {
      reason: PolicyReason.Accepted,
      message: msg.join("; "),
      ...(r.refs === undefined ? {} : { refs: r.refs }),
    };
  }

  /**
   * The TLS a Service port gets, or undefined when no policy targets it (or its appProtocol keeps it in
   * cleartext). `port` is undefined for an ExternalName Service without that port in its spec.
   */
  lookup(namespace: string, service: string, port: ServicePort | undefined): IrBackendTls | undefined {
    if (port?.appProtocol === H2C_APP_PROTOCOL) return undefined;
    const key = `${namespace}/${service}`;
    const named =
      port !== undefined && port.name !== "" ? this.#claims.get(`${key}#${port.name}`) : undefined;
    return (named ?? this.#claims.get(`${key}#${WIN_ALL}`))?.tls;
  }

  /** Status of every BackendTLSPolicy: one ancestor per Gateway whose routes use a targeted Service. */
  status(usage: ServiceUsage, controllerName: string): Map<ObjectKey, PolicyStatus> {
    const out = new Map<ObjectKey, PolicyStatus>();
    for (const r of this.#resolved) {
      const book = new AncestorBook();
      const ns = r.policy.metadata.namespace;
      for (const t of r.targets) {
        const ref = r.policy.spec.targetRefs[t.index]!;
        if (t.self === true || t.service === undefined) {
          const self = { group: ref.group, kind: ref.kind, namespace: ns, name: ref.name };
          book.add(
            ref.sectionName === undefined ? self : { ...self, sectionName: ref.sectionName },
            t.outcome,
          );
          continue;
        }
        const [sns, sname] = splitKey(t.service);
        for (const [gw] of usage.gateways(sns, sname, t.port)) {
          const [gns, gname] = splitKey(gw);
          book.add(gatewayAncestor(gns, gname), t.outcome);
        }
      }
      out.set(objectKey(r.policy.metadata), book.status(controllerName, r.policy.metadata.generation, true));
    }
    return out;
  }
}

/** The PEM certificates of a bundle that parse (anything else in it is left out). */
function certificatesIn(pem: string): string[] {
  const out: string[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)) {
    try {
      new X509Certificate(m[0]);
      out.push(m[0]);
    } catch {
      // Not a certificate: left out.
    }
  }
  return out;
}
