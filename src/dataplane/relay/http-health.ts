/**
 * VPC Lattice's HTTP health checks of one endpoint, as a Lattice-profile TargetGroupPolicy asks: every
 * `interval` an HTTP/1.1 or HTTP/2 GET of `path` to the endpoint (on `port`, else its own port), over a
 * connection of its own that is closed after each check, as Lattice does. A check passes when the response's
 * status is one of `statusCodes` within `timeout`; `unhealthyThreshold` failures in a row take the endpoint
 * out of the pick and `healthyThreshold` passes bring it back (the pick, panic routing and the metrics are
 * the endpoint group's, as for gRPC checks: `endpoint-group.ts`). An endpoint starts healthy and is checked
 * at once.
 *
 * Bounded: a check holds one connection, is abandoned (and its connection destroyed) at `timeout`, and reads
 * at most {@link MAX_BODY_BYTES} of the response body, which it discards. HTTPS checks do not verify the
 * endpoint's certificate (VPC Lattice does not either).
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import { isIP } from "node:net";
import type { IrHealthCheck, IrHttpHealthCheck } from "../../ir/routing-table.js";
import type { UpstreamPool } from "./upstream.js";

/** Response body bytes a check reads (and drops) before it closes the connection. */
export const MAX_BODY_BYTES = 64 * 1024;

const USER_AGENT = "grpcroute-health-check";

/** One check under way: `abort` drops it without a result. */
interface Probe {
  abort(): void;
}

type Done = (passed: boolean, why: string) => void;

/** Checks one endpoint on a timer; its pool owns it and stops it when the endpoint leaves the table. */
export class HttpHealthChecker {
  private timer: NodeJS.Timeout | undefined = undefined;
  private probe: Probe | null = null;
  private passes = 0;
  private fails = 0;
  private stopped = false;

  constructor(
    readonly pool: UpstreamPool,
    readonly config: IrHealthCheck,
    private readonly check: IrHttpHealthCheck,
    /** Told each time the endpoint's health changes. */
    private readonly changed: (pool: UpstreamPool, reason: string) => void,
  ) {
    this.schedule(0);
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(runCheck, ms, this);
    this.timer.unref();
  }

  /** @internal Starts one check. */
  run(): void {
    this.timer = undefined;
    if (this.stopped || this.pool.retired) return;
    const ep = this.pool.endpoint;
    const target = { host: ep.host, port: this.check.port === 0 ? ep.port : this.check.port };
    let settled = false;
    const done: Done = (passed, why) => {
      if (settled) return;
      settled = true;
      this.probe = null;
      this.result(passed, why);
    };
    this.probe =
      this.check.version === 2
        ? probeHttp2(target, this.check, this.config.timeoutMs, done)
        : probeHttp1(target, this.check, this.config.timeoutMs, done);
  }

  private result(passed: boolean, why: string): void {
    if (this.stopped) return;
    const pool = this.pool;
    if (passed) {
      this.fails = 0;
      this.passes++;
      if (!pool.healthy && this.passes >= this.config.healthyThreshold) {
        pool.healthy = true;
        this.changed(pool, `${this.passes} HTTP health check(s) passed in a row`);
      }
    } else {
      this.passes = 0;
      this.fails++;
      if (pool.healthy && this.fails >= this.config.unhealthyThreshold) {
        pool.healthy = false;
        this.changed(pool, `${this.fails} HTTP health check(s) failed in a row, the last: ${why}`);
      }
    }
    this.schedule(this.config.intervalMs);
  }

