/**
 * The `tls` phase: grpcroute and HAProxy terminating TLS with the same ECDSA P-256 certificate (made with
 * `openssl` for the run), ALPN h2, in front of the fixed backend over h2c. Measured, targets interleaved:
 *
 * - `unary`: h2load over `https://`, the phase's connections and streams, long-lived connections: req/s and
 *   the proxy's CPU per call;
 * - `new+call`: h2load with one call per connection (`-m 1`, as many connections as calls), so each is a
 *   full TLS 1.3 handshake with ALPN h2 plus one call: connections per second and CPU per connection;
 * - `full`: TLS 1.3 handshakes with ALPN h2 alone, one after another (`clients/tls-handshakes.mjs`);
 * - `resumed`: the same, each resuming the session of the ticket the previous connection got. (`openssl
 *   s_time -reuse` cannot resume TLS 1.3 sessions, and in TLS 1.2 it offers no ALPN, so grpcroute, whose
 *   HTTPS listeners speak only h2, closes its connections.)
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runH2load } from "./h2load.js";
import { start, stop, treeCpuSeconds } from "./procs.js";
import { fmt, fmtRatio, median, ratio } from "./stats.js";
import {
  type Backend,
  gatewayManifests,
  haproxyTarget,
  ROOT,
  type RunningTarget,
  stopTarget,
  type TargetKind,
} from "./targets.js";

/** What a row measured. */
export type TlsTest = "unary" | "new+call" | "full" | "resumed";

/** Medians of one test on one target. */
export interface TlsRow {
  test: TlsTest;
  target: string;
  /** Calls per second (`unary`) or connections per second (the others). */
  perSec: number;
  /** The proxy's CPU per call or per connection, µs. */
  cpuUs: number;
  failed: number;
  runs: number;
}

/** The certificate both proxies present. */
export interface BenchCert {
  certFile: string;
  keyFile: string;
  /** Certificate then key, as HAProxy's `crt` takes them. */
  combinedFile: string;
  certPem: string;
  keyPem: string;
}

/** Makes a self-signed ECDSA P-256 certificate for 127.0.0.1 with openssl. */
export function makeCert(dir: string): BenchCert | string {
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  const r = spawnSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "2",
      "-subj",
      "/CN=bench.local",
      "-addext",
      "subjectAltName=DNS:bench.local,IP:127.0.0.1",
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) return `openssl req failed (exit ${r.status}): ${(r.stderr ?? "").slice(-300)}`;
  const certPem = readFileSync(certFile, "utf8");
  const keyPem = readFileSync(keyFile, "utf8");
  const combinedFile = join(dir, "combined.pem");
  writeFileSync(combinedFile, certPem + keyPem);
  return { certFile, keyFile, combinedFile, certPem, keyPem };
}

function indent(pem: string, spaces: number): string {
  return pem
    .trim()
    .split("\n")
    .map((l) => `${" ".repeat(spaces)}${l}`)
    .join("\n");
}

/** The bench manifests with an HTTPS listener that presents `cert` (a kubernetes.io/tls Secret). */
export function tlsManifests(backendPort: number, cert: Pick<BenchCert, "certPem" | "keyPem">): string {
  const http = "    - name: http\n      protocol: HTTP\n";
  const base = gatewayManifests(backendPort);
  if (!base.includes(http)) throw new Error("gatewayManifests no longer has the listener tlsManifests edits");
  return `${base.replace(
    http,
    "    - name: http\n      protocol: HTTPS\n      tls:\n        certificateRefs:\n          - name: bench-tls\n",
  )}---
apiVersion: v1
kind: Secret
metadata:
  name: bench-tls
  namespace: default
type: kubernetes.io/tls
stringData:
  tls.crt: |
${indent(cert.certPem, 4)}
  tls.key: |
${indent(cert.keyPem, 4)}
`;
}

/** HAProxy terminating TLS (ALPN h2) with `cert`, h2c to the backend. */
export function haproxyTls(cert: BenchCert, workers: number): TargetKind {
  return haproxyTarget({
    name: "haproxy",
    dir: "haproxy-tls",
    workers,
    maxconn: 8000,
    mode: "http",
    timeoutS: 60,
    bind: `ssl crt ${cert.combinedFile} alpn h2`,
    server: "proto h2",
  });
}

