/**
 * planLattice never throws on what the reader accepts: every manifest under testdata/ (valid, invalid and
 * hostile cases of every part), each read alone and then as a Lattice Gateway's routes, is translated and
 * planned.
 */
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadPaths } from "../../src/api/parse.js";
import { planLattice } from "../../src/plan/lattice.js";
import { translate } from "../../src/translate/translator.js";

const TESTDATA = fileURLToPath(new URL("../../testdata/", import.meta.url));

function manifests(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) manifests(p, out);
    else if (/\.(ya?ml|json)$/.test(name)) out.push(p);
  }
  return out;
}

test("plan never throws on any manifest in testdata, as written or moved to the Lattice class", async () => {
  const files = manifests(TESTDATA);
  assert.ok(files.length > 0);
  for (const file of files) {
    const loaded = await loadPaths([file]);
    const variants = [loaded.resources, structuredClone(loaded.resources)];
    for (const gw of variants[1]?.gateways ?? []) gw.spec.gatewayClassName = "amazon-vpc-lattice";
    if (variants[1]) variants[1].gatewayClasses = [];
    for (const resources of variants) {
      const result = translate(resources, {});
      const { plan, issues } = planLattice(resources, result);
      assert.ok(Array.isArray(plan.services) && Array.isArray(issues), file);
      for (const i of issues) assert.ok(i.message.length > 0, `${file}: an issue without a message`);
    }
  }
});
