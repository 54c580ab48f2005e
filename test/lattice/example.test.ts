/**
 * examples/lattice/README.md shows the example's `plan` output and assigned domain name: both must match
 * what grpcroute computes today. `UPDATE_GOLDEN=1` rewrites the README's plan block.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { loadPaths } from "../../src/api/parse.js";
import { routeAuthorities } from "../../src/lattice/domains.js";
import { planDocument, planLattice } from "../../src/plan/lattice.js";
import { translate } from "../../src/translate/translator.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/lattice/", import.meta.url));
const README = `${EXAMPLE}README.md`;
const BLOCK = /(## The Lattice resources it becomes[\s\S]*?```yaml\n)([\s\S]*?)(```)/;

test("examples/lattice: the AWS GRPCRoute page's example plans cleanly and its README shows the current plan", async () => {
  const loaded = await loadPaths([EXAMPLE]);
  assert.deepEqual(loaded.fatal, []);
  assert.deepEqual(
    loaded.issues.filter((i) => i.severity === "error"),
    [],
  );
  const result = translate(loaded.resources, {});
  const { plan, issues } = planLattice(loaded.resources, result);
  assert.deepEqual(issues, []);
  const want = stringify(planDocument(plan, issues), { lineWidth: 0 });

  const readme = readFileSync(README, "utf8");
  const m = BLOCK.exec(readme);
  assert.ok(m, "README.md has a yaml block under 'The Lattice resources it becomes'");
  if (process.env.UPDATE_GOLDEN === "1") {
    writeFileSync(
      README,
      readme.replace(BLOCK, (_all, a: string, _b: string, c: string) => `${a}${want}${c}`),
    );
    return;
  }
  assert.equal(m[2], want, "examples/lattice/README.md plan is stale (UPDATE_GOLDEN=1 rewrites it)");

  const route = loaded.resources.grpcRoutes[0];
  assert.ok(route);
  const assigned = routeAuthorities(route)[0] ?? "";
  assert.ok(readme.includes(assigned), `README.md names the assigned domain ${assigned}`);
  assert.equal(
    result.status.routeAnnotations.get("default/greeter-grpc-route")?.[
      "application-networking.k8s.aws/lattice-assigned-domain-name"
    ],
    assigned,
  );
});
