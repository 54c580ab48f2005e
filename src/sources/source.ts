/**
 * Sources are the only code that reads the outside world (architecture.md 2.1). Each coalesces bursts of
 * changes into immutable snapshots with an increasing version, and hands them downstream.
 */
import type { Issue, ResourceSet } from "../api/types.js";
import type { KeptObject } from "./last-accepted.js";

/** Everything a source knows at one moment. Never mutated after it is emitted. */
export interface Snapshot {
  /** 1 for the first snapshot of a source, then one more per snapshot. */
  readonly version: number;
  /** The valid objects, defaults applied, and the previous version of each object in `kept`. */
  readonly resources: ResourceSet;
  /**
   * Objects rejected (severity `error`: not served) or skipped (`note`); the valid objects are still in
   * `resources`. The errors of objects in `kept` are there instead.
   */
  readonly issues: Issue[];
  /** Objects whose new version was rejected while the version accepted before keeps serving. */
  readonly kept: KeptObject[];
  /** Input that could not be read or parsed at all (a missing file, a syntax error). */
  readonly fatal: Issue[];
}

/** A producer of snapshots. */
export interface ResourceSource {
  /** Short name for logs (`file`, `kube`). */
  readonly name: string;
  /** Emits snapshots until `signal` aborts, then resolves; no snapshot is emitted after that. */
  run(signal: AbortSignal, emit: (s: Snapshot) => void): Promise<void>;
  /** Reads the input again now (SIGHUP). */
  reload(): void;
}
