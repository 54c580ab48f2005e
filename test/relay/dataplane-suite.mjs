#!/usr/bin/env node
// Runs the node:http2 data path's own test suite (test/dataplane/*.test.ts) against the relay data path, to
// check that both keep the same contract. The suite is copied to a temporary directory with its in-process
// gateway helper switched to RelayDataplane; nothing in the tree changes.
// Usage: node test/relay/dataplane-suite.mjs [substring ...]   (only the suite files whose name contains one)
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

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
    'import { RelayDataplane as Dataplane } from "../../src/dataplane/relay/relay.js";\n' +
      'import type { UpstreamOptions } from "../../src/dataplane/relay/upstream.js";',
  );
  if (swapped === gateway) throw new Error("test/helpers/gateway.ts no longer imports Dataplane as expected");
  writeFileSync(gatewayPath, swapped);

  const filters = process.argv.slice(2);
  const files = [];
  for (const name of readdirSync(join(dir, "test", "dataplane"))) {
    if (!name.endsWith(".test.ts") || name.startsWith("explain")) continue;
    if (filters.length > 0 && !filters.some((f) => name.includes(f))) continue;
    const p = join(dir, "test", "dataplane", name);
    const text = readFileSync(p, "utf8").replaceAll(
      'await import("../../src/dataplane/dataplane.js")',
      'await import("../../src/dataplane/relay/relay.js").then((m) => ({ Dataplane: m.RelayDataplane }))',
    );
    writeFileSync(p, text);
    files.push(join("test", "dataplane", name));
  }
  if (files.length === 0) throw new Error("no data-plane test files matched");
  const res = spawnSync(
    process.execPath,
    ["--import", "tsx", "--test", "--test-reporter=spec", ...files.sort()],
    { cwd: dir, stdio: "inherit" },
  );
  process.exitCode = res.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
