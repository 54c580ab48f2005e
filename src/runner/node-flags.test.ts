import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { missingNodeFlags, NODE_FLAGS, withNodeFlags } from "./node-flags.js";

describe("node flags", () => {
  it("the grpcroute command's #! line starts node with exactly these flags", () => {
    const first = readFileSync(new URL("../cli/main.ts", import.meta.url), "utf8").split("\n")[0];
    assert.equal(first, `#!/usr/bin/env -S node ${NODE_FLAGS.join(" ")}`);
  });
  const cases: { name: string; execArgv: string[]; want: string[]; missing: string[] }[] = [
    { name: "none yet: added", execArgv: [], want: [...NODE_FLAGS], missing: [...NODE_FLAGS] },
    {
      name: "other options are kept, in order",
      execArgv: ["--import", "tsx"],
      want: ["--import", "tsx", ...NODE_FLAGS],
      missing: [...NODE_FLAGS],
    },
    { name: "already there: not repeated", execArgv: [...NODE_FLAGS], want: [...NODE_FLAGS], missing: [] },
    {
      name: "set to another value by the user: left alone",
      execArgv: ["--initial-old-space-size=256"],
      want: ["--initial-old-space-size=256", ...NODE_FLAGS.slice(1)],
      missing: NODE_FLAGS.slice(1),
    },
    {
      name: "a boolean turned the other way by the user: left alone",
      execArgv: ["--parallel-scavenge"],
      want: ["--parallel-scavenge", ...NODE_FLAGS.filter((f) => f !== "--no-parallel-scavenge")],
      missing: NODE_FLAGS.filter((f) => f !== "--no-parallel-scavenge"),
    },
    {
      name: "spelled with underscores: the same option",
      execArgv: ["--max_semi_space_size=8", "--no_parallel_scavenge"],
      want: ["--max_semi_space_size=8", "--no_parallel_scavenge", "--initial-old-space-size=64"],
      missing: ["--initial-old-space-size=64"],
    },
    {
      name: "a value that is not an option is not mistaken for one",
      execArgv: ["--import", "max-semi-space-size=4"],
      want: ["--import", "max-semi-space-size=4", ...NODE_FLAGS],
      missing: [...NODE_FLAGS],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(withNodeFlags(c.execArgv), c.want);
      assert.deepEqual(missingNodeFlags(c.execArgv), c.missing);
    });
  }
});
