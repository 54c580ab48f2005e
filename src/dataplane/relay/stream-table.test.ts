import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StreamTable } from "./stream-table.js";

type Op = ["set", number] | ["delete", number];

/** Applies `ops` to a table and to a Map, and checks that both agree after every step. */
function replay(ops: readonly Op[], capacity?: number): StreamTable<string> {
  const t = new StreamTable<string>(capacity);
  const model = new Map<number, string>();
  for (const [i, [op, id]] of ops.entries()) {
    if (op === "set") {
      t.set(id, `v${id}@${i}`);
      model.set(id, `v${id}@${i}`);
    } else {
      assert.equal(t.delete(id), model.delete(id), `delete(${id}) at step ${i}`);
    }
    assert.equal(t.size, model.size, `size at step ${i}`);
    for (const [k, v] of model) assert.equal(t.get(k), v, `get(${k}) at step ${i}`);
  }
  const values = t.toArray().sort();
  assert.deepEqual(values, [...model.values()].sort());
  return t;
}

describe("StreamTable", () => {
  // Capacity 8 (the smallest): mask 7, and id k lives at slot (k >>> 1) & 7 unless displaced.
  const cases: { name: string; ops: Op[] }[] = [
    { name: "empty table: nothing to delete", ops: [["delete", 1]] },
    {
      name: "set, replace, delete",
      ops: [
        ["set", 1],
        ["set", 1],
        ["delete", 1],
        ["delete", 1],
      ],
    },
    {
      name: "ids with the same home slot form a run; deleting its head keeps the rest reachable",
      ops: [
        ["set", 1],
        ["set", 17],
        ["set", 33],
        ["delete", 1],
        ["delete", 33],
        ["delete", 17],
      ],
    },
    {
      name: "a run that wraps past the last slot",
      // 15 and 31 and 47 all start at slot 7: they take slots 7, 0 and 1.
      ops: [
        ["set", 15],
        ["set", 31],
        ["set", 47],
        ["delete", 15],
        ["set", 1],
        ["delete", 31],
        ["delete", 47],
      ],
    },
    {
      name: "an entry at its home slot is not moved into an earlier hole",
      // 1 at 0, 17 displaced to 1, 5 at its home 2; deleting 1 moves 17 back but must leave 5 at 2.
      ops: [
        ["set", 1],
        ["set", 17],
        ["set", 5],
        ["delete", 1],
        ["set", 33],
        ["delete", 17],
      ],
    },
    {
      name: "growing keeps every entry (more than half of 8 slots)",
      ops: [1, 3, 5, 7, 9, 11, 13, 15, 17].map((id): Op => ["set", id]),
    },
    {
      name: "the largest stream id",
      ops: [
        ["set", 0x7fffffff],
        ["set", 0x7ffffffd],
        ["delete", 0x7fffffff],
      ],
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      replay(c.ops, 8);
    });

  it("answers the ids of a connection's lifetime: a sliding window of open streams", () => {
    // Like a busy connection: streams open in id order and close a little out of order, ids run far past the
    // capacity, and the table never grows beyond twice the streams open at once.
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const ops: Op[] = [];
    const open: number[] = [];
    let next = 1;
    for (let step = 0; step < 20_000; step++) {
      if (open.length < 40 && (open.length < 5 || rand(2) === 0)) {
        ops.push(["set", next]);
        open.push(next);
        next += 2;
      } else {
        const [id] = open.splice(rand(Math.min(open.length, 8)), 1) as [number];
        ops.push(["delete", id]);
      }
    }
    replay(ops);
  });

  it("matches a Map under random operations on colliding ids", () => {
    let seed = 99;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    // Few distinct ids that share home slots in every small table size.
    const ids = Array.from({ length: 24 }, (_, i) => 1 + 2 * ((i % 6) + 64 * Math.floor(i / 6)));
    const ops: Op[] = [];
    for (let i = 0; i < 5_000; i++) ops.push([rand(3) === 0 ? "delete" : "set", ids[rand(ids.length)]!]);
    replay(ops);
  });

  it("rejects ids that are not stream ids, and finds nothing for them", () => {
    const t = new StreamTable<string>();
    for (const id of [0, -1, 0x80000000]) {
      assert.throws(() => t.set(id, "x"), RangeError);
      assert.equal(t.get(id), undefined);
      assert.equal(t.delete(id), false);
    }
    assert.equal(t.size, 0);
  });

  it("clear empties the table and it stays usable", () => {
    const t = replay(
      [1, 3, 5, 7, 9, 11].map((id): Op => ["set", id]),
      8,
    );
    t.clear();
    assert.equal(t.size, 0);
    assert.deepEqual(t.toArray(), []);
    assert.equal(t.get(3), undefined);
    t.set(3, "again");
    assert.equal(t.get(3), "again");
  });
});