/** One run of `clients/tls-handshakes.mjs`: handshakes per second, one connection after another. */
async function handshakes(port: number, mode: "full" | "resumed", seconds: number, logFile: string) {
  writeFileSync(logFile, "");
  const script = join(ROOT, "bench/clients/tls-handshakes.mjs");
  const args = [script, "--port", String(port), "--mode", mode, "--seconds", String(seconds)];
  const p = start(`tls handshakes ${mode}`, process.execPath, args, { logFile });
  const guard = setTimeout(() => void stop(p), (seconds + 30) * 1000);
  await p.exited;
  clearTimeout(guard);
  const text = readFileSync(logFile, "utf8");
  let r: { connections: number; seconds: number; reused: number; errors: number; firstError: string };
  try {
    r = JSON.parse(text.trim().split("\n").at(-1) ?? "");
  } catch {
    throw new Error(`tls handshakes ${mode}: no summary: ${text.slice(-300)}`);
  }
  if (r.connections === 0) throw new Error(`tls handshakes ${mode}: no handshake completed: ${r.firstError}`);
  if (mode === "resumed" && r.reused < r.connections - 1)
    throw new Error(
      `tls handshakes resumed: only ${r.reused} of ${r.connections} connections resumed a session`,
    );
  return { connections: r.connections, seconds: r.seconds, failed: r.errors };
}

export interface TlsPhaseOptions {
  reps: number;
  durationSec: number;
  connections: number;
  streams: number;
  /** Connections (one call each) per `new+call` run. */
  newConnections: number;
  /** Seconds per handshake run. */
  sTimeSec: number;
  bodyFile: string;
  outDir: string;
  log: (line: string) => void;
  report: (target: string, message: string) => void;
}

/** Runs the phase on already started targets, interleaved, `reps` times; medians per test and target. */
export async function tlsPhase(targets: RunningTarget[], o: TlsPhaseOptions): Promise<TlsRow[]> {
  const samples = new Map<string, { perSec: number; cpuUs: number; failed: number }[]>();
  const tests: TlsTest[] = ["unary", "new+call", "full", "resumed"];
  for (let rep = 0; rep < o.reps; rep++) {
    for (const test of tests) {
      const order = rep % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        const tag = `tls-${test.replace("+", "-")}-${t.name}-${rep}`;
        const cpu0 = t.proc ? treeCpuSeconds(t.proc.pid) : 0;
        let count: number;
        let seconds: number;
        let failed: number;
        try {
          if (test === "unary" || test === "new+call") {
            const r = await runH2load({
              port: t.port,
              path: "/helloworld.Greeter/SayHello",
              bodyFile: o.bodyFile,
              load:
                test === "unary"
                  ? { connections: o.connections, streams: o.streams, durationSec: o.durationSec, tls: true }
                  : {
                      connections: o.newConnections,
                      streams: 1,
                      durationSec: o.durationSec,
                      requests: o.newConnections,
                      tls: true,
                    },
              outDir: o.outDir,
              tag,
            });
            count = r.succeeded;
            seconds = r.seconds;
            failed = r.failed;
          } else {
            const r = await handshakes(t.port, test, o.sTimeSec, join(o.outDir, `${tag}.log`));
            count = r.connections;
            seconds = r.seconds;
            failed = r.failed;
          }
        } catch (e: unknown) {
          o.report(t.name, `tls ${test} via ${t.name}: ${e instanceof Error ? e.message.split("\n")[0] : e}`);
          continue;
        }
        const cpu1 = t.proc ? treeCpuSeconds(t.proc.pid) : 0;
        const s = {
          perSec: seconds > 0 ? count / seconds : 0,
          cpuUs: ((cpu1 - cpu0) * 1e6) / Math.max(1, count),
          failed,
        };
        const key = `${test} ${t.name}`;
        samples.set(key, [...(samples.get(key) ?? []), s]);
        o.log(
          `bench: tls ${test} ${t.name} rep ${rep + 1}/${o.reps}: ${Math.round(s.perSec)}/s, ${s.cpuUs.toFixed(1)} us each` +
            (failed > 0 ? `, ${failed} failed` : ""),
        );
        if (failed > 0) o.report(t.name, `tls ${test} via ${t.name}: ${failed} calls failed`);
      }
    }
  }
  const rows: TlsRow[] = [];
  for (const test of tests) {
    for (const t of targets) {
      const s = samples.get(`${test} ${t.name}`) ?? [];
      if (s.length === 0) continue;
      rows.push({
        test,
        target: t.name,
        perSec: median(s.map((x) => x.perSec)),
        cpuUs: median(s.map((x) => x.cpuUs)),
        failed: s.reduce((a, x) => a + x.failed, 0),
        runs: s.length,
      });
    }
  }
  return rows;
}

