/**
 * `grpcroute controller`: the same gateway as `serve` (data plane, workers, admin server, metrics, logs,
 * signals: {@link startPipeline}) with the API server as its source and its status sink:
 *
 *   KubeSource (list + watch) ──Snapshot──> translate ──table──> data plane   (every replica)
 *                                                    └─status─> StatusWriter   (the leader only)
 *   LeaderElector (Lease) ──leading──> StatusWriter
 */
import { isIP } from "node:net";
import type { GatewayStatus } from "../api/types.js";
import { KubeClient } from "../kube/client.js";
import { type LoadedKubeConfig, loadKubeConfig } from "../kube/config.js";
import { kindsFor } from "../kube/kinds.js";
import { LeaderElector } from "../kube/leader.js";
import { KubeSource } from "../kube/source.js";
import { nowSeconds, StatusWriter } from "../kube/status-writer.js";
import { stampReport } from "../translate/status/transition.js";
import { CONTROLLER_NAME, LATTICE_CONTROLLER_NAME } from "../translate/types.js";
import { GatewayError } from "../util/errors.js";
import type { ControllerOptions } from "./controller-options.js";
import { type GatewayDeps, type GatewayEnv, gatewayAddresses, startPipeline } from "./gateway.js";

/** Gateway `status.addresses` in a cluster: `--address` when specific, else `$POD_IP`, else the host name. */
export function controllerAddresses(
  address: string | undefined,
  podIp: string | undefined,
): GatewayStatus["addresses"] {
  const specific = address !== undefined && address !== "0.0.0.0" && address !== "::";
  if (specific) return gatewayAddresses(address);
  if (podIp !== undefined && isIP(podIp) !== 0) return [{ type: "IPAddress", value: podIp }];
  return gatewayAddresses(undefined);
}

/** Runs the controller until a signal stops it; returns the exit code (2: a bad kubeconfig). */
export async function runController(
  opts: ControllerOptions,
  deps: Omit<GatewayDeps, "createSource">,
  env: GatewayEnv = {},
): Promise<number> {
  const stderr = env.stderr ?? ((t: string) => process.stderr.write(t));
  let loaded: LoadedKubeConfig;
  try {
    loaded = loadKubeConfig({
      ...(opts.kubeconfig !== undefined ? { kubeconfig: opts.kubeconfig } : {}),
      ...(opts.context !== undefined ? { context: opts.context } : {}),
    });
  } catch (err: unknown) {
    const e = GatewayError.is(err) ? err : undefined;
    stderr(
      `grpcroute controller: ${e?.code ?? "GW_ERR_KUBE_CONFIG"}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    return 2;
  }
  const client = new KubeClient(loaded.config, loaded.server);
  const names = opts.latticeClasses ? [CONTROLLER_NAME, LATTICE_CONTROLLER_NAME] : [CONTROLLER_NAME];
  const abort = new AbortController();
  let elector: LeaderElector | undefined;
  let electing: Promise<void> = Promise.resolve();
  let writer: StatusWriter | undefined;
  let source: KubeSource | undefined;

  const started = await startPipeline(
    opts,
    (log) => {
      // TargetGroupPolicy is the AWS controller's unless we emulate Lattice: not even listed then.
      const src = new KubeSource(client, { log, kinds: kindsFor({ lattice: opts.latticeClasses }) });
      source = src;
      const w = new StatusWriter({
        client,
        log,
        live: (kind, ns, name) => src.live(kind, ns, name),
        spec: (kind) => src.spec(kind),
        controllerNames: names,
        classControllerNames: names,
        isLeader: () => elector === undefined || elector.leading,
      });
      writer = w;
      if (opts.leaderElect) {
        elector = new LeaderElector({
          client,
          log,
          namespace: opts.leaseNamespace ?? loaded.namespace ?? "default",
          name: opts.leaseName,
          leaseDurationS: opts.leaseDurationS,
          renewDeadlineS: opts.renewDeadlineS,
          retryPeriodS: opts.retryPeriodS,
          onStartedLeading: () => w.kick(),
          onStoppedLeading: () => {},
        });
      }
      return {
        source: src,
        translateOptions: {
          lattice: opts.lattice,
          addresses: controllerAddresses(opts.address, process.env.POD_IP),
          cluster: { lattice: opts.latticeClasses },
        },
        renderStatus: (resources, status, issues) =>
          deps.renderStatus(
            resources,
            // `/status` shows the times the API server holds (or would hold after the next write).
            stampReport(status, nowSeconds(), (kind, key) => {
              const i = key.indexOf("/");
              return src.live(kind, key.slice(0, i), key.slice(i + 1))?.status;
            }),
            issues,
          ),
        statusSink: w,
        describe: {
          apiServer: loaded.server,
          kubeconfig: loaded.from,
          leaderElect: opts.leaderElect,
          controllerNames: names,
        },
        waitForFirst: false,
        beforeStop: async () => {
          abort.abort();
          await electing;
          await writer?.stop();
        },
        afterStop: async () => {
          client.close();
        },
      };
    },
    deps,
    { handleSignals: true, ...env },
  );
  if (!("runner" in started)) {
    stderr(`grpcroute controller: ${started.message}\n`);
    return started.code;
  }
  if (elector !== undefined) electing = elector.run(abort.signal);
  void source;
  return started.exited;
}
