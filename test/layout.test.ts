/**
 * Every import under src/ runs one way, from the commands down to the shared types (architecture.md 2.1).
 * Biome's noImportCycles catches cycles between files; this catches an import that runs upward between
 * folders without closing a cycle yet (runner/options.ts once imported cli/, and lattice/ both fed the
 * translator and consumed its result).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

/**
 * Layers, lowest first: a folder may import its own files and the folders of lower layers only. Folders of
 * one layer do not import each other.
 */
const LAYERS: readonly (readonly string[])[] = [
  ["util", "version.ts"],
  ["api", "ir"],
  // The Lattice rules (limits, names, checks, priorities) sit below the translator that applies them.
  ["lattice", "dataplane"],
  ["translate", "log"],
  // Above the translator: what reads its input (sources), serves its output (admin) and plans from it.
  ["sources", "admin", "plan"],
  // The Kubernetes API server: a source of snapshots and the sink of status.
  ["kube"],
  ["runner"],
  ["cli"],
];

function rankOf(top: string): number {
  const i = LAYERS.findIndex((l) => l.includes(top));
  return i;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

/** Relative module specifiers of a file's static imports, re-exports and dynamic imports. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.[^"']+)["']/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) out.push(m[1] ?? "");
  return out;
}

function topOf(file: string): string {
  return relative(SRC, file).split(/[\\/]/)[0] ?? "";
}

test("every folder under src/ belongs to a layer", () => {
  const unknown = [...new Set(walk(SRC).map(topOf))].filter((t) => rankOf(t) < 0);
  assert.deepEqual(unknown, [], `add these to LAYERS in test/layout.test.ts: ${unknown.join(", ")}`);
});

test("imports under src/ run downward only", () => {
  const upward: string[] = [];
  for (const file of walk(SRC)) {
    const from = topOf(file);
    for (const spec of specifiers(readFileSync(file, "utf8"))) {
      const target = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
      const to = topOf(target);
      if (to === from) continue;
      if (!(rankOf(to) < rankOf(from))) {
        upward.push(`${relative(SRC, file)} imports ${spec} (${from} may not import ${to})`);
      }
    }
  }
  assert.deepEqual(upward, [], `upward or sideways imports:\n${upward.join("\n")}`);
});

test("the check sees an upward import", () => {
  // Guards the regular expression: the import that used to run upward is still recognised as one.
  assert.deepEqual(specifiers('import { x } from "../cli/lattice-flags.js";'), ["../cli/lattice-flags.js"]);
  assert.deepEqual(specifiers('const m = await import("./commands/serve.js");'), ["./commands/serve.js"]);
  assert.ok(rankOf("runner") < rankOf("cli") && rankOf("lattice") < rankOf("translate"));
  assert.ok(rankOf("plan") > rankOf("translate"));
});
