/**
 * Fuzzing of H2Connection, server side and client side, over a fake socket (see test/fuzz/conn-harness.ts
 * for the invariants, test/fuzz/runner.ts for FUZZ_SEED, FUZZ_CASES and FUZZ_CASE).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { clientTarget, serverTarget } from "./conn-target.js";
import { caseCount, type FuzzTarget, fuzz, fuzzSettings, fuzzTimeoutMs } from "./runner.js";

const settings = fuzzSettings();

function fuzzIt<C>(t: FuzzTarget<C>): void {
  const n = caseCount(t, settings);
  it(`${t.name}: ${n} cases from FUZZ_SEED=${settings.seed}`, { timeout: fuzzTimeoutMs(n) }, async () => {
    const out = await fuzz(t, settings);
    assert.equal(
      out.failures.length,
      0,
      out.failures.map((f) => `${f.report}\n(${f.count} failing cases of this kind)`).join("\n\n"),
    );
  });
}

describe("H2Connection fuzz", () => {
  fuzzIt(serverTarget);
  fuzzIt(clientTarget);
});
