/**
 * Lattice golden cases: each `testdata/lattice/<case>.in.yaml` (plus the shared fixtures in
 * `testdata/lattice/base/`) is read, translated and planned; the Gateway and route status (with the
 * annotations we report), the Lattice plan and its issues are compared with `<case>.out.yaml`.
 * `UPDATE_GOLDEN=1` rewrites the outputs; without it a difference fails.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { formatIssue, loadPaths } from "../../src/api/parse.js";
import { planDocument, planLattice } from "../../src/lattice/plan.js";
import { translate } from "../../src/translate/translator.js";

const DIR = fileURLToPath(new URL("../../testdata/lattice/", import.meta.url));
const BASE = join(DIR, "base");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

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
  return stringify(doc, { lineWidth: 0 });
}

const cases = readdirSync(DIR)
  .filter((f) => f.endsWith(".in.yaml"))
  .sort();

test("there are Lattice golden cases", () => {
  assert.ok(cases.length > 0);
});

for (const file of cases) {
  const name = file.slice(0, -".in.yaml".length);
  test(`lattice golden: ${name}`, async () => {
    const got = await renderCase(join(DIR, file));
    const outFile = join(DIR, `${name}.out.yaml`);
    if (UPDATE) {
      writeFileSync(outFile, got);
      return;
    }
    let want: string;
    try {
      want = readFileSync(outFile, "utf8");
    } catch {
      assert.fail(
        `${outFile} is missing: run UPDATE_GOLDEN=1 node scripts/run-tests.mjs test/lattice/golden`,
      );
    }
    assert.equal(got, want, `${name}: output differs from ${name}.out.yaml (UPDATE_GOLDEN=1 regenerates)`);
  });
}
