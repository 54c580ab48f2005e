/**
 * What the file source watches, and a fingerprint of what it would read: one pass over the paths, the way
 * {@link loadPaths} walks them (folders recursively, hidden names skipped, symlinks followed).
 *
 * Watching must survive how files really change, so the pass names folders, never files: a folder's
 * watch sees a file written in place, renamed over, deleted or created, while a watch on the file itself
 * is lost with its inode at the first rename. Every folder of a named tree is watched on its own (Node 20's
 * recursive watching on Linux watches each file, and so loses a file renamed over). Symlinks are resolved
 * one component at a time, and the folder holding each link is watched for the link's name: that is how
 * the kubelet's swap of a mounted ConfigMap's `..data` link is seen, where the files never change.
 *
 * The fingerprint (each file's device, inode, size, modification and change times, each path that is
 * missing) changes whenever what would be read may have changed; polling it is the safety net for events a
 * file system does not deliver.
 */
import type { BigIntStats } from "node:fs";
import { lstat, readdir, readlink, stat } from "node:fs/promises";
import { isAbsolute, join, parse, resolve, sep } from "node:path";
import { isManifestName } from "../api/files.js";

/** A folder to watch, by real path (no symlink in it). */
export interface WatchDir {
  readonly dir: string;
  /** Device and inode of the folder when scanned: a folder replaced under the same path is watched anew. */
  readonly id: string;
  /** The names in it whose changes matter; undefined: every name. */
  names: Set<string> | undefined;
}

export interface Scan {
  /** By real path. */
  readonly dirs: Map<string, WatchDir>;
  /** Equal for two scans when no file that would be read, and no link on the way to one, changed. */
  readonly fingerprint: string;
}

/** Links followed for one path before giving up, as the kernel's ELOOP limit. */
const MAX_LINKS = 40;

/** Scans the paths as {@link loadPaths} would read them. Never rejects. */
export async function scanPaths(paths: readonly string[]): Promise<Scan> {
  const s = new Scanner();
  for (const p of paths) await s.named(resolve(p));
  return { dirs: s.dirs, fingerprint: s.prints.join("\n") };
}

class Scanner {
  readonly dirs = new Map<string, WatchDir>();
  readonly prints: string[] = [];
  readonly #ids = new Map<string, string | undefined>();
  readonly #walked = new Set<string>();

  /** A path given with `-f`. */
  async named(abs: string): Promise<void> {
    const root = parse(abs).root;
    const found = await this.#resolve(root, split(abs.slice(root.length)));
    if (found === undefined) {
      this.prints.push(`${abs}\tmissing`);
    } else if (found.stats.isDirectory()) {
      await this.#walk(found.real, abs);
    } else {
      this.prints.push(`${abs}\t${filePrint(found.stats)}`);
    }
  }

  /** A folder's manifests and subfolders, recursively; each folder watched for every name. */
  async #walk(real: string, shown: string): Promise<void> {
    if (this.#walked.has(real)) return;
    this.#walked.add(real);
    await this.#watch(real, undefined);
    let entries: string[];
    try {
      entries = (await readdir(real)).sort();
    } catch {
      this.prints.push(`${shown}\tunreadable`);
      return;
    }
    for (const name of entries) {
      if (name.startsWith(".")) continue;
      const found = await this.#resolve(real, [name]);
      if (found === undefined) continue;
      if (found.stats.isDirectory()) await this.#walk(found.real, join(shown, name));
      else if (found.stats.isFile() && isManifestName(name))
        this.prints.push(`${join(shown, name)}\t${filePrint(found.stats)}`);
    }
  }

  /**
   * Resolves `parts` below the real folder `from`, one component at a time. The folder holding each
   * symlink met is watched for the link's name, and the folder holding the last component for its name
   * (or, when a component is missing, the last folder that exists for it). Undefined when missing.
   */
  async #resolve(from: string, parts: string[]): Promise<{ real: string; stats: BigIntStats } | undefined> {
    let dir = from;
    let rest = parts;
    let links = 0;
    while (rest.length > 0) {
      const [name, ...tail] = rest as [string, ...string[]];
      rest = tail;
      if (name === ".") continue;
      if (name === "..") {
        dir = resolve(dir, "..");
        continue;
      }
      const path = join(dir, name);
      let stats: BigIntStats;
      try {
        stats = await lstat(path, { bigint: true });
      } catch {
        await this.#watch(dir, name);
        return undefined;
      }
      if (stats.isSymbolicLink()) {
        await this.#watch(dir, name);
        if (++links > MAX_LINKS) return undefined;
        let target: string;
        try {
          target = await readlink(path);
        } catch {
          return undefined;
        }
        if (isAbsolute(target)) dir = parse(target).root;
        rest = [...split(target), ...rest];
        continue;
      }
      if (rest.length === 0) {
        await this.#watch(dir, name);
        return { real: path, stats };
      }
      if (!stats.isDirectory()) return undefined;
      dir = path;
    }
    // The path named a root folder itself.
    try {
      return { real: dir, stats: await stat(dir, { bigint: true }) };
    } catch {
      return undefined;
    }
  }

  /** Adds a folder to watch for `name` (undefined: every name). */
  async #watch(dir: string, name: string | undefined): Promise<void> {
    let id = this.#ids.get(dir);
    if (!this.#ids.has(dir)) {
      try {
        const s = await stat(dir, { bigint: true });
        id = `${s.dev}:${s.ino}`;
      } catch {
        id = undefined;
      }
      this.#ids.set(dir, id);
    }
    if (id === undefined) return;
    let w = this.dirs.get(dir);
    if (w === undefined) {
      w = { dir, id, names: name === undefined ? undefined : new Set() };
      this.dirs.set(dir, w);
    }
    if (name === undefined) w.names = undefined;
    else w.names?.add(name);
  }
}

function split(p: string): string[] {
  return p.split(sep === "/" ? "/" : /[\\/]/).filter((x) => x !== "");
}

function filePrint(s: BigIntStats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}
