/**
 * A folder laid out and updated as the kubelet mounts a ConfigMap or Secret volume: the files live in a
 * timestamped folder (`..2026_12_07_10_00_00.000000001`), `..data` is a symlink to it, and each key is a
 * symlink `name -> ..data/name`. An update writes a new timestamped folder, points a `..data_tmp` symlink at
 * it, renames that over `..data` (the one atomic step), adds links for new keys, removes links of keys that
 * went away and removes the old folder: the same order as the kubelet's atomic writer.
 * @internal test-only
 */
import {
  existsSync,
  mkdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

/** A mounted ConfigMap at `dir`; every {@link update} swaps all its keys at once. */
export class ConfigMapVolume {
  #generation = 0;
  #keys = new Set<string>();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Replaces the volume's content with `files` (key -> text), as one atomic swap of `..data`. */
  update(files: Record<string, string>): void {
    this.#generation++;
    const stamp = `..2026_12_07_10_00_00.${String(this.#generation).padStart(9, "0")}`;
    const next = join(this.dir, stamp);
    mkdirSync(next);
    for (const [key, text] of Object.entries(files)) writeFileSync(join(next, key), text);
    const data = join(this.dir, "..data");
    const previous = existsSync(data) ? readlinkSync(data) : undefined;
    const tmp = join(this.dir, "..data_tmp");
    symlinkSync(stamp, tmp);
    renameSync(tmp, data);
    const keys = new Set(Object.keys(files));
    for (const key of keys) {
      if (!this.#keys.has(key)) symlinkSync(join("..data", key), join(this.dir, key));
    }
    for (const key of this.#keys) if (!keys.has(key)) unlinkSync(join(this.dir, key));
    this.#keys = keys;
    if (previous !== undefined) rmSync(join(this.dir, previous), { recursive: true, force: true });
  }
}
