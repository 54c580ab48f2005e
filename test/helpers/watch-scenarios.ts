/**
 * The ways manifest files really change, as one table that both the file source's own tests and the
 * gateway-process tests run: writes in place, an editor's rename over the file (and the changes after it),
 * delete and recreate, new subfolders, and the kubelet's `..data` symlink swap of a mounted ConfigMap.
 *
 * A scenario lays out version 1 of its files and lists steps; after each step the gateway must serve
 * exactly the versions the step names (or find the input unreadable). What a "version" is belongs to the
 * test: a Namespace name in the source's tests, a route's header match in the process tests.
 * @internal test-only
 */
import { mkdirSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { ConfigMapVolume } from "./configmap.js";

/** The text of a manifest file holding version `version` of the object called `name`. */
export type Manifest = (name: string, version: string) => string;

/** What is served after a step: these versions (of every file), or nothing new since the input is unreadable. */
export type Served = { versions: string[] } | { unreadable: true };

export interface WatchStep {
  /** Names the change in failure messages. */
  what: string;
  /** Makes the change (synchronously, as a person or the kubelet would). */
  run(): void;
  expect: Served;
}

export interface WatchScenario {
  name: string;
  /** Lays out version 1 under `root` (an empty folder); returns what `-f` names and the steps. */
  setup(root: string, manifest: Manifest): { paths: string[]; initial: string[]; steps: WatchStep[] };
}

/** Writes into the existing file (same inode), as `echo >` or an editor that saves in place. */
export function writeInPlace(file: string, text: string): void {
  writeFileSync(file, text);
}

/** Writes a new file beside it and renames it over the old one, as vim, VS Code and `mv` do. */
export function renameOver(file: string, text: string): void {
  const aside = join(dirname(file), `.${basename(file)}.swp`);
  writeFileSync(aside, text);
  renameSync(aside, file);
}

const serves = (...versions: string[]): Served => ({ versions });

/** Edits of one file: in place, rename over, a change after the rename (the one that used to be lost), ... */
function fileEdits(file: string, m: Manifest, name: string, deleted: Served): WatchStep[] {
  return [
    { what: `write ${name} in place`, run: () => writeInPlace(file, m(name, "v2")), expect: serves("v2") },
    { what: `rename over ${name}`, run: () => renameOver(file, m(name, "v3")), expect: serves("v3") },
    {
      what: `write ${name} in place after the rename`,
      run: () => writeInPlace(file, m(name, "v4")),
      expect: serves("v4"),
    },
    { what: `rename over ${name} again`, run: () => renameOver(file, m(name, "v5")), expect: serves("v5") },
    {
      what: `write ${name} in place after the second rename`,
      run: () => writeInPlace(file, m(name, "v6")),
      expect: serves("v6"),
    },
    { what: `delete ${name}`, run: () => unlinkSync(file), expect: deleted },
    { what: `create ${name} again`, run: () => writeInPlace(file, m(name, "v7")), expect: serves("v7") },
    {
      what: `write ${name} in place after it was created again`,
      run: () => writeInPlace(file, m(name, "v8")),
      expect: serves("v8"),
    },
  ];
}

export const WATCH_SCENARIOS: WatchScenario[] = [
  {
    name: "a folder (-f DIR)",
    setup(root, m) {
      const dir = join(root, "manifests");
      mkdirSync(dir);
      const route = join(dir, "route.yaml");
      writeInPlace(route, m("route", "v1"));
      const sub = join(dir, "sub");
      const extra = join(sub, "extra.yaml");
      const staging = join(root, "staging");
      const steps: WatchStep[] = [
        ...fileEdits(route, m, "route.yaml", serves()),
        {
          what: "create a subfolder and a file in it",
          run: () => {
            mkdirSync(sub);
            writeInPlace(extra, m("extra", "x1"));
          },
          expect: serves("v8", "x1"),
        },
        {
          what: "write the subfolder's file in place",
          run: () => writeInPlace(extra, m("extra", "x2")),
          expect: serves("v8", "x2"),
        },
        {
          what: "rename over the subfolder's file",
          run: () => renameOver(extra, m("extra", "x3")),
          expect: serves("v8", "x3"),
        },
        {
          what: "write the subfolder's file in place after the rename",
          run: () => writeInPlace(extra, m("extra", "x4")),
          expect: serves("v8", "x4"),
        },
        {
          what: "move a filled folder in",
          run: () => {
            mkdirSync(join(staging, "deep"), { recursive: true });
            writeInPlace(join(staging, "deep", "deep.yaml"), m("deep", "d1"));
            renameSync(join(staging, "deep"), join(dir, "deep"));
          },
          expect: serves("v8", "x4", "d1"),
        },
        {
          what: "create a file in the folder moved in",
          run: () => writeInPlace(join(dir, "deep", "more.yaml"), m("more", "m1")),
          expect: serves("v8", "x4", "d1", "m1"),
        },
      ];
      return { paths: [dir], initial: ["v1"], steps };
    },
  },
  {
    name: "a file (-f FILE)",
    setup(root, m) {
      const route = join(root, "route.yaml");
      writeInPlace(route, m("route", "v1"));
      // A neighbour that is not named: its changes must not be read.
      writeInPlace(join(root, "other.yaml"), m("other", "o1"));
      return {
        paths: [route],
        initial: ["v1"],
        steps: fileEdits(route, m, "route.yaml", { unreadable: true }),
      };
    },
  },
  {
    name: "a mounted ConfigMap (-f MOUNT)",
    setup(root, m) {
      const volume = new ConfigMapVolume(join(root, "config"));
      volume.update({ "route.yaml": m("route", "v1") });
      const swap = (files: Record<string, string>) => () => volume.update(files);
      const steps: WatchStep[] = [
        { what: "swap ..data to v2", run: swap({ "route.yaml": m("route", "v2") }), expect: serves("v2") },
        { what: "swap ..data to v3", run: swap({ "route.yaml": m("route", "v3") }), expect: serves("v3") },
        {
          what: "swap ..data to a version with a new key",
          run: swap({ "route.yaml": m("route", "v4"), "extra.yaml": m("extra", "x1") }),
          expect: serves("v4", "x1"),
        },
        {
          what: "swap ..data to a version without that key",
          run: swap({ "route.yaml": m("route", "v5") }),
          expect: serves("v5"),
        },
      ];
      return { paths: [volume.dir], initial: ["v1"], steps };
    },
  },
  {
    name: "a key of a mounted ConfigMap (-f MOUNT/route.yaml)",
    setup(root, m) {
      const volume = new ConfigMapVolume(join(root, "config"));
      volume.update({ "route.yaml": m("route", "v1") });
      const steps: WatchStep[] = ["v2", "v3", "v4"].map((v) => ({
        what: `swap ..data to ${v}`,
        run: () => volume.update({ "route.yaml": m("route", v) }),
        expect: serves(v),
      }));
      return { paths: [join(volume.dir, "route.yaml")], initial: ["v1"], steps };
    },
  },
];
