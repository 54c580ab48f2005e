/**
 * The goals of the default configuration and of a second worker (issue 20), judged on the unary rows of one
 * run: `grpcroute-default` is serve with no `--workers` flag (as users start it), `grpcroute-workers-2` is
 * `--workers 2`, and `grpcroute-relay` is `--workers` as `--proxy-workers` (one unless asked otherwise).
 */
import type { UnaryRow } from "./report.js";
import { fmt, fmtRatio, ratio } from "./stats.js";

const mark = (ok: boolean | undefined) => (ok === undefined ? "n/a " : ok ? "MET " : "MISS");
const judged = (x: number, ok: (x: number) => boolean) => mark(Number.isFinite(x) ? ok(x) : undefined);

/** Goal lines, greeter backend first (the issue's), then the others. */
export function workerGoals(rows: readonly UnaryRow[], proxyWorkers = 1): string[] {
  const out: string[] = [];
  const backends = [...new Set(rows.map((u) => u.backend))].sort(
    (a, b) => Number(b === "greeter") - Number(a === "greeter"),
  );
  for (const b of backends) {
    const find = (t: string) => rows.find((u) => u.backend === b && u.target === t);
    const h = find("haproxy");
    const d = find("grpcroute-default");
    if (d && h) {
      const rr = ratio(d.reqPerSec, h.reqPerSec);
      const rc = ratio(d.proxyCpuUs, h.proxyCpuUs);
      // The greeter's req/s line is already among every gateway's goals (report.ts).
      if (b !== "greeter")
        out.push(`${judged(rr, (x) => x >= 1)} grpcroute-default: ${b} req/s >= haproxy (${fmtRatio(rr)})`);
      out.push(
        `${judged(rc, (x) => x <= 1)} grpcroute-default: ${b} CPU per call <= haproxy (${fmt(d.proxyCpuUs, 1)} vs ${fmt(h.proxyCpuUs, 1)} us, ${fmtRatio(rc)})`,
      );
    }
    const one = find("grpcroute-relay");
    const two = find("grpcroute-workers-2");
    if (one && two && proxyWorkers === 1) {
      const rc = ratio(two.proxyCpuUs, one.proxyCpuUs);
      out.push(
        `${judged(rc, (x) => x <= 1.2)} grpcroute-workers-2: ${b} CPU per call <= 1.2x --workers 1 (${fmt(two.proxyCpuUs, 1)} vs ${fmt(one.proxyCpuUs, 1)} us, ${fmtRatio(rc)})`,
      );
    }
  }
  return out;
}
