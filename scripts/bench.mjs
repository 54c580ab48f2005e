#!/usr/bin/env node
// `npm run bench [-- options]`: runs the benchmark suite (bench/main.ts) through tsx and passes its exit code
// on. `npm run bench -- --help` lists the options; `npm run bench -- --smoke` is the short check CI runs.
// The suite stops every process it starts; Ctrl-C reaches it too (same process group).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const child = spawn(process.execPath, ["--import", "tsx", "bench/main.ts", ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
});
// The child handles SIGINT/SIGTERM itself (it stops its processes first); this launcher only waits for it.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => {});
child.on("exit", (code, signal) => {
  process.exitCode = code ?? (signal ? 128 : 1);
});
