/**
 * Bounded waits for tests: a wait that can hang on a broken data path gets a limit, and its failure names
 * what it waited for (rather than a suite timeout that says only which suite ran out of time).
 * @internal test-only
 */
import { once } from "node:events";

/** The default limit of a named wait: long enough for a loaded 2-core machine, short enough to fail fast. */
export const WAIT_MS = Number(process.env.GRPCROUTE_TEST_WAIT_MS ?? "15000");

/** `once(emitter, event)`, rejecting after `ms` with an error that names `what`. */
export async function onceWithin(
  emitter: NodeJS.EventEmitter,
  event: string,
  what: string,
  ms = WAIT_MS,
): Promise<unknown[]> {
  try {
    return await once(emitter, event, { signal: AbortSignal.timeout(ms) });
  } catch (err: unknown) {
    if (err instanceof Error && err.name === "AbortError")
      throw new Error(`timed out after ${ms} ms waiting for ${what}`, { cause: err });
    throw err;
  }
}

/** Resolves as `p` does, or rejects after `ms` with an error that names `what`. */
export function within<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    t.unref();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
