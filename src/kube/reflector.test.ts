import assert from "node:assert/strict";
import { test } from "node:test";
import { onlyStatusChanged } from "./reflector.js";

test("a change of .status alone is told apart from one the translation reads", () => {
  const base = { metadata: { name: "r", resourceVersion: "1", generation: 1 }, spec: { a: 1 } };
  const cases: { name: string; next: Record<string, unknown>; want: boolean }[] = [
    {
      name: "status and resourceVersion",
      next: {
        spec: { a: 1 },
        metadata: { name: "r", resourceVersion: "2", generation: 1 },
        status: { x: 1 },
      },
      want: true,
    },
    {
      name: "keys in another order (a list item against a watch event)",
      next: { status: {}, spec: { a: 1 }, metadata: { generation: 1, resourceVersion: "3", name: "r" } },
      want: true,
    },
    { name: "spec", next: { ...base, spec: { a: 2 } }, want: false },
    {
      name: "an annotation",
      next: { ...base, metadata: { ...base.metadata, annotations: { k: "v" } } },
      want: false,
    },
  ];
  for (const c of cases) assert.equal(onlyStatusChanged(base, c.next as never), c.want, c.name);
});
