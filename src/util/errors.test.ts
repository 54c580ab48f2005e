import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ERROR_CODES, errorCode, GatewayError, GW_ERR_PARSE, GW_ERR_READ } from "./errors.js";

const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
/** Codes in the first column of the doc's table (cells may be padded by the formatter). */
const documented = [...doc.matchAll(/^\|\s*`(GW_ERR_[A-Z_]+)`\s*\|/gm)].map((m) => m[1]);

test("every error code is documented in docs/errors.md", () => {
  const missing = ERROR_CODES.filter((c) => !documented.includes(c));
  assert.deepEqual(missing, [], `codes missing from docs/errors.md: ${missing.join(", ")}`);
});

test("docs/errors.md lists no code that does not exist", () => {
  const unknown = documented.filter((c) => !(ERROR_CODES as readonly (string | undefined)[]).includes(c));
  assert.deepEqual(unknown, []);
});

test("codes are unique", () => {
  assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
});

test("GatewayError keeps code, message and cause", () => {
  const cause = Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" });
  const e = new GatewayError(GW_ERR_READ, "cannot read a.yaml", { cause });
  assert.equal(e.code, GW_ERR_READ);
  assert.equal(e.message, "cannot read a.yaml");
  assert.equal(e.cause, cause);
  assert.equal(e.name, "GatewayError");
  assert.ok(e instanceof Error);
  assert.ok(GatewayError.is(e));
  assert.ok(!GatewayError.is(cause));
  assert.ok(!GatewayError.is(null));
  assert.equal(new GatewayError(GW_ERR_PARSE, "x").cause, undefined);
});

test("errorCode reads codes of system errors and GatewayErrors", () => {
  const cases: { value: unknown; want: string | undefined }[] = [
    { value: Object.assign(new Error("x"), { code: "EADDRINUSE" }), want: "EADDRINUSE" },
    { value: new GatewayError(GW_ERR_PARSE, "x"), want: GW_ERR_PARSE },
    { value: new Error("plain"), want: undefined },
    { value: "string", want: undefined },
    { value: { code: 42 }, want: undefined },
    { value: undefined, want: undefined },
  ];
  for (const c of cases) assert.equal(errorCode(c.value), c.want);
});
