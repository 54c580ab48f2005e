/**
 * Gateway API Durations (GEP-2257): one to four `<number><unit>` parts, each number at most 5 digits, units
 * `h`, `m`, `s` and `ms` (`1h30m`, `500ms`, `0s`). No sign, no fraction, no days. Values are kept as
 * milliseconds.
 */
import { formatDuration } from "../../util/duration.js";
import { join, type Obj, pattern, type Reader, show } from "./reader.js";

export { formatDuration };

/** The CRD pattern of a Gateway API Duration. */
export const DURATION = pattern("^([0-9]{1,5}(h|m|s|ms)){1,4}$");

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
const PART = /([0-9]{1,5})(ms|h|m|s)/g;

/** Milliseconds of a Duration string; undefined when it does not match the pattern. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.re.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(PART)) ms += Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? 0);
  return ms;
}

export interface DurationRule {
  required?: boolean;
  /** Value (ms) when absent. */
  default?: number;
  /** Smallest value allowed (ms); a value below it is refused naming it. */
  min?: number;
}

/** Reads a Duration field as milliseconds. */
export function readDuration(
  r: Reader,
  parent: Obj,
  key: string,
  path: string,
  rule: DurationRule = {},
): number | undefined {
  const p = join(path, key);
  const v = parent[key];
  if (v === undefined || v === null) {
    if (rule.required) r.fail(p, "Required value");
    return rule.default;
  }
  if (typeof v !== "string") {
    r.fail(p, `Invalid value: ${show(v)}: must be of type string (a duration such as "5s" or "250ms")`);
    return undefined;
  }
  const ms = parseDuration(v);
  if (ms === undefined) {
    r.fail(
      p,
      `Invalid value: ${show(v)}: should match '${DURATION.source}' (a duration such as "5s" or "250ms")`,
    );
    return undefined;
  }
  if (rule.min !== undefined && ms < rule.min) {
    r.fail(p, `Invalid value: ${show(v)}: must be at least ${formatDuration(rule.min)}`);
    return undefined;
  }
  return ms;
}
