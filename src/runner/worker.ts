/**
 * A data-plane worker process of `serve --workers N` (N > 1). The primary process (see `workers.ts`) reads
 * and translates the configuration once and sends each routing table here; every worker runs its own data
 * plane on the listening sockets node:cluster shares between them, with its own upstream pools, and answers
 * the primary's questions (apply outcome, stats, metrics) over the IPC channel.
 *
 * In `serve`, a worker keeps its own metrics registry and writes its own access lines; the primary gathers
 * the registries on `/metrics`. In tests, a worker can instead forward every call report to the primary.
 *
 * Signals are the primary's business: a worker ignores SIGINT, SIGTERM and SIGHUP (Ctrl-C reaches the whole
 * process group) and drains when the primary tells it to, or when the primary is gone.
 */
import cluster from "node:cluster";
import { GatewayMetrics } from "../admin/metrics.js";
import { Dataplane } from "../dataplane/index.js";
import type { CallInfo, DataplaneApi, DataplaneOptions } from "../dataplane/types.js";
import type { RoutingTable } from "../ir/routing-table.js";
import { AccessLog } from "../log/access-log.js";
import { logEndpointEvent } from "../log/endpoint-events.js";
import { closeLogger, createLogger, type Logger } from "../log/logger.js";
import { GatewayError } from "../util/errors.js";
import type { PrimaryMessage, WorkerInit, WorkerMessage } from "./worker-protocol.js";

/** Pipe writes up to this size are atomic, so access lines of several workers never interleave. */
const PIPE_ATOMIC_BYTES = 4096;

function send(msg: WorkerMessage): void {
  // The primary may be gone (it was killed); there is nobody left to tell.
  if (process.connected) process.send?.(msg);
}

/** Runs this process as a worker until the primary tells it to stop. */
export function runWorker(): void {
  if (!cluster.isWorker || process.send === undefined) {
    process.stderr.write("grpcroute: the worker entry point runs only under `grpcroute serve --workers N`\n");
    process.exitCode = 2;
    return;
  }
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => {});

  let dp: DataplaneApi | undefined;
  let log: Logger | undefined;
  let metrics: GatewayMetrics | undefined;
  let access: AccessLog | undefined;
  let closing: Promise<void> | undefined;
  // The data plane reads its port map at each apply; the primary sends the map with every table.
  const portMap = new Map<number, number>();
  // Applies run one at a time, in the order the primary sent them.
  let queue: Promise<void> = Promise.resolve();

  const close = (graceMs: number): Promise<void> => {
    if (closing !== undefined) return closing;
    closing = (async () => {
      await queue;
      await dp?.close(graceMs);
      access?.flush();
      if (log !== undefined) await closeLogger(log);
      send({ t: "closed" });
      process.disconnect?.();
      process.exit(0);
    })();
    return closing;
  };

  const init = (cfg: WorkerInit): void => {
    const id = cluster.worker?.id ?? 0;
    log = createLogger({
      format: cfg.logFormat,
      level: cfg.logLevel,
      base: { worker: id },
      maxWriteBytes: PIPE_ATOMIC_BYTES,
    });
    for (const [k, v] of cfg.portMap) portMap.set(k, v);
    const opts: DataplaneOptions = { portMap };
    if (cfg.address !== undefined) opts.address = cfg.address;
    if (cfg.balancer !== undefined) opts.balancer = cfg.balancer;
    if (cfg.limits !== undefined) opts.limits = cfg.limits;
    if (cfg.retryBufferBytes !== undefined) opts.retryBufferBytes = cfg.retryBufferBytes;
    if (cfg.transcodingBodyLimit !== undefined) opts.transcodingBodyLimit = cfg.transcodingBodyLimit;
    const logger = log;
    opts.onLocalEvent = (e) => {
      logger?.debug({ backend: e.backend, reason: e.reason }, "backend left out of the gateway's reflection");
    };
    if (cfg.record === "forward") {
      opts.onCallEnd = (info: CallInfo) => send({ t: "call", info });
      opts.onEndpointEvent = (event) => send({ t: "endpoint", event });
    } else if (cfg.record === "local") {
      const m = new GatewayMetrics({ stats: () => dp?.stats() });
      const a = new AccessLog(log, { maxWriteBytes: PIPE_ATOMIC_BYTES, fields: { worker: id } });
      metrics = m;
      access = a;
      opts.onCallEnd = (info: CallInfo) => {
        m.observeCall(info);
        a.record(info);
      };
      const l = log;
      opts.onEndpointEvent = (event) => {
        m.endpointEvent(event);
        logEndpointEvent(l, event);
      };
    }
    const upstream = cfg.upstream ?? {};
    dp = new Dataplane(opts, upstream);
  };

  const apply = (seq: number, table: RoutingTable, ports: [number, number][]): void => {
    queue = queue.then(async () => {
      for (const [k, v] of ports) portMap.set(k, v);
      if (dp === undefined) {
        send({ t: "applied", seq, ok: false, message: "the worker is not initialised", code: undefined });
        return;
      }
      try {
        await dp.apply(table);
        send({ t: "applied", seq, ok: true, bound: [...dp.boundPorts()] });
      } catch (err: unknown) {
        const message = err instanceof Error ? err.message : String(err);
        send({ t: "applied", seq, ok: false, message, code: GatewayError.is(err) ? err.code : undefined });
      }
    });
  };

  process.on("message", (raw: unknown) => {
    const msg = raw as PrimaryMessage;
    switch (msg.t) {
      case "init":
        init(msg.cfg);
        break;
      case "apply":
        apply(msg.seq, msg.table, msg.ports);
        break;
      case "stats":
        send({ t: "stats", seq: msg.seq, stats: dp?.stats() ?? { activeCalls: 0, upstreamSessions: 0 } });
        break;
      case "metrics":
        void (async () => {
          const json = metrics === undefined ? [] : await metrics.registry.getMetricsAsJSON();
          send({ t: "metrics", seq: msg.seq, json });
        })();
        break;
      case "close":
        void close(msg.graceMs);
        break;
    }
  });
  // The primary died without telling us (SIGKILL, crash): finish what is in flight, then go.
  process.on("disconnect", () => void close(10_000));
  send({ t: "ready" });
}
