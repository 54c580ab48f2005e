/**
 * deploy/'s RBAC against the requests the controller really made: `kubectl kustomize deploy/` (Debian's
 * kubectl; CI installs it) renders the manifests, and every logged request must be allowed by the
 * ClusterRole, or by the Role in the namespace the Role lives in. Discovery (`/api`, `/apis/...`) is
 * allowed to every authenticated user by Kubernetes' own `system:discovery` role.
 * @internal test-only
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../e2e/support/gateway-process.js";
import type { RequestRecord } from "./fake/apiserver.js";
import { objects } from "./support.js";

export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** The rendered deploy/ objects; throws with a clear message when kubectl is missing. */
export function renderDeploy(): Record<string, unknown>[] {
  let text: string;
  try {
    text = execFileSync("kubectl", ["kustomize", join(ROOT, "deploy")], { encoding: "utf8" });
  } catch (err: unknown) {
    const code = (err as { code?: unknown }).code;
    throw new Error(
      code === "ENOENT"
        ? "kubectl is not installed: `apt-get install -y kubectl` (Debian's; .ci/run installs it) to check deploy/"
        : `kubectl kustomize deploy/ failed: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return objects(text);
}

function allows(rules: Rule[], r: RequestRecord): boolean {
  const resource = r.subresource === "" ? r.resource : `${r.resource}/${r.subresource}`;
  return rules.some(
    (rule) =>
      (rule.apiGroups.includes(r.group) || rule.apiGroups.includes("*")) &&
      (rule.resources.includes(resource) || rule.resources.includes("*")) &&
      (rule.verbs.includes(r.verb) || rule.verbs.includes("*")),
  );
}

/** The resources of the policy kinds, checked by test/kube/policies.test.ts; the others by controller.test.ts. */
const POLICY_RESOURCES = new Set(["trafficpolicies", "backendtlspolicies", "configmaps"]);

/** Whether a rule grants on a policy kind (or its status, or ConfigMaps). */
export function isPolicyRule(rule: Rule): boolean {
  return rule.resources.some((r) => POLICY_RESOURCES.has(r.split("/")[0] ?? ""));
}

/** Resources read only with `--lattice`, checked by test/kube/target-group-policy.test.ts. */
const LATTICE_RESOURCES = new Set(["targetgrouppolicies"]);

/** Whether a rule grants on a kind controller mode reads only with `--lattice` (or its status). */
export function isLatticeRule(rule: Rule): boolean {
  return rule.resources.some((r) => LATTICE_RESOURCES.has(r.split("/")[0] ?? ""));
}

/**
 * Fails naming every request deploy/'s RBAC would refuse, and every rule of `mustUse` (default: all) no
 * request used. Each test file that runs controllers checks the rules its scenarios cover, so that together
 * they cover every rule.
 */
export function checkRbac(
  requests: readonly RequestRecord[],
  mustUse: (rule: Rule) => boolean = () => true,
): void {
  const docs = renderDeploy();
  const clusterRules = docs
    .filter((d) => d.kind === "ClusterRole")
    .flatMap((d) => (d.rules as Rule[] | undefined) ?? []);
  const roles = docs
    .filter((d) => d.kind === "Role")
    .map((d) => ({
      ns: String((d.metadata as { namespace?: string }).namespace),
      rules: (d.rules as Rule[]) ?? [],
    }));
  const refused = new Set<string>();
  const used = new Set<Rule>();
  for (const r of requests) {
    if (r.resource === "") continue; // discovery
    const roleRules = roles.filter((x) => x.ns === r.namespace).flatMap((x) => x.rules);
    const all = [...clusterRules, ...roleRules];
    if (!allows(all, r)) {
      refused.add(
        `${r.verb} ${r.group || "core"}/${r.resource}${r.subresource ? `/${r.subresource}` : ""}${r.namespace ? ` in ${r.namespace}` : ""}`,
      );
      continue;
    }
    for (const rule of all) if (allows([rule], r)) used.add(rule);
  }
  assert.deepEqual([...refused], [], `requests deploy/'s RBAC does not allow:\n${[...refused].join("\n")}`);
  // Least privilege: every rule is needed by some request.
  const unused = [...clusterRules, ...roles.flatMap((x) => x.rules)].filter(
    (rule) => mustUse(rule) && !used.has(rule),
  );
  assert.deepEqual(unused, [], "rules no request used (grant less)");
}
