import assert from "node:assert/strict";
import { test } from "node:test";
import { findJsonError } from "./json-position.js";

test("findJsonError agrees with JSON.parse and points at the first bad character", () => {
  const cases: { text: string; offset?: number; reason?: string }[] = [
    { text: '{"a": [1, 2.5e3, -0, true, false, null, "x\\n\\u00e9"]}' },
    { text: "\ufeff{}" },
    { text: "  [] " },
    { text: '{"a": 1,}', offset: 8, reason: "expected a property name in double quotes, found '}'" },
    { text: "[1, 2,]", offset: 6, reason: "unexpected ']'" },
    { text: '{"a" 1}', offset: 5, reason: "expected ':', found '1'" },
    { text: '{"a": 01}', offset: 7, reason: "expected ',' or '}', found '1'" },
    { text: "// c\n{}", offset: 0, reason: "unexpected '/'" },
    { text: '{"a": "b', offset: 8, reason: "unterminated string" },
    { text: '"\\x"', offset: 2, reason: "bad escape" },
    { text: "{} {}", offset: 3, reason: "unexpected '{' after the value" },
    { text: "", offset: 0, reason: "unexpected end of input" },
    { text: "[".repeat(600), offset: 513, reason: "nesting too deep" },
  ];
  for (const c of cases) {
    const got = findJsonError(c.text);
    let parses = true;
    try {
      JSON.parse(c.text.replace(/^\ufeff/, ""));
    } catch {
      parses = false;
    }
    if (c.offset === undefined) {
      assert.equal(got, undefined, c.text);
      assert.ok(parses, c.text);
    } else {
      assert.deepEqual(got, { offset: c.offset, reason: c.reason }, c.text);
      assert.ok(!parses, c.text);
    }
  }
});
