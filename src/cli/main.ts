#!/usr/bin/env -S node --initial-old-space-size=64 --max-semi-space-size=4 --no-parallel-scavenge
/**
 * `grpcroute` command line. Each sub-command lives in `commands/<name>.ts` and exports
 * `run(argv: string[]): Promise<number>` returning the exit code.
 */
import { VERSION } from "../version.js";

const COMMANDS: Record<
  string,
  { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }
> = {
  serve: { summary: "run the gateway on manifest files", load: () => import("./commands/serve.js") },
  controller: {
    summary: "run the gateway in a Kubernetes cluster (API server in, status out)",
    load: () => import("./commands/controller.js"),
  },
  validate: {
    summary: "print every Gateway, GRPCRoute and policy with its status",
    load: () => import("./commands/validate.js"),
  },
  explain: {
    summary: "say which route and backends would serve a call, and why",
    load: () => import("./commands/explain.js"),
  },
  plan: {
    summary: "print the VPC Lattice resources of Lattice-profile routes",
    load: () => import("./commands/plan.js"),
  },
};

function usage(): string {
  const lines = ["usage: grpcroute <command> [options]", "", "commands:"];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push("", "Run `grpcroute <command> --help` for the options of a command.");
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-v") {
    process.stdout.write(`grpcroute ${VERSION}\n`);
    return 0;
  }
  const cmd = COMMANDS[name];
  if (cmd === undefined) {
    process.stderr.write(`grpcroute: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  const mod = await cmd.load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // A bug, not bad input: user-input problems are reported by the commands themselves.
    process.stderr.write(
      `grpcroute: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 70;
  },
);
