/**
 * The bundled examples are what users copy first: each example folder must read without a single
 * rejected object, so a schema rule that is too strict shows up here.
 */
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { isManifestName } from "../../src/api/files.js";
import { formatIssue, loadPaths } from "../../src/api/parse.js";

const root = fileURLToPath(new URL("../../examples/", import.meta.url));

function folders(dir: string, out: string[] = []): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return out;
  }
  if (names.some(isManifestName)) out.push(dir);
  for (const n of names) {
    const p = join(dir, n);
    if (!n.startsWith(".") && statSync(p).isDirectory()) folders(p, out);
  }
  return out;
}

for (const dir of folders(root)) {
  test(`example folder reads cleanly: ${dir.slice(root.length) || "."}`, async () => {
    const files = readdirSync(dir)
      .filter(isManifestName)
      .map((n) => join(dir, n));
    const res = await loadPaths(files);
    assert.deepEqual(res.fatal.map(formatIssue), []);
    assert.deepEqual(res.issues.filter((i) => i.severity === "error").map(formatIssue), []);
    assert.ok(
      res.resources.gateways.length + res.resources.grpcRoutes.length > 0,
      "the folder holds a gateway or route",
    );
  });
}
