/**
 * Installs the load generator, the reference proxies and the nghttpd backend when they are missing: Debian
 * packages `nghttp2-client` (h2load), `haproxy`, `nginx` and `nghttp2-server` (nghttpd), through apt-get
 * (needs root, as on the project's machines).
 */
import { spawnSync } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";

/** Binary -> the Debian package that ships it. */
export const PACKAGES: Record<string, string> = {
  h2load: "nghttp2-client",
  haproxy: "haproxy",
  nginx: "nginx",
  nghttpd: "nghttp2-server",
};

/**
 * The binaries of {@link PACKAGES} a run needs: all of them, but nghttpd only when its backend is asked for
 * (it is a backend, not a target, and the smoke run must not need it).
 */
export function wantedBinaries(backends: readonly string[]): string[] {
  return Object.keys(PACKAGES).filter((b) => b !== "nghttpd" || backends.includes("nghttpd"));
}

function have(bin: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" }).status === 0;
}

/** The binaries of `bins` (default: all of {@link PACKAGES}) that are not on PATH. */
export function missingBinaries(bins: readonly string[] = Object.keys(PACKAGES)): string[] {
  return bins.filter((b) => !have(b));
}

/**
 * Runs `apt-get update` once and `apt-get install -y` for the packages of the binaries of `bins` that are
 * missing. Returns the binaries still missing afterwards (the caller skips their targets or backend, or the
 * load phases when h2load itself is missing).
 */
export function installMissing(log: (line: string) => void, bins: readonly string[]): string[] {
  const missing = missingBinaries(bins);
  if (missing.length === 0) return [];
  const pkgs = missing.map((b) => PACKAGES[b] as string);
  if (process.getuid?.() !== 0) {
    log(`bench: missing ${missing.join(", ")}; run as root, or: apt-get install -y ${pkgs.join(" ")}`);
    return missing;
  }
  log(`bench: installing ${pkgs.join(" ")} (apt-get)`);
  // Keep the packages' maintainer scripts from starting system-wide nginx/haproxy services (port 80 and
  // friends): the benchmark starts its own instances on 127.0.0.1 and stops them.
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const up = spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
    if (up.status !== 0) log("bench: apt-get update failed; trying the install anyway");
    spawnSync("apt-get", ["install", "-y", "-qq", ...pkgs], { stdio: "inherit", env });
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
  return missingBinaries(bins);
}
