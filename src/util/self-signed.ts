/**
 * Self-signed certificates for listeners that need one without a Secret (Lattice listeners without
 * certificateRefs, since Lattice manages its own) and for tests. Pure JavaScript (`selfsigned`), so no
 * `openssl` binary is needed.
 */
import { generate } from "selfsigned";

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
