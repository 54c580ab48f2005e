import assert from "node:assert/strict";
import { test } from "node:test";
import { emptyResourceSet, objectKey } from "./types.js";

test("objectKey joins namespace and name", () => {
  assert.equal(objectKey({ namespace: "default", name: "r" }), "default/r");
  assert.deepEqual(Object.keys(emptyResourceSet()).length, 12);
});
