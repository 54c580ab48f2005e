/**
 * The V8 flags the gateway runs with, wherever it starts node itself: the `grpcroute` command's `#!` line
 * (`src/cli/main.ts`), `serve --workers N`'s worker processes, `npm start` and the benchmark.
 *
 * `--initial-old-space-size=64` keeps the old generation's collection limit at 64 MB or more. Every socket
 * read hands V8 a new buffer outside its heap, and V8 counts that memory, until a collection frees it,
 * against the old generation's limit, which it otherwise sizes from the gateway's live heap (about 11 MB):
 * relaying 1 MiB messages both ways at 100 MiB/s reached that limit every 50 ms, so the relay ran a full
 * mark-compact 20 times a second (a fifth of its time) for buffers that die young. With the floor, the
 * same load ran 30 s without one (bench/history/notes-2026.md, "heap-flags").
 *
 * `--max-semi-space-size=4` caps the young generation's halves at 4 MB (V8's own cap here is 16 MB). Under
 * load V8 grows them to its cap and keeps them there: after 30 s at saturation the relay stopped for a
 * young-generation collection every 440 ms, and each of those copied up to 3.6 MB of survivors and took 5 to
 * 10 ms, so a call arriving during one waited that long. Calls at 7,610 per second after such a burst had a
 * p99 of 5.6 to 6.8 ms with V8's cap and 2.5 to 2.8 ms with this one (direct to the backend: 1.6 ms), and the
 * CPU per call at saturation did not move (bench/history/notes-2026.md, "What the runs show").
 *
 * `--no-parallel-scavenge` makes the young-generation collection run on the main thread alone. With 4 MB
 * halves a collection copies only 20 KB or so of survivors, and handing that to helper threads costs more than
 * it saves on a host whose cores are busy with the load: at 6,500 calls/s its pause fell from 0.62 to 0.70 ms
 * to 0.43 ms, p99 was lower in 6 of 7 alternating runs, and the CPU per call at saturation did not rise
 * (bench/history/notes-2026.md, "What the runs show").
 *
 * No other flag is needed against the slow young-generation state of earlier versions (each collection took
 * 2 ms instead of 0.4 after any full collection): it came from a `Map` in the relay, not from V8's settings
 * (`src/dataplane/relay/stream-table.ts`). With that fixed, full collections forced at saturation and while
 * idle, with V8's memory reducer and pretenuring on, left the collections at 0.3 to 0.4 ms.
 */
export const NODE_FLAGS: readonly string[] = [
  "--initial-old-space-size=64",
  "--max-semi-space-size=4",
  "--no-parallel-scavenge",
];

/**
 * The option a flag sets, however it is spelled: without its value, `_` read as `-`, and a boolean's `--no-`
 * form read as the option itself (`--no-parallel-scavenge` and `--parallel-scavenge` set the same one).
 */
function optionName(flag: string): string {
  const name = (flag.split("=")[0] as string).replaceAll("_", "-");
  return name.startsWith("--no-") ? `--${name.slice(5)}` : name;
}

/** The flags of {@link NODE_FLAGS} that `execArgv` (node's own options) does not set, to any value. */
export function missingNodeFlags(execArgv: readonly string[]): string[] {
  return NODE_FLAGS.filter((f) => {
    const name = optionName(f);
    return !execArgv.some((a) => a.startsWith("--") && optionName(a) === name);
  });
}

/** `execArgv` plus the flags of {@link NODE_FLAGS} it lacks (a flag it sets otherwise is left alone). */
export function withNodeFlags(execArgv: readonly string[]): string[] {
  return [...execArgv, ...missingNodeFlags(execArgv)];
}
