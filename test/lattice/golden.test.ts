/**
 * Lattice golden cases: each `testdata/lattice/<case>.in.yaml` (plus the shared fixtures in
 * `testdata/lattice/base/`) is read, translated and planned; the Gateway and route status (with the
 * annotations we report), the Lattice plan and its issues are compared with `<case>.out.yaml`.
 * `UPDATE_GOLDEN=1` rewrites the outputs; without it a difference fails.
 */
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { formatIssue, loadPaths } from "../../src/api/parse.js";
import { planDocument, planLattice } from "../../src/plan/lattice.js";
import { translate } from "../../src/translate/translator.js";
import { goldenSuite } from "../helpers/golden.js";

const DIR = fileURLToPath(new URL("../../testdata/lattice/", import.meta.url));
const BASE = join(DIR, "base");

function sortedMap<V>(m: Map<string, V>): Record<string, V> {
  return Object.fromEntries([...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Everything a reviewer needs to read for one case, in one document. */
export async function renderCase(inFile: string): Promise<string> {
  const loaded = await loadPaths([BASE, inFile]);
  const result = translate(loaded.resources, {});
  const { plan, issues } = planLattice(loaded.resources, result);
  const routes: Record<string, unknown> = {};
  for (const [key, status] of Object.entries(sortedMap(result.status.grpcRoutes))) {
    routes[key] = { annotations: result.status.routeAnnotations.get(key) ?? {}, status };
  }
  const doc = {
    // Objects the reader rejected never reach the translator: show why, with file names relative to testdata.
    inputIssues: [...loaded.fatal, ...loaded.issues.filter((i) => i.severity === "error")].map((i) =>
      formatIssue(
        i.origin === undefined ? i : { ...i, origin: { ...i.origin, file: basename(i.origin.file) } },
      ),
    ),
    gateways: sortedMap(result.status.gateways),
    grpcRoutes: routes,
    plan: planDocument(plan, issues),
  };
  // Only the cases that have TargetGroupPolicies show their status (the AWS controller's status.conditions).
  if (result.status.targetGroupPolicies.size > 0) {
    Object.assign(doc, { targetGroupPolicies: sortedMap(result.status.targetGroupPolicies) });
  }
  return stringify(doc, { lineWidth: 0 });
}

goldenSuite("lattice", DIR, "node scripts/run-tests.mjs test/lattice/golden", renderCase);
