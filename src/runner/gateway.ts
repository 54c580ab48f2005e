/**
 * The gateway process: logger, metrics, data plane, runner and admin server put together, with signal
 * handling. `grpcroute serve` calls {@link startGateway} with the real source, translator and data plane;
 * tests may pass their own.
 */

import { isIP } from "node:net";
import { hostname } from "node:os";
import { GatewayMetrics } from "../admin/metrics.js";
import { AdminServer } from "../admin/server.js";
import type { ResourceSet } from "../api/types.js";
import type { CallInfo, DataplaneOptions } from "../dataplane/types.js";
import { AccessLog } from "../log/access-log.js";
import { logEndpointEvent } from "../log/endpoint-events.js";
import { closeLogger, createLogger, type Logger } from "../log/logger.js";
import type { StatusReport, TranslateOptions, TranslateResult } from "../translate/types.js";
import { certificateWriter } from "./certificates.js";
import type { StatusIssue } from "./issues.js";
import { type DataplaneFlagOptions, formatHostPort, type ServeOptions } from "./options.js";
import { Runner, type RunnerDataplane, type RunnerSource, type StatusSink } from "./runner.js";
import { ClusterDataplane } from "./workers.js";

/** The parts of the pipeline, injected so tests can replace them. */
export interface GatewayDeps {
  /** `log` receives problems the source recovers from (a folder that cannot be watched). */
  createSource(
    files: string[],
    opts: { watch: boolean; debounceMs: number; pollIntervalMs: number; log: Logger },
  ): RunnerSource;
  translate(resources: ResourceSet, opts: TranslateOptions): TranslateResult;
  /** `/status`: the status document with the input's issues. */
  renderStatus(resources: ResourceSet, status: StatusReport, issues: readonly StatusIssue[]): string;
  createDataplane(opts: DataplaneOptions, ctx: DataplaneContext): RunnerDataplane;
}

/** What a data plane running in worker processes needs besides its options. */
export interface DataplaneContext {
  /** `--workers`. */
  workers: number;
  logFormat: ServeOptions["logFormat"];
  logLevel: ServeOptions["logLevel"];
  /** The gateway's logger (workers starting and dying are logged here). */
  log: Logger;
}

export interface GatewayEnv {
  /** Use this logger instead of one built from the options (tests). */
  log?: Logger;
  /** Install SIGHUP / SIGTERM / SIGINT handlers. Default false. */
  handleSignals?: boolean;
  /** Where start-up errors are written for people. Default stderr. */
  stderr?: (text: string) => void;
}

/** A started gateway. */
export interface RunningGateway {
  readonly runner: Runner;
  /** Bound admin address. */
  readonly admin: { host: string; port: number };
  readonly log: Logger;
  /** Drains and stops; resolves with the exit code (0). Idempotent. */
  stop(): Promise<number>;
  /** Resolves with the exit code once the gateway stopped (by `stop()` or a signal). */
  readonly exited: Promise<number>;
}

/** Why the gateway did not start, and the exit code: 2 for unreadable input, 1 otherwise. */
export interface StartFailure {
  code: number;
  message: string;
}

/** What differs between `serve` (files) and `controller` (the API server) around the same pipeline. */
export interface PipelineParts {
  source: RunnerSource;
  translateOptions: Omit<TranslateOptions, "version">;
  /** Replaces `deps.renderStatus` for `/status`. */
  renderStatus?: GatewayDeps["renderStatus"];
  statusSink?: StatusSink;
  /** Fields of the "admin server listening" log line. */
  describe: Record<string, unknown>;
  /**
   * true (`serve`): start returns once the first configuration is processed, and fails when it cannot be
   * read (or, without `retryFirst`, applied). false (`controller`): start returns at once; the gateway is
   * not ready until the source's first snapshot applies (`/readyz` says why).
   */
  waitForFirst: boolean;
  /** With `waitForFirst`: a first configuration that cannot be applied is waited out (files watched). */
  retryFirst?: boolean;
  /** Runs first at shutdown (stop writing status, release the Lease). */
  beforeStop?: () => Promise<void>;
  /** Runs last at shutdown, after the data plane drained. */
  afterStop?: () => Promise<void>;
}

