/**
 * A certificate authority made for a test, and server certificates it signs (DNS and URI subject alternative
 * names), for backends that serve TLS.
 * @internal test-only
 */
import { generate } from "selfsigned";

export interface Pem {
  certPem: string;
  keyPem: string;
}

const DAY = 24 * 60 * 60 * 1000;

/** A new CA (self-signed, CA:true) named `name`. */
export async function makeCa(name = "grpcroute test CA"): Promise<Pem> {
  const now = Date.now();
  const p = await generate([{ name: "commonName", value: name }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate: new Date(now - DAY),
    notAfterDate: new Date(now + DAY),
    extensions: [
      { name: "basicConstraints", cA: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true },
    ],
  });
  return { certPem: p.cert, keyPem: p.private };
}

/** A server certificate signed by `ca` for these DNS names and URIs. */
export async function makeLeaf(ca: Pem, names: { dns?: string[]; uris?: string[] }): Promise<Pem> {
  const now = Date.now();
  const dns = names.dns ?? [];
  const altNames = [
    ...dns.map((value) => ({ type: 2 as const, value })),
    ...(names.uris ?? []).map((value) => ({ type: 6 as const, value })),
  ];
  const p = await generate([{ name: "commonName", value: dns[0] ?? "backend" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate: new Date(now - DAY),
    notAfterDate: new Date(now + DAY),
    ca: { key: ca.keyPem, cert: ca.certPem },
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames },
    ],
  });
  return { certPem: p.cert, keyPem: p.private };
}
