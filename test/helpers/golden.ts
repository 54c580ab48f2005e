/**
 * The golden-file harness shared by the translator and Lattice suites: every `<case>.in.yaml` of a folder
 * is rendered and compared with `<case>.out.yaml`. `UPDATE_GOLDEN=1` rewrites the outputs; without it a
 * difference fails, naming the first changed line so a failure reads without a diff tool.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const UPDATE = process.env.UPDATE_GOLDEN === "1";

/** A short description of the first difference between two texts. */
export function firstDifference(got: string, want: string): string {
  const g = got.split("\n");
  const w = want.split("\n");
  for (let i = 0; i < Math.max(g.length, w.length); i++) {
    if (g[i] !== w[i]) {
      return `first difference at line ${i + 1}:\n  want: ${w[i] ?? "(end of file)"}\n  got:  ${g[i] ?? "(end of file)"}`;
    }
  }
  return "no difference";
}

/**
 * Registers one test per case of `dir`, plus one that fails when the folder has no case.
 * `label` names the suite in test titles; `rerun` is the command that regenerates the outputs.
 */
export function goldenSuite(
  label: string,
  dir: string,
  rerun: string,
  render: (inFile: string) => Promise<string>,
): void {
  const cases = readdirSync(dir)
    .filter((f) => f.endsWith(".in.yaml"))
    .sort();

  test(`there are ${label} golden cases`, () => {
    assert.ok(cases.length > 0, `no *.in.yaml in ${dir}`);
  });

  for (const file of cases) {
    const name = file.slice(0, -".in.yaml".length);
    test(`${label} golden: ${name}`, async () => {
      const got = await render(join(dir, file));
      const outFile = join(dir, `${name}.out.yaml`);
      if (UPDATE) {
        writeFileSync(outFile, got);
        return;
      }
      let want: string;
      try {
        want = readFileSync(outFile, "utf8");
      } catch {
        assert.fail(`${outFile} is missing: run UPDATE_GOLDEN=1 ${rerun}`);
      }
      if (got !== want) {
        assert.fail(
          `${name}: output differs from ${name}.out.yaml (UPDATE_GOLDEN=1 ${rerun} regenerates it; review the diff)\n${firstDifference(got, want)}`,
        );
      }
    });
  }
}
