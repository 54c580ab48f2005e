/** `grpcroute plan` as a user runs it: output formats, messages on stderr and exit codes. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = "src/cli/main.ts";

function grpcroute(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", MAIN, ...args],
      { cwd: ROOT, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("grpcroute plan", () => {
  const cases: {
    name: string;
    args: string[];
    code: number;
    stdout?: (out: string) => void;
    stderr?: RegExp;
  }[] = [
    {
      name: "the AWS GRPCRoute page's example plans cleanly (yaml)",
      args: ["plan", "-f", "examples/lattice"],
      code: 0,
      stdout: (out) => {
        const doc = parse(out) as { kind: string; services: { name: string }[] };
        assert.equal(doc.kind, "LatticePlan");
        assert.equal(doc.services[0]?.name, "greeter-grpc-route-default");
      },
    },
    {
      name: "json output with the VPC Lattice field names",
      args: [
        "plan",
        "-f",
        "examples/lattice",
        "-o",
        "json",
        "--vpc-id",
        "vpc-0123",
        "--method-case",
        "sensitive",
      ],
      code: 0,
      stdout: (out) => {
        const doc = JSON.parse(out) as {
          services: {
            listeners: { rules: { match: { httpMatch: { pathMatch: { caseSensitive: boolean } } } }[] }[];
          }[];
          targetGroups: { config: { vpcIdentifier: string; protocolVersion: string } }[];
        };
        assert.equal(doc.targetGroups[0]?.config.vpcIdentifier, "vpc-0123");
        assert.equal(doc.targetGroups[0]?.config.protocolVersion, "GRPC");
        assert.equal(doc.services[0]?.listeners[0]?.rules[1]?.match.httpMatch.pathMatch.caseSensitive, true);
      },
    },
    {
      name: "a rejected rule: exit 1, the reason on stderr",
      args: ["plan", "-f", "testdata/lattice/base", "-f", "testdata/lattice/limit-headers-6-partial.in.yaml"],
      code: 1,
      stderr:
        /rejected: GRPCRoute default\/grpc-route: spec\.rules\[0\]\.matches\[0\]\.headers: .*6 header matches; VPC Lattice allows 5/,
    },
    {
      name: "a path that does not exist: exit 2",
      args: ["plan", "-f", "testdata/lattice/no-such-file.yaml"],
      code: 2,
      stderr: /no-such-file\.yaml/,
    },
    {
      name: "11 rules: rejected at the default quota, planned with --rules-per-listener 11",
      args: [
        "plan",
        "-f",
        "testdata/lattice/base",
        "-f",
        "testdata/lattice/limit-rules-11.in.yaml",
        "--rules-per-listener",
        "11",
      ],
      code: 0,
      stdout: (out) => {
        const doc = parse(out) as { services: { listeners: { rules: unknown[] }[] }[] };
        assert.equal(doc.services[0]?.listeners[0]?.rules.length, 11);
      },
    },
    {
      name: "bad --rules-per-listener: exit 2",
      args: ["plan", "-f", "examples/lattice", "--rules-per-listener", "ten"],
      code: 2,
      stderr: /positive integer/,
    },
    { name: "no -f: exit 2", args: ["plan"], code: 2, stderr: /at least one -f PATH/ },
    {
      name: "bad -o: exit 2",
      args: ["plan", "-f", "examples/lattice", "-o", "xml"],
      code: 2,
      stderr: /yaml or json/,
    },
    {
      name: "--help",
      args: ["plan", "--help"],
      code: 0,
      stdout: (out) => assert.match(out, /usage: grpcroute plan/),
    },
  ];

  for (const c of cases) {
    test(c.name, async () => {
      const r = await grpcroute(c.args);
      assert.equal(r.code, c.code, `exit code (stderr: ${r.stderr})`);
      assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, "no stack trace");
      c.stdout?.(r.stdout);
      if (c.stderr) assert.match(r.stderr, c.stderr);
    });
  }
});
