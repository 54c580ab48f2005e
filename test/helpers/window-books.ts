/**
 * The relay's flow-control books (src/dataplane/relay/window-audit.ts), checked from tests: every byte a
 * connection received is held by the relay or was returned to its sender, exactly once.
 * @internal test-only
 */
import assert from "node:assert/strict";
import type { WindowAudit } from "../../src/dataplane/relay/window-audit.js";

/** What can be audited: the in-process relay (worker processes keep their books to themselves). */
export interface Auditable {
  windowAudit?: () => WindowAudit[];
}

/** The unbalanced books of `dp`, one line each (empty when they balance or `dp` cannot be audited). */
export function bookProblems(dp: Auditable): string[] {
  if (dp.windowAudit === undefined) return [];
  return dp.windowAudit().flatMap((a) => a.problems.map((p) => `${a.side} ${p}`));
}

/**
 * Waits (up to about half a second, for frames still on their way: late DATA on reset streams, window updates)
 * until the books of every connection of `dp` balance; fails naming `what` and each unbalanced connection.
 */
export async function assertBooksBalance(dp: Auditable, what: string): Promise<void> {
  let problems: string[] = [];
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, i === 0 ? 0 : 25));
    problems = bookProblems(dp);
    if (problems.length === 0) return;
  }
  assert.fail(`${what}: the flow-control books do not balance:\n${problems.join("\n")}`);
}
