/**
 * Self-signed certificates for listeners that need one without a Secret (Lattice listeners without
 * certificateRefs, since Lattice manages its own) and for tests. Pure JavaScript (`selfsigned`), so no
 * `openssl` binary is needed.
 */
import { generate } from "selfsigned";
import { GatewayError, GW_ERR_TLS } from "./errors.js";

/** A PEM certificate and its private key. */
export interface GeneratedCertificate {
  certPem: string;
  keyPem: string;
}

/** Validity of generated certificates: one year from now (they are regenerated on every start). */
const VALIDITY_MS = 365 * 24 * 60 * 60 * 1000;

/**
 * Generates a self-signed certificate whose subject alternative names are `dnsNames` (DNS names, wildcards
 * like `*.example.com`, or IP addresses). The first name is also the common name. EC P-256 keys: they are
 * fast to make and every TLS stack accepts them. Async because `selfsigned` 5 uses WebCrypto.
 */
export async function generateCertificate(dnsNames: string[]): Promise<GeneratedCertificate> {
  const names = dnsNames.length > 0 ? dnsNames : ["localhost"];
  const altNames = names.map((n) =>
    isIpAddress(n) ? { type: 7 as const, ip: n } : { type: 2 as const, value: n },
  );
  const now = Date.now();
  const pems = await generate([{ name: "commonName", value: names[0] ?? "localhost" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate: new Date(now - 60_000),
    notAfterDate: new Date(now + VALIDITY_MS),
    extensions: [
      { name: "basicConstraints", cA: true },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: "extKeyUsage", serverAuth: true, clientAuth: true },
      { name: "subjectAltName", altNames },
    ],
  });
  return { certPem: pems.cert, keyPem: pems.private };
}

function isIpAddress(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || s.includes(":");
}

/**
 * Certificates generated for listeners that ask for one (`IrTls.generate`), made once per set of names and
 * kept for the life of the data plane, so a reload serves the same certificate. `onGenerated` hears of each
 * once per listener, so the runner can write it where clients find it.
 */
export class GeneratedCertificates {
  readonly #byNames = new Map<string, Promise<GeneratedCertificate>>();
  readonly #reported = new Set<string>();
  readonly #onGenerated: ((listener: string, dnsNames: string[], certPem: string) => void) | undefined;

  constructor(onGenerated?: (listener: string, dnsNames: string[], certPem: string) => void) {
    this.#onGenerated = onGenerated;
  }

  /** The certificate of `listener` for `dnsNames`; a failure is not kept, so the next apply tries again. */
  async get(listener: string, dnsNames: string[]): Promise<GeneratedCertificate> {
    const key = [...dnsNames].sort().join(",");
    let p = this.#byNames.get(key);
    if (p === undefined) {
      p = generateCertificate(dnsNames);
      this.#byNames.set(key, p);
    }
    let c: GeneratedCertificate;
    try {
      c = await p;
    } catch (e: unknown) {
      this.#byNames.delete(key);
      throw new GatewayError(GW_ERR_TLS, `cannot generate a certificate for listener ${listener}`, {
        cause: e,
      });
    }
    const reportKey = `${listener}|${key}`;
    if (!this.#reported.has(reportKey)) {
      this.#reported.add(reportKey);
      this.#onGenerated?.(listener, dnsNames, c.certPem);
    }
    return c;
  }
}
