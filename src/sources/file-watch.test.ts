/**
 * The file source follows every way files really change (test/helpers/watch-scenarios.ts), once through
 * file-system events alone and once through the fingerprint poll alone, so each mechanism is shown to be
 * enough by itself.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { SourceProbe } from "../../test/helpers/source-probe.js";
import { type Served, WATCH_SCENARIOS } from "../../test/helpers/watch-scenarios.js";
import { FileSource, type FileSourceOptions } from "./file-source.js";
import type { Snapshot } from "./source.js";

/** Version `v` of any object is a Namespace named `v`. */
const manifest = (_name: string, v: string): string =>
  `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${v}}\n`;
const versions = (s: Snapshot): string[] => s.resources.namespaces.map((n) => n.metadata.name).sort();

function matches(s: Snapshot, want: Served): boolean {
  if ("unreadable" in want) return s.fatal.length > 0;
  return s.fatal.length === 0 && isDeepEqual(versions(s), [...want.versions].sort());
}

function isDeepEqual(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const MODES: { name: string; options: FileSourceOptions }[] = [
  { name: "file-system events only", options: { watch: true, debounceMs: 20, pollIntervalMs: 0 } },
  { name: "the poll only", options: { watch: true, debounceMs: 20, pollIntervalMs: 50, events: false } },
];

const dirs: string[] = [];
const probes: SourceProbe[] = [];
after(async () => {
  for (const p of probes) await p.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

for (const mode of MODES) {
  describe(`FileSource sees every change through ${mode.name}`, { timeout: 60_000 }, () => {
    for (const scenario of WATCH_SCENARIOS) {
      test(scenario.name, async () => {
        const root = await mkdtemp(join(tmpdir(), "grpcroute-watch-"));
        dirs.push(root);
        const { paths, initial, steps } = scenario.setup(root, manifest);
        const p = new SourceProbe(new FileSource(paths, mode.options));
        probes.push(p);
        const first = await p.next("the first snapshot");
        assert.deepEqual(versions(first), initial);
        for (const step of steps) {
          step.run();
          await p.until(
            (s) => matches(s, step.expect),
            `"${step.what}" to be seen (${JSON.stringify(step.expect)})`,
          );
        }
        await p.stop();
      });
    }
  });
}
