#!/usr/bin/env node
// Runs the data-plane test suite (test/dataplane/*.test.ts, which `npm test` runs in-process) against the data
// plane of `serve --workers N`: N worker processes behind node:cluster's shared sockets, with every call
// reported back to the test process (test/helpers/gateway.ts reads GRPCROUTE_TEST_WORKERS).
// Usage: node test/relay/dataplane-suite.mjs [--workers N] [substring ...]
//        (only the suite files whose name contains one of the substrings; N defaults to 2)
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const wi = args.indexOf("--workers");
const workers = wi >= 0 ? args.splice(wi, 2)[1] : "2";
if (workers === undefined || !/^[1-9]\d*$/.test(workers)) throw new Error("--workers N: a positive number");

const root = fileURLToPath(new URL("../..", import.meta.url));
const files = [];
for (const name of readdirSync(join(root, "test", "dataplane"))) {
  // explain.test.ts runs no data plane; the browser test checks Chromium's side, the same with workers.
  if (!name.endsWith(".test.ts") || name.startsWith("explain") || name.includes("browser")) continue;
  if (args.length > 0 && !args.some((f) => name.includes(f))) continue;
  files.push(join("test", "dataplane", name));
}
if (files.length === 0) throw new Error("no data-plane test files matched");
const res = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=spec", "--test-force-exit", ...files.sort()],
  { cwd: root, stdio: "inherit", env: { ...process.env, GRPCROUTE_TEST_WORKERS: workers } },
);
process.exitCode = res.status ?? 1;
