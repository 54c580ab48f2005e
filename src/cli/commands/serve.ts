/**
 * `grpcroute serve -f PATH ... [--watch] [--address ADDR] [--port-map LP=PORT ...] [--admin HOST:PORT]
 * [--log-format json|pretty] [--log-level LEVEL] [--drain-timeout MS] [--cert-dir DIR]`: runs the gateway.
 * Exit codes: 0 after a signal-initiated drain, 1 when it cannot start (a port in use), 2 for bad flags or
 * input that cannot be read at start.
 */
import { Dataplane } from "../../dataplane/index.js";
import type { GatewayDeps } from "../../runner/gateway.js";
import { serveGateway } from "../../runner/gateway.js";
import { missingNodeFlags } from "../../runner/node-flags.js";
import { parseServeArgs, SERVE_USAGE } from "../../runner/options.js";
import { ClusterDataplane, type ClusterDataplaneOptions } from "../../runner/workers.js";
import { FileSource } from "../../sources/file-source.js";
import { translate } from "../../translate/translator.js";
import { renderStatusJson } from "../output.js";

/** The translator and the relay data plane (in-process or in workers), shared with `controller`. */
export const pipelineDeps: Omit<GatewayDeps, "createSource"> = {
  translate: (resources, opts) => translate(resources, opts),
  renderStatus: (resources, status, issues) => renderStatusJson(resources, status, issues),
  createDataplane: (opts, ctx) => {
    if (ctx.workers > 1) {
      const cluster: ClusterDataplaneOptions = {
        workers: ctx.workers,
        record: "local",
        logFormat: ctx.logFormat,
        logLevel: ctx.logLevel,
        log: ctx.log,
      };
      if (opts.address !== undefined) cluster.address = opts.address;
      if (opts.limits !== undefined) cluster.limits = opts.limits;
      if (opts.retryBufferBytes !== undefined) cluster.retryBufferBytes = opts.retryBufferBytes;
      if (opts.transcodingBodyLimit !== undefined) cluster.transcodingBodyLimit = opts.transcodingBodyLimit;
      if (opts.portMap !== undefined) cluster.portMap = opts.portMap;
      if (opts.onCertificateGenerated !== undefined)
        cluster.onCertificateGenerated = opts.onCertificateGenerated;
      return new ClusterDataplane(cluster);
    }
    const missing = missingNodeFlags(process.execArgv);
    if (missing.length > 0) {
      ctx.log.debug(
        { missing },
        "node was started without the gateway's heap flags (the grpcroute command sets them): streaming may cost more CPU",
      );
    }
    return new Dataplane(opts);
  },
};

/** The real pipeline: files, the translator and the relay data plane. */
const deps: GatewayDeps = {
  ...pipelineDeps,
  createSource: (files, { watch, debounceMs, pollIntervalMs, log }) =>
    new FileSource(files, {
      watch,
      debounceMs,
      pollIntervalMs,
      onError: (err) =>
        log.warn({ code: err.code, reason: err.message }, "watching the files failed; retrying"),
    }),
};

export async function run(argv: string[]): Promise<number> {
  const parsed = parseServeArgs(argv);
  if (parsed.kind === "help") {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  if (parsed.kind === "error") {
    process.stderr.write(
      `grpcroute serve: ${parsed.message}\nRun \`grpcroute serve --help\` for the options.\n`,
    );
    return 2;
  }
  return serveGateway(parsed.options, deps);
}
