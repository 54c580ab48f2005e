/**
 * Which files `-f` paths name: files as given, folders walked recursively for manifests (sorted, hidden
 * names skipped, symlinks followed, loops cut). Reading and parsing them is parse.ts's job.
 */
import { readdir, realpath, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { errorCode, GW_ERR_READ } from "../util/errors.js";
import type { Issue } from "./types.js";

const MANIFEST_EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

/** Whether a directory walk reads this file name (hidden files, such as editor swap files, are skipped). */
export function isManifestName(name: string): boolean {
  return !name.startsWith(".") && MANIFEST_EXTENSIONS.has(extname(name).toLowerCase());
}

/** The files to read for `paths`, in order; paths that cannot be read are `fatal`, empty folders `notes`. */
export async function listManifestFiles(
  paths: readonly string[],
): Promise<{ files: string[]; fatal: Issue[]; notes: Issue[] }> {
  const files: string[] = [];
  const fatal: Issue[] = [];
  const notes: Issue[] = [];
  const visited = new Set<string>();
  for (const p of paths) {
    let s: Awaited<ReturnType<typeof stat>>;
    try {
      s = await stat(p);
    } catch (e: unknown) {
      fatal.push(readIssue(p, e));
      continue;
    }
    if (!s.isDirectory()) {
      files.push(p);
      continue;
    }
    const found: string[] = [];
    await walk(p, found, visited, fatal);
    if (found.length === 0) {
      notes.push({
        severity: "note",
        origin: { file: p, index: 0 },
        path: "",
        message: `no *.yaml, *.yml or *.json files under ${p}`,
      });
    }
    files.push(...found);
  }
  return { files, fatal, notes };
}

/** Lists manifest files under a directory, recursively, sorted by path for determinism. */
async function walk(dir: string, out: string[], visited: Set<string>, fatal: Issue[]): Promise<void> {
  let real: string;
  try {
    real = await realpath(dir);
  } catch (e: unknown) {
    fatal.push(readIssue(dir, e));
    return;
  }
  // Symlink loops would otherwise walk forever.
  if (visited.has(real)) return;
  visited.add(real);
  let entries: string[];
  try {
    entries = (await readdir(dir)).sort();
  } catch (e: unknown) {
    fatal.push(readIssue(dir, e));
    return;
  }
  for (const name of entries) {
    if (name.startsWith(".")) continue;
    const p = join(dir, name);
    let s: Awaited<ReturnType<typeof stat>>;
    try {
      s = await stat(p);
    } catch {
      // A dangling link or a file removed during the walk: nothing to read.
      continue;
    }
    if (s.isDirectory()) await walk(p, out, visited, fatal);
    else if (s.isFile() && isManifestName(name)) out.push(p);
  }
}

/** A `GW_ERR_READ` issue for a path that cannot be read. */
export function readIssue(path: string, e: unknown): Issue {
  const code = errorCode(e);
  const why =
    code === "ENOENT"
      ? "no such file or directory"
      : code === "EACCES"
        ? "permission denied"
        : code === "EISDIR"
          ? "is a directory"
          : e instanceof Error
            ? (e.message.split("\n")[0] ?? e.message)
            : String(e);
  return {
    severity: "error",
    origin: { file: path, index: 0 },
    path: "",
    code: GW_ERR_READ,
    message: `cannot read: ${why}`,
  };
}
