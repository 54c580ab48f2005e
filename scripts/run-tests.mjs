#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node:test through tsx.
// Node 20 does not expand globs for --test, so the file list is built here; zero files is a failure.
// Usage: node scripts/run-tests.mjs [substring ...]   (only files whose path contains a substring)
//
// Nothing may hang: each test file that talks to sockets or processes gives its suites a timeout, the test
// helpers cancel a call that has no status after GRPCROUTE_TEST_CALL_LIMIT_MS (20 s) and name what they
// waited for, every file as a whole gets GRPCROUTE_TEST_FILE_TIMEOUT_MS (10 minutes), and a file whose
// tests are over exits even if a failed test left a socket or a child open (--test-force-exit).
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

function walk(dir, out) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".test.ts")) out.push(relative(root, p));
  }
  return out;
}

const filters = process.argv.slice(2);
let files = [...walk(join(root, "src"), []), ...walk(join(root, "test"), [])].sort();
if (filters.length > 0) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`run-tests: no test files found${filters.length ? ` matching ${filters.join(", ")}` : ""}`);
  process.exit(1);
}
const fileTimeout = Number(process.env.GRPCROUTE_TEST_FILE_TIMEOUT_MS ?? "600000");
const args = [
  "--import",
  "tsx",
  "--test",
  "--test-reporter=spec",
  `--test-timeout=${fileTimeout}`,
  "--test-force-exit",
  ...files,
];
const res = spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" });
process.exit(res.status ?? 1);