  /** Stops checking (the endpoint left the table, or the data plane closes). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.probe?.abort();
    this.probe = null;
  }
}

function runCheck(c: HttpHealthChecker): void {
  c.run();
}

/** Whether `status` is one of the ranges. */
export function statusPasses(status: number, codes: readonly [number, number][]): string | undefined {
  for (const [lo, hi] of codes) if (status >= lo && status <= hi) return undefined;
  const want = codes.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(",");
  return `HTTP ${status} (passing: ${want})`;
}

function hostHeader(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/** An HTTP/1.1 GET on a connection of its own (`agent: false`, `Connection: close`). */
function probeHttp1(
  target: { host: string; port: number },
  check: IrHttpHealthCheck,
  timeoutMs: number,
  done: Done,
): Probe {
  const options: https.RequestOptions = {
    host: target.host,
    port: target.port,
    path: check.path,
    method: "GET",
    agent: false,
    headers: {
      host: hostHeader(target.host, target.port),
      "user-agent": USER_AGENT,
      connection: "close",
    },
  };
  if (check.tls) {
    options.rejectUnauthorized = false;
    // SNI takes names only.
    if (isIP(target.host) === 0) options.servername = target.host;
  }
  let req: http.ClientRequest;
  try {
    req = check.tls ? https.request(options) : http.request(options);
  } catch (e: unknown) {
    done(false, e instanceof Error ? e.message : String(e));
    return { abort: () => undefined };
  }
  const timer = setTimeout(() => {
    done(false, `no answer within ${timeoutMs} ms`);
    req.destroy();
  }, timeoutMs);
  timer.unref();
  const finish = (): void => {
    clearTimeout(timer);
    req.destroy();
  };
  req.on("error", (e) => {
    done(false, errorText(e));
    finish();
  });
  req.on("response", (res) => {
    const bad = statusPasses(res.statusCode ?? 0, check.statusCodes);
    done(bad === undefined, bad ?? "");
    let read = 0;
    res.on("data", (chunk: Buffer) => {
      read += chunk.length;
      if (read > MAX_BODY_BYTES) finish();
    });
    res.on("end", finish);
    res.on("error", finish);
  });
  req.end();
  return { abort: finish };
}

/** An HTTP/2 GET on a session of its own (h2c with prior knowledge, or ALPN h2 over TLS), closed after. */
function probeHttp2(
  target: { host: string; port: number },
  check: IrHttpHealthCheck,
  timeoutMs: number,
  done: Done,
): Probe {
  const authority = hostHeader(target.host, target.port);
  const options: http2.SecureClientSessionOptions = {};
  if (check.tls) {
    options.rejectUnauthorized = false;
    if (isIP(target.host) === 0) options.servername = target.host;
  }
  let session: http2.ClientHttp2Session;
  try {
    session = http2.connect(`${check.tls ? "https" : "http"}://${authority}`, options);
  } catch (e: unknown) {
    done(false, e instanceof Error ? e.message : String(e));
    return { abort: () => undefined };
  }
  const timer = setTimeout(() => {
    done(false, `no answer within ${timeoutMs} ms`);
    session.destroy();
  }, timeoutMs);
  timer.unref();
  const finish = (): void => {
    clearTimeout(timer);
    session.destroy();
  };
  session.on("error", (e) => {
    done(false, errorText(e));
    finish();
  });
  let stream: http2.ClientHttp2Stream;
  try {
    stream = session.request(
      { ":method": "GET", ":path": check.path, ":authority": authority, "user-agent": USER_AGENT },
      { endStream: true },
    );
  } catch (e: unknown) {
    done(false, e instanceof Error ? e.message : String(e));
    finish();
    return { abort: finish };
  }
  stream.on("response", (headers) => {
    const bad = statusPasses(Number(headers[":status"] ?? 0), check.statusCodes);
    done(bad === undefined, bad ?? "");
  });
  let read = 0;
  stream.on("data", (chunk: Buffer) => {
    read += chunk.length;
    if (read > MAX_BODY_BYTES) finish();
  });
  stream.on("error", (e) => {
    done(false, errorText(e));
    finish();
  });
  stream.on("close", () => {
    done(false, `the stream closed without a response (HTTP/2 error ${stream.rstCode ?? 0})`);
    finish();
  });
  return { abort: finish };
}

function errorText(e: Error): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === undefined ? e.message : `${code}: ${e.message}`;
}
