/**
 * Writes certificates the data plane generated (Lattice-profile HTTPS listeners without certificateRefs) to
 * a directory, so clients can trust them, and logs where. Only the certificate is written: the private key
 * never leaves the process.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "../log/logger.js";

/** Default `--cert-dir`: `<os tmpdir>/grpcroute-certs`. */
export function defaultCertDir(): string {
  return join(tmpdir(), "grpcroute-certs");
}

/** File name for a listener's certificate: the IR listener name with separators made safe. */
export function certificateFileName(listener: string): string {
  return `${listener.replace(/[^A-Za-z0-9._-]+/g, "_")}.pem`;
}

/**
 * Returns the `onCertificateGenerated` callback of the data plane: writes `<dir>/<listener>.pem` and logs the
 * path and DNS names. A write failure is logged, not thrown: the listener still serves.
 */
export function certificateWriter(
  dir: string,
  log: Logger,
): (listener: string, dnsNames: string[], certPem: string) => void {
  return (listener, dnsNames, certPem) => {
    const path = join(dir, certificateFileName(listener));
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path, certPem, { mode: 0o644 });
      log.info(
        { listener, dnsNames, path },
        "generated certificate written; clients can trust it from this path",
      );
    } catch (err: unknown) {
      log.error(
        { listener, dnsNames, path, reason: err instanceof Error ? err.message : String(err) },
        "generated certificate could not be written",
      );
    }
  };
}
