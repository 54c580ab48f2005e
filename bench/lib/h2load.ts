/**
 * Drives h2load with real gRPC unary calls (length-prefixed protobuf body, `content-type: application/grpc`,
 * `te: trailers`, POST) and turns its summary and per-request log into figures.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { start, stop } from "./procs.js";
import { percentile } from "./stats.js";

/** The load every target gets in one run. */
export interface Load {
  /** TCP connections (`-c`). */
  connections: number;
  /** Concurrent streams per connection (`-m`). */
  streams: number;
  /** Seconds of load (`-D`). */
  durationSec: number;
  /**
   * Requests per second per connection (`--rps`); absent = as fast as the target answers. h2load starts
   * them in one batch per tick of `max(10 ms, 1/rps)`, so the half-load latency comes from
   * bench/clients/open-loop.ts instead.
   */
  rpsPerConnection?: number;
  /** TLS (`https://`, ALPN h2) instead of h2c. */
  tls?: boolean;
  /** Requests in all (`-n`) instead of `durationSec`: with `streams` 1 and as many connections, one call each. */
  requests?: number;
}

/** What one h2load run measured. */
export interface H2loadResult {
  /** Requests that completed with a 2xx status. */
  succeeded: number;
  /** Requests that failed, errored or timed out, or got a non-2xx status. */
  failed: number;
  /** Wall seconds h2load reports for the run. */
  seconds: number;
  reqPerSec: number;
  /** Request times in milliseconds, from the per-request log. */
  p50Ms: number;
  p99Ms: number;
}

/** Writes the request body every call sends: HelloRequest{name: "world"} behind the 5-byte gRPC prefix. */
export function writeHelloRequest(dir: string): string {
  const name = Buffer.from("world");
  const msg = Buffer.concat([Buffer.from([0x0a, name.length]), name]);
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  msg.copy(frame, 5);
  const file = join(dir, "hello-request.bin");
  writeFileSync(file, frame);
  return file;
}

/** Parses h2load's text summary. Exported for the smoke run's self-check. */
export function parseSummary(text: string): { seconds: number; succeeded: number; failed: number } {
  const fin = /finished in ([\d.]+)(ms|s)/.exec(text);
  const req =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      text,
    );
  if (!fin || !req) throw new Error(`cannot read h2load's summary:\n${text.slice(-800)}`);
  const seconds = Number(fin[1]) / (fin[2] === "ms" ? 1000 : 1);
  const succeeded = Number(req[4]);
  // "failed" already counts errored and timed-out requests; a non-2xx answer is "succeeded" for h2load
  // (it got a response), so it is counted from the status line instead.
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  const non2xx = codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : 0;
  return { seconds, succeeded: succeeded - non2xx, failed: Number(req[5]) + non2xx };
}

/** Reads h2load's `--log-file` (start µs, status, elapsed µs per line) into sorted elapsed milliseconds. */
export function readLatencies(file: string): Float64Array {
  const text = readFileSync(file, "utf8");
  const lines = text.split("\n");
  const out = new Float64Array(lines.length);
  let n = 0;
  for (const line of lines) {
    const tab2 = line.lastIndexOf("\t");
    if (tab2 < 0) continue;
    const status = line.slice(line.indexOf("\t") + 1, tab2);
    if (status[0] !== "2") continue;
    out[n++] = Number(line.slice(tab2 + 1)) / 1000;
  }
  return out.subarray(0, n).sort();
}

/** Options of {@link runH2load}. */
export interface RunOptions {
  port: number;
  path: string;
  bodyFile: string;
  load: Load;
  /** Files of this run go here, named by `tag`. */
  outDir: string;
  tag: string;
}

/** Runs h2load once against 127.0.0.1:`port` and returns what it measured. */
export async function runH2load(o: RunOptions): Promise<H2loadResult> {
  const logFile = join(o.outDir, `${o.tag}.h2load.log`);
  const reqLog = join(o.outDir, `${o.tag}.requests.tsv`);
  writeFileSync(logFile, "");
  const args = [
    "-t",
    "1",
    "-c",
    String(o.load.connections),
    "-m",
    String(o.load.streams),
    ...(o.load.requests !== undefined ? ["-n", String(o.load.requests)] : ["-D", String(o.load.durationSec)]),
    "-d",
    o.bodyFile,
    "-H",
    "content-type: application/grpc",
    "-H",
    "te: trailers",
    "--log-file",
    reqLog,
  ];
  if (o.load.rpsPerConnection !== undefined) args.push("--rps", String(o.load.rpsPerConnection));
  args.push(`${o.load.tls === true ? "https" : "http"}://127.0.0.1:${o.port}${o.path}`);
  const p = start(`h2load ${o.tag}`, "h2load", args, { logFile });
  // h2load stops by itself after -D seconds; the guard only matters if a target hangs every stream.
  const guard = setTimeout(() => void stop(p), (o.load.durationSec + 30) * 1000);
  const code = await p.exited;
  clearTimeout(guard);
  const text = readFileSync(logFile, "utf8");
  if (code !== 0) throw new Error(`h2load exited with ${code}:\n${text.slice(-800)}`);
  const s = parseSummary(text);
  const lat = readLatencies(reqLog);
  // One line per call adds up to gigabytes over a full run: keep the per-call log only when asked.
  if (process.env.BENCH_KEEP_LOGS !== "1") rmSync(reqLog, { force: true });
  return {
    succeeded: s.succeeded,
    failed: s.failed,
    seconds: s.seconds,
    reqPerSec: s.seconds > 0 ? s.succeeded / s.seconds : 0,
    p50Ms: percentile(lat, 0.5),
    p99Ms: percentile(lat, 0.99),
  };
}
