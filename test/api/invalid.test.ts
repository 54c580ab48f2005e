/**
 * Every manifest under testdata/invalid/<kind>/ must be rejected as an API server would reject it, with the
 * error its first line announces (`# error: <substring>`).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { formatIssue, loadPaths } from "../../src/api/parse.js";

const root = fileURLToPath(new URL("../../testdata/invalid/", import.meta.url));

function cases(): { kindDir: string; file: string }[] {
  const out: { kindDir: string; file: string }[] = [];
  for (const kindDir of readdirSync(root).sort()) {
    for (const name of readdirSync(join(root, kindDir)).sort()) {
      if (name.endsWith(".yaml")) out.push({ kindDir, file: join(root, kindDir, name) });
    }
  }
  return out;
}

const all = cases();

test("testdata/invalid holds cases", () => {
  assert.ok(all.length >= 30, `only ${all.length} cases`);
});

for (const { kindDir, file } of all) {
  test(`invalid: ${relative(root, file)}`, async () => {
    const first = readFileSync(file, "utf8").split("\n")[0] ?? "";
    const m = /^# error: (.+)$/.exec(first);
    assert.ok(m?.[1] !== undefined, `${file}: the first line must be "# error: <substring>"`);
    const want = m[1];
    const res = await loadPaths([file]);
    assert.deepEqual(res.fatal, [], "the case must parse");
    const total = Object.values(res.resources).reduce((n, list: unknown[]) => n + list.length, 0);
    assert.equal(total, 0, "the object must be rejected");
    const errors = res.issues.filter((i) => i.severity === "error");
    const lines = errors.map(formatIssue);
    assert.ok(
      lines.some((l) => l.includes(want)),
      `no error contains ${JSON.stringify(want)}; got:\n${lines.join("\n")}`,
    );
    for (const e of errors) {
      assert.equal(e.origin?.file, file, "the error names the file");
      assert.equal(e.origin?.index, 0, "and the document");
      assert.equal(e.ref?.kind.toLowerCase(), kindDir, "and the object's kind");
      assert.ok(e.ref?.name !== undefined && e.ref.name !== "", "and the object's name");
    }
  });
}
