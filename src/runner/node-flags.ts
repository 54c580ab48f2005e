/**
 * The V8 flags the gateway runs with, wherever it starts node itself: the `grpcroute` command's `#!` line
 * (`src/cli/main.ts`), `serve --workers N`'s worker processes, `npm start` and the benchmark.
 *
 * `--initial-old-space-size=64` keeps the old generation's collection limit at 64 MB or more. Every socket
 * read hands V8 a new buffer outside its heap, and V8 counts that memory, until a collection frees it,
 * against the old generation's limit, which it otherwise sizes from the gateway's live heap (about 11 MB):
 * relaying 1 MiB messages both ways at 100 MiB/s reached that limit every 50 ms, so the relay ran a full
 * mark-compact 20 times a second (a fifth of its time) for buffers that die young. With the floor, the
 * same load ran 30 s without one (bench/RESULTS.md, "heap-flags").
 */
export const NODE_FLAGS: readonly string[] = ["--initial-old-space-size=64"];

/** The flags of {@link NODE_FLAGS} that `execArgv` (node's own options) does not set, to any value. */
export function missingNodeFlags(execArgv: readonly string[]): string[] {
  return NODE_FLAGS.filter((f) => {
    const name = f.split("=")[0] as string;
    return !execArgv.some((a) => a === name || a.startsWith(`${name}=`));
  });
}

/** `execArgv` plus the flags of {@link NODE_FLAGS} it lacks (a flag it sets otherwise is left alone). */
export function withNodeFlags(execArgv: readonly string[]): string[] {
  return [...execArgv, ...missingNodeFlags(execArgv)];
}
