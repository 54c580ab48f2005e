import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { SourceProbe } from "../../test/helpers/source-probe.js";
import { FileSource } from "./file-source.js";
import type { Snapshot } from "./source.js";

const ns = (name: string): string => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}}\n`;
const names = (s: Snapshot): string[] => s.resources.namespaces.map((n) => n.metadata.name);

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "grpcroute-source-"));
  dirs.push(d);
  return d;
}
const probes: SourceProbe<FileSource>[] = [];
function probe(paths: string[], watch: boolean): SourceProbe<FileSource> {
  const p = new SourceProbe(new FileSource(paths, { watch, debounceMs: 30 }));
  probes.push(p);
  return p;
}

after(async () => {
  for (const p of probes) await p.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("FileSource", { timeout: 20_000 }, () => {
  test("loads once without watch; reload() emits again; abort resolves run()", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "a.yaml"), ns("a"));
    const p = probe([dir], false);
    const first = await p.next();
    assert.equal(first.version, 1);
    assert.deepEqual(names(first), ["a"]);
    assert.deepEqual(first.fatal, []);
    await writeFile(join(dir, "b.yaml"), ns("b"));
    p.source.reload();
    const second = await p.next();
    assert.equal(second.version, 2);
    assert.deepEqual(names(second), ["a", "b"]);
    p.source.reload();
    assert.equal((await p.next()).version, 3, "reload emits even when nothing changed");
    await p.stop();
    p.source.reload();
    assert.equal(p.emitted, 3, "nothing is emitted after abort");
  });

  test("run() with an aborted signal resolves without emitting", async () => {
    const source = new FileSource([await tempDir()]);
    const c = new AbortController();
    c.abort();
    let emitted = 0;
    await source.run(c.signal, () => emitted++);
    assert.equal(emitted, 0);
    await assert.rejects(
      source.run(c.signal, () => {}),
      /only once/,
    );
  });

  test("watching a folder: new, changed and deleted files, in subfolders too", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "a.yaml"), ns("a"));
    const p = probe([dir], true);
    assert.deepEqual(names(await p.next()), ["a"]);

    await writeFile(join(dir, "b.yaml"), ns("b"));
    let s = await p.until((x) => names(x).includes("b"));
    assert.deepEqual(names(s), ["a", "b"]);

    await writeFile(join(dir, "a.yaml"), ns("a2"));
    s = await p.until((x) => names(x).includes("a2"));
    assert.deepEqual(names(s), ["a2", "b"]);

    await mkdir(join(dir, "sub"));
    await writeFile(join(dir, "sub", "c.yaml"), ns("c"));
    s = await p.until((x) => names(x).includes("c"));
    assert.deepEqual(names(s), ["a2", "b", "c"]);

    await unlink(join(dir, "b.yaml"));
    s = await p.until((x) => !names(x).includes("b"));
    assert.deepEqual(names(s), ["a2", "c"]);

    await writeFile(join(dir, "broken.yaml"), "a: b: c\n");
    s = await p.until((x) => x.fatal.length > 0);
    assert.match(s.fatal[0]!.message, /syntax error/);
    assert.deepEqual(names(s), ["a2", "c"], "the valid files are still read");
  });

  test("versions increase by one per snapshot", async () => {
    const dir = await tempDir();
    const p = probe([dir], true);
    const seen = [(await p.next()).version];
    for (const n of ["a", "b", "c"]) {
      await writeFile(join(dir, `${n}.yaml`), ns(n));
      seen.push((await p.until((x) => names(x).includes(n))).version);
    }
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!);
    assert.equal(seen[0], 1);
    assert.equal(p.emitted, seen[seen.length - 1], "no version is skipped");
  });

  test("a burst of writes ends in one snapshot with the final content", async () => {
    const dir = await tempDir();
    const p = probe([dir], true);
    await p.next();
    const all = ["a", "b", "c", "d", "e"];
    // Synchronous writes: no event can be handled between them, so the burst is one burst on any machine.
    for (const n of all) writeFileSync(join(dir, `${n}.yaml`), ns(n));
    const s = await p.until((x) => names(x).length > 0);
    assert.deepEqual(names(s), all, "the debounce waited for the burst to end");
  });

  test("watching one file that an editor replaces by rename", async () => {
    const dir = await tempDir();
    const file = join(dir, "route.yaml");
    await writeFile(file, ns("v1"));
    await writeFile(join(dir, "other.yaml"), ns("other"));
    const p = probe([file], true);
    assert.deepEqual(names(await p.next()), ["v1"]);
    for (const v of ["v2", "v3"]) {
      const tmp = join(dir, `.route.yaml.${v}.swp`);
      await writeFile(tmp, ns(v));
      await rename(tmp, file);
      const s = await p.until((x) => names(x).includes(v));
      assert.deepEqual(names(s), [v], "only the named file is read");
    }
  });

  test("a file that appears later", async () => {
    const dir = await tempDir();
    const file = join(dir, "later", "route.yaml");
    const p = probe([file], true);
    const first = await p.next();
    assert.equal(first.fatal[0]?.code, "GW_ERR_READ");
    await mkdir(join(dir, "later"));
    await writeFile(file, ns("late"));
    const s = await p.until((x) => names(x).includes("late"));
    assert.deepEqual(s.fatal, []);
  });

  test("a folder that is removed and created again", async () => {
    const root = await tempDir();
    const dir = join(root, "manifests");
    await mkdir(dir);
    await writeFile(join(dir, "a.yaml"), ns("a"));
    const p = probe([dir], true);
    assert.deepEqual(names(await p.next()), ["a"]);
    await rm(dir, { recursive: true });
    await p.until((x) => x.fatal.length > 0);
    await mkdir(dir);
    await writeFile(join(dir, "b.yaml"), ns("b"));
    const s = await p.until((x) => names(x).includes("b"));
    assert.deepEqual(s.fatal, []);
    await writeFile(join(dir, "c.yaml"), ns("c"));
    await p.until((x) => names(x).includes("c"));
  });
});