/**
 * Starts the gateway: the admin server first (so `/healthz` and `/readyz` answer during start-up), then the
 * first configuration. Input that cannot be read at start is a failure (exit 2); a first configuration
 * that cannot be applied (a port in use) is a failure (exit 1) unless `watch` is on, in which case the
 * gateway keeps running, not ready, until a later configuration applies.
 */
export async function startGateway(
  opts: ServeOptions,
  deps: GatewayDeps,
  env: GatewayEnv = {},
): Promise<RunningGateway | StartFailure> {
  return startPipeline(
    opts,
    (log) => ({
      source: deps.createSource(opts.files, {
        watch: opts.watch,
        debounceMs: opts.debounceMs,
        pollIntervalMs: opts.pollIntervalMs,
        log,
      }),
      translateOptions: { lattice: opts.lattice, addresses: gatewayAddresses(opts.address) },
      describe: { files: opts.files, watch: opts.watch },
      waitForFirst: true,
      retryFirst: opts.watch,
    }),
    deps,
    env,
  );
}

/**
 * The gateway around any source: the data plane, runner and admin server, signals and shutdown. The admin
 * server starts first, so `/healthz` and `/readyz` answer during start-up.
 */
export async function startPipeline(
  opts: DataplaneFlagOptions,
  makeParts: (log: Logger) => PipelineParts,
  deps: Omit<GatewayDeps, "createSource">,
  env: GatewayEnv = {},
): Promise<RunningGateway | StartFailure> {
  const log = env.log ?? createLogger({ format: opts.logFormat, level: opts.logLevel });
  const parts = makeParts(log);
  let dataplane: RunnerDataplane | undefined;
  // Worker processes report their own counters (gathered below), so the gateway process adds none of them.
  const metrics = new GatewayMetrics({
    stats: () => (dataplane instanceof ClusterDataplane ? undefined : dataplane?.stats()),
  });
  const access = new AccessLog(log);
  const dpOptions: DataplaneOptions = {
    portMap: opts.portMap,
    onCallEnd: (info: CallInfo) => {
      metrics.observeCall(info);
      access.record(info);
    },
    onCertificateGenerated: certificateWriter(opts.certDir, log),
    onEndpointEvent: (e) => {
      metrics.endpointEvent(e);
      logEndpointEvent(log, e);
    },
    onLocalEvent: (e) => {
      log.debug({ backend: e.backend, reason: e.reason }, "backend left out of the gateway's reflection");
    },
  };
  if (opts.address !== undefined) dpOptions.address = opts.address;
  if (Object.keys(opts.limits).length > 0) dpOptions.limits = opts.limits;
  if (opts.retryBufferBytes !== undefined) dpOptions.retryBufferBytes = opts.retryBufferBytes;
  if (opts.transcodingBodyLimit !== undefined) dpOptions.transcodingBodyLimit = opts.transcodingBodyLimit;
  const dp = deps.createDataplane(dpOptions, {
    workers: opts.workers,
    logFormat: opts.logFormat,
    logLevel: opts.logLevel,
    log,
  });
  dataplane = dp;
  // Worker processes keep their own call metrics; /metrics adds them up with the gateway's own.
  if (dp instanceof ClusterDataplane) metrics.gatherFrom(() => dp.collectMetrics());
  const runner = new Runner({
    source: parts.source,
    translate: deps.translate,
    renderStatus: parts.renderStatus ?? deps.renderStatus,
    dataplane,
    metrics,
    log,
    translateOptions: parts.translateOptions,
    ...(parts.statusSink !== undefined ? { statusSink: parts.statusSink } : {}),
  });

  const adminServer = new AdminServer(runner, log);
  let admin: { host: string; port: number };
  try {
    admin = await adminServer.listen(opts.admin.host, opts.admin.port);
  } catch (err: unknown) {
    const reason = err instanceof Error ? err.message : String(err);
    const message = `cannot start the admin server on ${formatHostPort(opts.admin.host, opts.admin.port)}: ${reason} (choose another with --admin HOST:PORT)`;
    log.error(
      { admin: formatHostPort(opts.admin.host, opts.admin.port), reason },
      "admin server failed to start",
    );
    await dataplane.close(0);
    await parts.afterStop?.();
    await closeLogger(log);
    return { code: 1, message };
  }
  const adminText = formatHostPort(admin.host, admin.port);
  log.info(
    {
      admin: adminText,
      ...parts.describe,
      workers: dp instanceof ClusterDataplane ? opts.workers : 1,
    },
    "admin server listening",
  );

  let stopping: Promise<number> | undefined;
  let resolveExited: (code: number) => void = () => {};
  const exited = new Promise<number>((r) => {
    resolveExited = r;
  });
  const signalHandlers: [NodeJS.Signals, () => void][] = [];
  const removeSignals = (): void => {
    for (const [sig, fn] of signalHandlers) process.off(sig, fn);
  };

  const stop = (): Promise<number> => {
    if (stopping !== undefined) return stopping;
    stopping = (async () => {
      log.info({ drainTimeoutMs: opts.drainTimeoutMs }, "shutting down: draining calls in flight");
      const started = performance.now();
      await parts.beforeStop?.();
      await runner.stop(opts.drainTimeoutMs);
      await parts.afterStop?.();
      await adminServer.close();
      access.flush();
      log.info({ drainMs: Math.round(performance.now() - started) }, "stopped");
      removeSignals();
      await closeLogger(log);
      resolveExited(0);
      return 0;
    })();
    return stopping;
  };

  const ready = (): void => {
    log.info(
      { version: runner.table()?.version, listeners: runner.listeners(), admin: adminText },
      "gateway ready",
    );
  };
  const readyOnFirstSuccess = (): void => {
    const off = runner.onOutcome((o) => {
      if (o.ok) {
        off();
        ready();
      }
    });
  };
  if (!parts.waitForFirst) {
    readyOnFirstSuccess();
    void runner.start();
    installSignals();
    return { runner, admin, log, stop, exited };
  }
  const first = await runner.start();
  if (!first.ok && (first.stage === "read" || parts.retryFirst !== true)) {
    await parts.beforeStop?.();
    await runner.stop(0);
    await parts.afterStop?.();
    await adminServer.close();
    await closeLogger(log);
    const message =
      first.stage === "read"
        ? `cannot read the input: ${first.reason}`
        : `cannot serve the configuration: ${first.reason}`;
    return { code: first.stage === "read" ? 2 : 1, message };
  }
  if (first.ok) {
    ready();
  } else {
    log.warn({ admin: adminText }, "not ready: waiting for a configuration that applies (files are watched)");
    readyOnFirstSuccess();
  }
  installSignals();
  return { runner, admin, log, stop, exited };

  function installSignals(): void {
    if (env.handleSignals !== true) return;
    const onTerm = (): void => {
      if (stopping !== undefined) {
        // A second signal while draining: people pressing Ctrl-C twice want out now.
        log.warn("second signal: exiting without waiting for calls in flight");
        access.flush();
        if (dp instanceof ClusterDataplane) dp.kill();
        process.exit(1);
      }
      void stop();
    };
    const onHup = (): void => runner.reload();
    signalHandlers.push(["SIGTERM", onTerm], ["SIGINT", onTerm], ["SIGHUP", onHup]);
    for (const [sig, fn] of signalHandlers) process.on(sig, fn);
  }
}

/** Runs the gateway until a signal stops it; returns the exit code. Start-up failures are printed. */
export async function serveGateway(
  opts: ServeOptions,
  deps: GatewayDeps,
  env: GatewayEnv = {},
): Promise<number> {
  const stderr = env.stderr ?? ((t: string) => process.stderr.write(t));
  const started = await startGateway(opts, deps, { handleSignals: true, ...env });
  if (!("runner" in started)) {
    stderr(`grpcroute serve: ${started.message}\n`);
    return started.code;
  }
  return started.exited;
}

/**
 * What Gateway `status.addresses` reports when a Gateway names none: the address the listeners bind to when
 * it is a specific IP, else this host's name (the listeners answer on every interface).
 */
export function gatewayAddresses(address: string | undefined): { type: string; value: string }[] {
  if (address !== undefined && isIP(address) !== 0 && address !== "0.0.0.0" && address !== "::") {
    return [{ type: "IPAddress", value: address }];
  }
  if (address !== undefined && isIP(address) === 0) return [{ type: "Hostname", value: address }];
  return [{ type: "Hostname", value: hostname() }];
}
