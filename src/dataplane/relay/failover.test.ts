import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { IrBackend } from "../../ir/routing-table.js";
import { pickRemaining } from "./failover.js";

/** backendRefs `a`, `b`, `c`, ... with these weights. */
function refs(...weights: number[]): IrBackend[] {
  return weights.map((weight, i) => {
    const name = String.fromCharCode(0x61 + i);
    return { weight, cluster: name, source: { kind: "Service", namespace: "default", name } };
  });
}

describe("pickRemaining: the weighted choice among the backendRefs a call may still fail over to", () => {
  const cases: {
    name: string;
    weights: number[];
    /** The backendRef the call could not be sent to. */
    from: string;
    tried?: string[];
    /** backendRefs that can take a call (default all). */
    usable?: string[];
    r: number;
    want: string | undefined;
  }[] = [
    { name: "50/50: the other one", weights: [1, 1], from: "a", r: 0, want: "b" },
    { name: "50/50: the other one, whatever the draw", weights: [1, 1], from: "a", r: 0.999, want: "b" },
    {
      name: "the one left cannot take it",
      weights: [1, 1],
      from: "a",
      usable: ["a"],
      r: 0.5,
      want: undefined,
    },
    { name: "by weight among the rest: low draw", weights: [5, 2, 1], from: "a", r: 0, want: "b" },
    { name: "by weight among the rest: 2/3 of the draws", weights: [5, 2, 1], from: "a", r: 0.66, want: "b" },
    { name: "by weight among the rest: last third", weights: [5, 2, 1], from: "a", r: 0.67, want: "c" },
    { name: "by weight among the rest: top draw", weights: [5, 2, 1], from: "a", r: 0.9999, want: "c" },
    { name: "weight 0 never gets a call", weights: [1, 0, 1], from: "a", r: 0, want: "c" },
    { name: "only weight 0 left", weights: [1, 0], from: "a", r: 0.3, want: undefined },
    {
      name: "unusable ones (invalid, no endpoint, all set aside) leave their weight out",
      weights: [1, 9, 1],
      from: "a",
      usable: ["a", "c"],
      r: 0.1,
      want: "c",
    },
    { name: "tried ones are not tried again", weights: [1, 1, 1], from: "b", tried: ["a"], r: 0, want: "c" },
    { name: "every one tried", weights: [1, 1, 1], from: "c", tried: ["a", "b"], r: 0, want: undefined },
    { name: "a single backendRef", weights: [3], from: "a", r: 0, want: undefined },
    { name: "from the middle: the first", weights: [1, 1, 1], from: "b", r: 0.2, want: "a" },
    { name: "from the middle: the last", weights: [1, 1, 1], from: "b", r: 0.7, want: "c" },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const backends = refs(...c.weights);
      const byName = (n: string) => backends.find((b) => b.cluster === n)!;
      const usable = new Set(c.usable ?? backends.map((b) => b.cluster));
      const i = pickRemaining(
        backends,
        byName(c.from),
        c.tried === undefined ? null : c.tried.map(byName),
        (b) => usable.has(b.cluster),
        c.r,
      );
      assert.equal(i < 0 ? undefined : backends[i]!.cluster, c.want);
    });
  }

  it("splits by weight over many draws", () => {
    const backends = refs(1, 3, 1);
    const counts = [0, 0, 0];
    const n = 1000;
    for (let k = 0; k < n; k++) counts[pickRemaining(backends, backends[0], null, () => true, k / n)]!++;
    assert.deepEqual(counts, [0, 750, 250]);
  });
});