const TEST_TEXT: Record<TlsTest, string> = {
  unary: "unary calls, long-lived connections",
  "new+call": "new connection + 1 call (TLS 1.3 full handshake, ALPN h2)",
  full: "full handshake alone (TLS 1.3, ALPN h2)",
  resumed: "resumed handshake (TLS 1.3 session ticket)",
};

/** The phase's table: each test's rate and CPU, grpcroute's as a ratio to HAProxy's. */
export function tlsTable(rows: readonly TlsRow[], table: (h: string[], r: string[][]) => string): string {
  return table(
    ["test", "target", "per s", "CPU us each", "CPU x haproxy", "failed"],
    rows.map((r) => {
      const h = rows.find((x) => x.test === r.test && x.target === "haproxy");
      return [
        TEST_TEXT[r.test],
        r.target,
        fmt(r.perSec),
        fmt(r.cpuUs, 1),
        fmtRatio(ratio(r.cpuUs, h?.cpuUs)),
        fmt(r.failed),
      ];
    }),
  );
}

/** Issue 20's TLS goal (CPU per call within 1.2x HAProxy's) and the handshake costs beside HAProxy's. */
export function tlsGoals(rows: readonly TlsRow[]): string[] {
  const out: string[] = [];
  const g = (test: TlsTest) => rows.find((r) => r.test === test && r.target.startsWith("grpcroute"));
  const h = (test: TlsTest) => rows.find((r) => r.test === test && r.target === "haproxy");
  const gu = g("unary");
  const hu = h("unary");
  if (gu && hu) {
    const rc = ratio(gu.cpuUs, hu.cpuUs);
    const ok = Number.isFinite(rc) ? (rc <= 1.2 ? "MET " : "MISS") : "n/a ";
    out.push(
      `${ok} ${gu.target}: TLS unary CPU per call <= 1.2x haproxy (${fmt(gu.cpuUs, 1)} vs ${fmt(hu.cpuUs, 1)} us, ${fmtRatio(rc)})`,
    );
  }
  for (const test of ["new+call", "full", "resumed"] as const) {
    const a = g(test);
    const b = h(test);
    if (a && b)
      out.push(
        `info ${a.target}: ${TEST_TEXT[test]}: ${fmt(a.cpuUs, 0)} us of CPU each, ${fmt(a.perSec)}/s (haproxy ${fmt(b.cpuUs, 0)} us, ${fmt(b.perSec)}/s)`,
      );
  }
  return out;
}

/** Starts the phase's targets in front of `backend`, runs it, stops them. */
export async function runTlsPhase(
  kinds: TargetKind[],
  backend: Backend,
  o: TlsPhaseOptions,
): Promise<TlsRow[]> {
  const running: RunningTarget[] = [];
  try {
    for (const k of kinds) {
      try {
        running.push(await k.start(backend, o.outDir));
      } catch (e: unknown) {
        o.report(
          k.name,
          `tls: ${k.name} did not start: ${e instanceof Error ? e.message.split("\n")[0] : e}`,
        );
      }
    }
    return await tlsPhase(running, o);
  } finally {
    for (const t of running) await stopTarget(t);
  }
}
