import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { it } from "node:test";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./dataplane-suite.mjs", import.meta.url));

/** Runs the suite script with `args` and checks that every test in it passed. */
async function runSuite(args: string[]): Promise<void> {
  // A test runner spawned from a test would report to ours instead of running: give it a clean context.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 0, out.slice(-6000));
  assert.match(out, /ℹ pass [1-9]/);
  assert.match(out, /ℹ fail 0/);
}

// `serve --workers N` must keep the data plane's contract: its whole test suite (which `npm test` runs
// in-process) runs again through worker processes behind shared sockets.
it(
  "the data-plane test suite passes through 3 worker processes (serve --workers 3)",
  { timeout: 300_000 },
  () => runSuite(["--workers", "3"]),
);
