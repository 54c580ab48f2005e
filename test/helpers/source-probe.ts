/**
 * Runs a snapshot source and hands out its snapshots in order, waiting on emits (never on time); every wait
 * has a timeout whose error names what it waited for and the last snapshot seen.
 * @internal test-only
 */
import type { ResourceSource, Snapshot } from "../../src/sources/source.js";

export class SourceProbe<S extends ResourceSource = ResourceSource> {
  readonly controller = new AbortController();
  readonly done: Promise<void>;
  readonly #queue: Snapshot[] = [];
  readonly #waiters: ((s: Snapshot) => void)[] = [];
  emitted = 0;
  last: Snapshot | undefined;

  constructor(readonly source: S) {
    this.done = source.run(this.controller.signal, (s) => {
      this.emitted++;
      this.last = s;
      const w = this.#waiters.shift();
      if (w) w(s);
      else this.#queue.push(s);
    });
  }

  /** The next snapshot; rejects after `timeoutMs` naming `what`. */
  next(what = "the next snapshot", timeoutMs = 10_000): Promise<Snapshot> {
    const s = this.#queue.shift();
    if (s) return Promise.resolve(s);
    return new Promise((resolve, reject) => {
      const waiter = (x: Snapshot): void => {
        clearTimeout(timer);
        resolve(x);
      };
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.#describeLast()}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Waits until a snapshot satisfies `pred` (intermediate states of a burst may come first). */
  async until(
    pred: (s: Snapshot) => boolean,
    what = "a matching snapshot",
    timeoutMs = 10_000,
  ): Promise<Snapshot> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.next(what, Math.max(1, deadline - Date.now()));
      if (pred(s)) return s;
    }
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.done;
  }

  #describeLast(): string {
    const s = this.last;
    if (s === undefined) return "no snapshot was emitted";
    const names = s.resources.namespaces.map((n) => n.metadata.name);
    return `last snapshot: version ${s.version}, namespaces [${names.join(", ")}], ${s.fatal.length} fatal`;
  }
}
