/**
 * Finding the API server and credentials as kubectl and client-go's controllers find them:
 * `--kubeconfig PATH`, else `$KUBECONFIG` (a list of files, merged), else the in-cluster service account
 * (`KUBERNETES_SERVICE_HOST` and the mounted token), else `~/.kube/config`. Loading, CA, bearer tokens,
 * client certificates and exec credential plugins are @kubernetes/client-node's; only the order is ours
 * (client-node's `loadFromDefault` tries `~/.kube/config` before the service account).
 *
 * Every failure is a {@link GatewayError} `GW_ERR_KUBE_CONFIG` whose message names the file or context.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { GatewayError, GW_ERR_KUBE_CONFIG } from "../util/errors.js";

/** Where the kubelet mounts a Pod's service account. */
export const SERVICE_ACCOUNT_ROOT = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface KubeConfigOptions {
  /** `--kubeconfig`. */
  kubeconfig?: string;
  /** `--context`: a context of the kubeconfig other than its current one. */
  context?: string;
  /** The environment (tests pass their own). Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** The service account folder. Default {@link SERVICE_ACCOUNT_ROOT}. */
  serviceAccountRoot?: string;
  /** Home folder. Default `os.homedir()`. */
  home?: string;
}

/** A loaded configuration, and where it came from (for the start-up log line). */
export interface LoadedKubeConfig {
  config: KubeConfig;
  /** `--kubeconfig <path>`, `$KUBECONFIG <paths>`, `in-cluster service account`, `~/.kube/config (<path>)`. */
  from: string;
  server: string;
  /** The namespace of the service account when in cluster (the default Lease namespace), or the context's. */
  namespace?: string;
}

/** Loads the configuration in the order of the module comment. Throws GW_ERR_KUBE_CONFIG. */
export function loadKubeConfig(opts: KubeConfigOptions = {}): LoadedKubeConfig {
  const env = opts.env ?? process.env;
  const kc = new KubeConfig();
  let from: string;
  try {
    if (opts.kubeconfig !== undefined) {
      from = `--kubeconfig ${opts.kubeconfig}`;
      if (!existsSync(opts.kubeconfig)) throw new Error(`${opts.kubeconfig}: no such file`);
      kc.loadFromFile(opts.kubeconfig);
    } else if (env.KUBECONFIG !== undefined && env.KUBECONFIG !== "") {
      from = `$KUBECONFIG ${env.KUBECONFIG}`;
      const files = env.KUBECONFIG.split(process.platform === "win32" ? ";" : ":").filter((f) => f !== "");
      const missing = files.filter((f) => !existsSync(f));
      if (missing.length === files.length) throw new Error(`${missing.join(", ")}: no such file`);
      const present = files.filter((f) => existsSync(f));
      kc.loadFromFile(present[0] ?? "");
      for (const f of present.slice(1)) {
        const more = new KubeConfig();
        more.loadFromFile(f);
        kc.mergeConfig(more);
      }
    } else if (inCluster(env, opts.serviceAccountRoot ?? SERVICE_ACCOUNT_ROOT)) {
      from = "in-cluster service account";
      const root = opts.serviceAccountRoot ?? SERVICE_ACCOUNT_ROOT;
      loadInCluster(kc, env, root);
    } else {
      const file = join(opts.home ?? homedir(), ".kube", "config");
      from = `~/.kube/config (${file})`;
      if (!existsSync(file)) {
        throw new Error(
          `no configuration found: no --kubeconfig, no $KUBECONFIG, not in a cluster (no KUBERNETES_SERVICE_HOST and service account token), and no ${file}`,
        );
      }
      kc.loadFromFile(file);
    }
  } catch (err: unknown) {
    if (GatewayError.is(err)) throw err;
    throw new GatewayError(GW_ERR_KUBE_CONFIG, `cannot load the kubeconfig: ${firstLine(err)}`, {
      cause: err,
    });
  }
  if (opts.context !== undefined) {
    if (kc.getContextObject(opts.context) === null) {
      const names = kc.getContexts().map((c) => c.name);
      throw new GatewayError(
        GW_ERR_KUBE_CONFIG,
        `--context ${opts.context}: no such context in ${from} (contexts: ${names.join(", ") || "none"})`,
      );
    }
    kc.setCurrentContext(opts.context);
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null || cluster.server === "") {
    throw new GatewayError(
      GW_ERR_KUBE_CONFIG,
      `${from}: the current context "${kc.getCurrentContext()}" names no cluster with a server address`,
    );
  }
  const out: LoadedKubeConfig = { config: kc, from, server: cluster.server.replace(/\/+$/, "") };
  const ns = kc.getContextObject(kc.getCurrentContext())?.namespace;
  if (ns !== undefined && ns !== "") out.namespace = ns;
  return out;
}

function inCluster(env: NodeJS.ProcessEnv, root: string): boolean {
  return (
    env.KUBERNETES_SERVICE_HOST !== undefined &&
    env.KUBERNETES_SERVICE_HOST !== "" &&
    existsSync(join(root, "token"))
  );
}

/** client-node's `loadFromCluster`, with the folder and environment given (it reads `process.env`). */
function loadInCluster(kc: KubeConfig, env: NodeJS.ProcessEnv, root: string): void {
  const host = env.KUBERNETES_SERVICE_HOST ?? "";
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  const hostPort = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const namespaceFile = join(root, "namespace");
  kc.loadFromOptions({
    clusters: [{ name: "in-cluster", server: `https://${hostPort}`, caFile: join(root, "ca.crt") }],
    users: [
      { name: "in-cluster", authProvider: { name: "tokenFile", config: { tokenFile: join(root, "token") } } },
    ],
    contexts: [
      {
        name: "in-cluster",
        cluster: "in-cluster",
        user: "in-cluster",
        ...(existsSync(namespaceFile) ? { namespace: readNamespace(namespaceFile) } : {}),
      },
    ],
    currentContext: "in-cluster",
  });
}

function readNamespace(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0] ?? text;
}
