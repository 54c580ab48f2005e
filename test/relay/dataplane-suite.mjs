#!/usr/bin/env node
// Runs the node:http2 data path's own test suite (test/dataplane/*.test.ts) against the relay data path, to
// check that both keep the same contract. The suite is copied to a temporary directory with its in-process
// gateway helper switched to RelayDataplane; nothing in the tree changes.
// With --workers N, the suite runs instead against the data plane of `serve --workers N`: N worker processes
// (relay) behind node:cluster's shared sockets, with every call reported back to the test process.
// Usage: node test/relay/dataplane-suite.mjs [--workers N] [substring ...]
//        (only the suite files whose name contains one of the substrings)
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const wi = args.indexOf("--workers");
const workers = wi >= 0 ? args.splice(wi, 2)[1] : undefined;
if (workers !== undefined && !/^[1-9]\d*$/.test(workers)) throw new Error("--workers N: a positive number");

const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "grpcroute-relay-suite-"));
try {
  symlinkSync(join(root, "src"), join(dir, "src"));
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  writeFileSync(join(dir, "package.json"), readFileSync(join(root, "package.json")));
  cpSync(join(root, "test", "helpers"), join(dir, "test", "helpers"), { recursive: true });
  cpSync(join(root, "test", "dataplane"), join(dir, "test", "dataplane"), { recursive: true });

  const gatewayPath = join(dir, "test", "helpers", "gateway.ts");
  const gateway = readFileSync(gatewayPath, "utf8");
  const swapped = gateway.replace(
    /import \{ Dataplane, type UpstreamOptions \} from "\.\.\/\.\.\/src\/dataplane\/dataplane\.js";/,
    (workers === undefined
      ? 'import { RelayDataplane as Dataplane } from "../../src/dataplane/relay/relay.js";\n'
      : 'import { Dataplane } from "./cluster-dataplane.js";\n') +
      'import type { UpstreamOptions } from "../../src/dataplane/relay/upstream.js";',
  );
  if (swapped === gateway) throw new Error("test/helpers/gateway.ts no longer imports Dataplane as expected");
  writeFileSync(gatewayPath, swapped);

  const filters = args;
  const replacement =
    workers === undefined
      ? 'await import("../../src/dataplane/relay/relay.js").then((m) => ({ Dataplane: m.RelayDataplane }))'
      : 'await import("../helpers/cluster-dataplane.js")';
  const files = [];
  for (const name of readdirSync(join(dir, "test", "dataplane"))) {
    if (!name.endsWith(".test.ts") || name.startsWith("explain")) continue;
    if (filters.length > 0 && !filters.some((f) => name.includes(f))) continue;
    const p = join(dir, "test", "dataplane", name);
    const text = readFileSync(p, "utf8").replaceAll(
      'await import("../../src/dataplane/dataplane.js")',
      replacement,
    );
    writeFileSync(p, text);
    files.push(join("test", "dataplane", name));
  }
  if (files.length === 0) throw new Error("no data-plane test files matched");
  const res = spawnSync(
    process.execPath,
    ["--import", "tsx", "--test", "--test-reporter=spec", ...files.sort()],
    {
      cwd: dir,
      stdio: "inherit",
      env: workers === undefined ? process.env : { ...process.env, GRPCROUTE_TEST_WORKERS: workers },
    },
  );
  process.exitCode = res.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
