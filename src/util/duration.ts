/** Gateway API Durations (GEP-2257) written back from milliseconds, shared by the schema and `explain`. */

/** Milliseconds as the shortest Duration string (`90000` -> `1m30s`, `0` -> `0s`). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return "0s";
  let left = Math.round(ms);
  let out = "";
  for (const [unit, size] of [
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
    ["ms", 1],
  ] as const) {
    const n = Math.floor(left / size);
    if (n > 0) {
      out += `${n}${unit}`;
      left -= n * size;
    }
  }
  return out;
}
