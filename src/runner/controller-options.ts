/**
 * `grpcroute controller` options: the data-plane flags of `serve` (parsed by `readDataplaneFlags`) plus
 * where the API server is and how replicas elect the status writer. Bad flags never throw: they come back as
 * a message naming the flag, the value and what is expected (the command prints it and exits 2).
 */
import { parseArgs } from "node:util";
import {
  DEFAULT_LEASE_DURATION_S,
  DEFAULT_RENEW_DEADLINE_S,
  DEFAULT_RETRY_PERIOD_S,
} from "../kube/leader.js";
import {
  DATAPLANE_ARGS,
  type DataplaneFlagOptions,
  dataplaneUsage,
  type FlagValues,
  type ParseResult,
  readDataplaneFlags,
} from "./options.js";

export const DEFAULT_LEASE_NAME = "grpcroute-leader";

export interface ControllerOptions extends DataplaneFlagOptions {
  /** `--kubeconfig`; else `$KUBECONFIG`, the in-cluster service account, `~/.kube/config`. */
  kubeconfig?: string;
  /** `--context`. */
  context?: string;
  /** `--leader-elect`: one replica at a time writes status, elected on a Lease. Default false. */
  leaderElect: boolean;
  /** `--lease-namespace`; default the service account's namespace (in cluster), else the context's, else `default`. */
  leaseNamespace?: string;
  /** `--lease-name`. Default {@link DEFAULT_LEASE_NAME}. */
  leaseName: string;
  /** Seconds. Defaults are client-go's: 15, 10 and 2. */
  leaseDurationS: number;
  renewDeadlineS: number;
  retryPeriodS: number;
  /** `--lattice`: also serve (and write status for) Lattice-profile GatewayClasses. Default false. */
  latticeClasses: boolean;
}

export const CONTROLLER_USAGE = `usage: grpcroute controller [options]

Runs the gateway in a Kubernetes cluster: lists and watches GatewayClass, Gateway, GRPCRoute, ReferenceGrant,
Namespace, Service, Secret (kubernetes.io/tls), EndpointSlice, TrafficPolicy, BackendTLSPolicy, the CA
ConfigMaps they name and, with --lattice, TargetGroupPolicy on the API server, serves the listeners of the
Gateways of our GatewayClasses (controllerName grpcroute.dev/gateway-controller) and writes their status.

options:
      --kubeconfig PATH        kubeconfig file (default: $KUBECONFIG, else the in-cluster service account,
                               else ~/.kube/config)
      --context NAME           kubeconfig context (default: its current context)
      --leader-elect           elect one status writer among replicas on a coordination.k8s.io Lease
                               (every replica serves traffic); release it on SIGTERM
      --lease-namespace NS     namespace of the Lease (default: the Pod's, else the context's, else default)
      --lease-name NAME        name of the Lease (default ${DEFAULT_LEASE_NAME})
      --lease-duration S       how long a Lease holds without renewal (default ${DEFAULT_LEASE_DURATION_S})
      --renew-deadline S       how long the leader retries renewing before it stops leading (default ${DEFAULT_RENEW_DEADLINE_S})
      --retry-period S         how often candidates try and the leader renews (default ${DEFAULT_RETRY_PERIOD_S})
      --lattice                also serve Lattice-profile GatewayClasses (controllerName
                               application-networking.k8s.aws/gateway-api-controller): for clusters
                               without the AWS controller, such as CI clusters that emulate Lattice
${dataplaneUsage()}
  -h, --help                   show this help

Gateway status.addresses: --address when given, else the Pod IP ($POD_IP), else this host's name.
admin endpoints: /healthz /readyz (200 once the first full sync is applied and every listener is bound)
                 /config /status /metrics
signals: SIGTERM or SIGINT releases the Lease, drains calls in flight and exits 0.
`;

export type ControllerParseResult = ParseResult<ControllerOptions>;

export function parseControllerArgs(argv: string[]): ControllerParseResult {
  let values: FlagValues;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        kubeconfig: { type: "string" },
        context: { type: "string" },
        "leader-elect": { type: "boolean" },
        "lease-namespace": { type: "string" },
        "lease-name": { type: "string" },
        "lease-duration": { type: "string" },
        "renew-deadline": { type: "string" },
        "retry-period": { type: "string" },
        lattice: { type: "boolean" },
        ...DATAPLANE_ARGS,
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err: unknown) {
    return { kind: "error", message: err instanceof Error ? err.message : String(err) };
  }
  if (values.help === true) return { kind: "help" };
  if (positionals.length > 0) {
    return {
      kind: "error",
      message: `unexpected argument "${positionals[0]}": controller reads the API server`,
    };
  }
  const shared = readDataplaneFlags(values);
  if (typeof shared === "string") return { kind: "error", message: shared };

  const seconds = (flag: string, dflt: number): number | string => {
    const v = values[flag];
    if (typeof v !== "string") return dflt;
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 3600) {
      return `--${flag} "${v}": expected a whole number of seconds, 1..3600`;
    }
    return Number(v);
  };
  const duration = seconds("lease-duration", DEFAULT_LEASE_DURATION_S);
  const renew = seconds("renew-deadline", DEFAULT_RENEW_DEADLINE_S);
  const retry = seconds("retry-period", DEFAULT_RETRY_PERIOD_S);
  for (const v of [duration, renew, retry]) if (typeof v === "string") return { kind: "error", message: v };
  const [d, r, p] = [duration as number, renew as number, retry as number];
  // client-go's own checks: a leader must give up before its Lease can be taken, and retry before that.
  if (!(d > r)) {
    return { kind: "error", message: `--lease-duration ${d} must be greater than --renew-deadline ${r}` };
  }
  if (!(r > p)) {
    return { kind: "error", message: `--renew-deadline ${r} must be greater than --retry-period ${p}` };
  }

  const text = (flag: string): string | undefined | Error => {
    const v = values[flag];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v === "") return new Error(`--${flag}: the value is empty`);
    return v;
  };
  const kubeconfig = text("kubeconfig");
  const context = text("context");
  const leaseNamespace = text("lease-namespace");
  const leaseName = text("lease-name") ?? DEFAULT_LEASE_NAME;
  for (const v of [kubeconfig, context, leaseNamespace, leaseName]) {
    if (v instanceof Error) return { kind: "error", message: v.message };
  }
  const dns = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  if (typeof leaseNamespace === "string" && !dns.test(leaseNamespace)) {
    return { kind: "error", message: `--lease-namespace "${leaseNamespace}": not a namespace name` };
  }
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(leaseName as string)) {
    return { kind: "error", message: `--lease-name "${String(leaseName)}": not an object name` };
  }

  const options: ControllerOptions = {
    ...shared,
    leaderElect: values["leader-elect"] === true,
    leaseName: leaseName as string,
    leaseDurationS: d,
    renewDeadlineS: r,
    retryPeriodS: p,
    latticeClasses: values.lattice === true,
  };
  if (typeof kubeconfig === "string") options.kubeconfig = kubeconfig;
  if (typeof context === "string") options.context = context;
  if (typeof leaseNamespace === "string") options.leaseNamespace = leaseNamespace;
  return { kind: "ok", options };
}
