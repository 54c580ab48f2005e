import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { GatewayError } from "../util/errors.js";
import { loadKubeConfig } from "./config.js";

const dir = mkdtempSync(join(tmpdir(), "grpcroute-kubeconfig-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(name: string, server: string, contexts = ["main"]): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters:
- {name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}
users:
- {name: u, user: {token: t}}
contexts:
${contexts.map((c) => `- {name: ${c}, context: {cluster: c, user: u, namespace: ns-${c}}}`).join("\n")}
current-context: ${contexts[0]}
`,
  );
  return file;
}

const flag = kubeconfig("flag", "https://flag.example:6443");
const env1 = kubeconfig("env1", "https://env.example:6443");
const homeDir = join(dir, "home");
mkdirSync(join(homeDir, ".kube"), { recursive: true });
writeFileSync(join(homeDir, ".kube", "config"), readFileSync(kubeconfig("h", "https://home.example:6443")));
const sa = join(dir, "sa");
mkdirSync(sa);
writeFileSync(join(sa, "token"), "sa-token");
writeFileSync(join(sa, "ca.crt"), "");
writeFileSync(join(sa, "namespace"), "grpcroute-system\n");

test("the kubeconfig is found as kubectl and client-go find it", () => {
  const inCluster = { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" };
  const cases: { name: string; opts: Parameters<typeof loadKubeConfig>[0]; server: string; ns?: string }[] = [
    {
      name: "--kubeconfig first",
      opts: { kubeconfig: flag, env: { KUBECONFIG: env1, ...inCluster } },
      server: "https://flag.example:6443",
    },
    {
      name: "then $KUBECONFIG",
      opts: { env: { KUBECONFIG: `${join(dir, "missing")}:${env1}`, ...inCluster } },
      server: "https://env.example:6443",
    },
    {
      name: "then the in-cluster service account",
      opts: { env: inCluster, serviceAccountRoot: sa, home: homeDir },
      server: "https://10.0.0.1:443",
      ns: "grpcroute-system",
    },
    {
      name: "then ~/.kube/config",
      opts: { env: {}, serviceAccountRoot: sa, home: homeDir },
      server: "https://home.example:6443",
    },
  ];
  for (const c of cases) {
    const got = loadKubeConfig(c.opts);
    assert.equal(got.server, c.server, c.name);
    if (c.ns !== undefined) assert.equal(got.namespace, c.ns, c.name);
  }
});

test("a kubeconfig that cannot be used is GW_ERR_KUBE_CONFIG naming the file or context", () => {
  const empty = join(dir, "empty");
  writeFileSync(empty, "apiVersion: v1\nkind: Config\n");
  const cases: { name: string; opts: Parameters<typeof loadKubeConfig>[0]; want: RegExp }[] = [
    { name: "missing file", opts: { kubeconfig: join(dir, "nope") }, want: /nope: no such file/ },
    { name: "no cluster", opts: { kubeconfig: empty }, want: /names no cluster/ },
    {
      name: "unknown context",
      opts: { kubeconfig: flag, context: "other" },
      want: /--context other: no such context .* \(contexts: main\)/,
    },
    {
      name: "nothing at all",
      opts: { env: {}, serviceAccountRoot: join(dir, "none"), home: join(dir, "none") },
      want: /no configuration found/,
    },
  ];
  for (const c of cases) {
    assert.throws(
      () => loadKubeConfig(c.opts),
      (e: unknown) => GatewayError.is(e) && e.code === "GW_ERR_KUBE_CONFIG" && c.want.test(e.message),
      c.name,
    );
  }
});
