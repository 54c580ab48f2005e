import assert from "node:assert/strict";
import { test } from "node:test";
import { scanOptions } from "./flags.js";

const VALUED = new Set(["-f", "--filename", "-o", "--authority"]);

test("scanOptions: spellings, order, help, unknown and missing values", () => {
  assert.deepEqual(scanOptions(["-f", "a", "--filename=b", "-o", "json"], VALUED), {
    kind: "ok",
    options: [
      ["-f", "a"],
      ["--filename", "b"],
      ["-o", "json"],
    ],
  });
  assert.deepEqual(scanOptions(["-f", "a", "--help"], VALUED), { kind: "help" });
  assert.deepEqual(scanOptions(["--frob"], VALUED), { kind: "error", message: 'unknown argument "--frob"' });
  assert.deepEqual(scanOptions(["-f"], VALUED), { kind: "error", message: "-f needs a value" });
  assert.deepEqual(scanOptions(["--filename="], VALUED), {
    kind: "error",
    message: "--filename needs a value",
  });
  assert.deepEqual(scanOptions(["--authority", ""], VALUED, new Set(["--authority"])), {
    kind: "ok",
    options: [["--authority", ""]],
  });
});
