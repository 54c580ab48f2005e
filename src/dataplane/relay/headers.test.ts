import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyModifier, fieldValue, forwardable, headerRecord } from "./headers.js";

describe("relay header lists", () => {
  it("forwards regular headers but not connection-specific ones, and keeps te only as trailers", () => {
    const cases: { name: string; value: string; want: boolean }[] = [
      { name: "content-type", value: "application/grpc", want: true },
      { name: "grpc-timeout", value: "1S", want: true },
      { name: "x-custom", value: "1", want: true },
      { name: "te", value: "trailers", want: true },
      { name: "te", value: "gzip", want: false },
      { name: "connection", value: "keep-alive", want: false },
      { name: "keep-alive", value: "timeout=5", want: false },
      { name: "proxy-connection", value: "keep-alive", want: false },
      { name: "transfer-encoding", value: "chunked", want: false },
      { name: "upgrade", value: "h2c", want: false },
      { name: "http2-settings", value: "AAA", want: false },
    ];
    for (const c of cases) assert.equal(forwardable(c.name, c.value), c.want, `${c.name}: ${c.value}`);
  });

  it("reads a header record for the router (repeated names become arrays, pseudo-headers skipped)", () => {
    const rec = headerRecord([":path", "/a/b", "x-a", "1", "x-b", "2", "x-a", "3"]);
    assert.deepEqual({ ...rec }, { "x-a": ["1", "3"], "x-b": "2" });
    assert.equal(fieldValue([":path", "/a/b", "x-a", "1"], "x-a"), "1");
    assert.equal(fieldValue([":path", "/a/b"], "x-a"), undefined);
  });

  it("applies set, add and remove, names without regard to case, never touching pseudo-headers", () => {
    const cases: { name: string; before: string[]; want: string[] }[] = [
      { name: "set replaces", before: ["x-a", "old"], want: ["x-a", "new", "x-b", "b"] },
      { name: "add appends", before: ["x-b", "first"], want: ["x-b", "first", "x-a", "new", "x-b", "b"] },
      { name: "remove deletes", before: ["x-gone", "1"], want: ["x-a", "new", "x-b", "b"] },
    ];
    for (const c of cases) {
      const fields = [":path", "/a/b", ...c.before];
      applyModifier(fields, {
        set: [
          { name: "X-A", value: "new" },
          { name: ":path", value: "/evil/x" },
        ],
        add: [{ name: "X-B", value: "b" }],
        remove: ["X-Gone", "connection"],
      });
      assert.deepEqual(fields, [":path", "/a/b", ...c.want], c.name);
    }
  });
});
