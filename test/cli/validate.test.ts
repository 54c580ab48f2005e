/**
 * `grpcroute validate` as a user runs it: a child process per case, checking stdout, stderr and the exit
 * code (0 all accepted, 1 not, 2 unreadable input or a bad command line).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIX = "testdata/translate/cli";
/** Broken input lives in a temporary folder: the repository's YAML must stay well-formed for the linter. */
let tmp = "";
let syntaxError = "";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function validate(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "validate", ...args],
      { cwd: ROOT, timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== "number") {
          reject(err);
          return;
        }
        resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
      },
    );
  });
}

/** Compares with a golden text file next to the fixtures (`UPDATE_GOLDEN=1` rewrites it). */
function golden(name: string, got: string): void {
  const file = join(ROOT, FIX, name);
  if (process.env.UPDATE_GOLDEN === "1") {
    writeFileSync(file, got);
    return;
  }
  assert.equal(got, readFileSync(file, "utf8"), `${FIX}/${name} differs (UPDATE_GOLDEN=1 regenerates it)`);
}

function noStackTrace(s: string): void {
  assert.doesNotMatch(s, /\n\s+at .+\(.+:\d+:\d+\)/, "no stack trace");
}

describe("grpcroute validate", () => {
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), "grpcroute-validate-"));
    syntaxError = join(tmp, "syntax-error.yaml");
    writeFileSync(syntaxError, "apiVersion: v1\nkind: Service\nmetadata: {name: x\nspec: [\n");
    copyFileSync(join(ROOT, FIX, "ok.yaml"), join(tmp, "ok.yaml"));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test("text: every condition, exit 0 when all is accepted", async () => {
    const r = await validate("-f", `${FIX}/ok.yaml`);
    assert.equal(r.code, 0, r.stderr);
    for (const want of [
      "Gateway default/gw (class grpcroute, standard profile)",
      "listener http (HTTP port 80, hostname (any); attached routes 1; kinds GRPCRoute)",
      "Programmed=True Programmed",
      "GRPCRoute default/greeter",
      "parent Gateway default/gw",
      'Accepted=True Accepted: Accepted by Gateway default/gw listener(s) "http"',
      "ResolvedRefs=True ResolvedRefs: All references resolved",
      "OK: 1 Gateway(s), 1 GRPCRoute(s)",
    ]) {
      assert.ok(r.stdout.includes(want), `stdout has ${JSON.stringify(want)}:\n${r.stdout}`);
    }
    golden("ok.txt", r.stdout);
  });

  test("json: a v1 List with .status filled; yaml says the same", async () => {
    const j = await validate("-f", `${FIX}/ok.yaml`, "-o", "json");
    assert.equal(j.code, 0, j.stderr);
    const list = JSON.parse(j.stdout) as {
      apiVersion: string;
      kind: string;
      items: { kind: string; metadata: { name: string }; status: Record<string, unknown> }[];
    };
    assert.equal(list.apiVersion, "v1");
    assert.equal(list.kind, "List");
    assert.deepEqual(
      list.items.map((i) => `${i.kind}/${i.metadata.name}`),
      ["Gateway/gw", "GRPCRoute/greeter"],
    );
    const route = list.items[1]?.status as {
      parents: {
        controllerName: string;
        conditions: { type: string; status: string; observedGeneration: number }[];
      }[];
    };
    assert.equal(route.parents[0]?.controllerName, "grpcroute.dev/gateway-controller");
    assert.deepEqual(
      route.parents[0]?.conditions.map((c) => `${c.type}=${c.status}/${c.observedGeneration}`),
      ["Accepted=True/1", "ResolvedRefs=True/1"],
    );
    const y = await validate("--filename", `${FIX}/ok.yaml`, "--output=yaml");
    assert.equal(y.code, 0, y.stderr);
    assert.deepEqual(parse(y.stdout), list);
  });

  test("exit 1 when a route has an unresolved reference", async () => {
    const r = await validate("-f", `${FIX}/not-ok.yaml`);
    assert.equal(r.code, 1);
    assert.ok(r.stdout.includes("ResolvedRefs=False BackendNotFound"), r.stdout);
    assert.ok(r.stdout.includes("NOT OK"), r.stdout);
    golden("not-ok.txt", r.stdout);
    const j = await validate("-f", `${FIX}/not-ok.yaml`, "-o", "json");
    assert.equal(j.code, 1);
    JSON.parse(j.stdout);
  });

  test("exit 1 when an object is rejected; the issue names file, object and field", async () => {
    const r = await validate("-f", `${FIX}/rejected.yaml`);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /Input issues:\n {2}error: .*rejected\.yaml \(document 0.*GRPCRoute default\/bad-weight: spec\.rules\[0\]\.backendRefs\[0\]\.weight/,
    );
    // Machine formats keep stdout clean: issues go to stderr.
    const j = await validate("-f", `${FIX}/rejected.yaml`, "-o", "json");
    assert.equal(j.code, 1);
    assert.match(j.stderr, /error: .*bad-weight/);
    assert.equal((JSON.parse(j.stdout) as { items: unknown[] }).items.length, 0);
  });

  test("exit 2 on a syntax error, naming the file and position, without a stack trace", async () => {
    const r = await validate("-f", syntaxError);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /syntax-error\.yaml \(document 0, line \d+:\d+\): syntax error/);
    assert.equal(r.stdout, "");
    noStackTrace(r.stderr);
  });

  test("exit 2 on a missing file", async () => {
    const r = await validate("-f", `${FIX}/does-not-exist.yaml`);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /does-not-exist\.yaml.*cannot read/);
    noStackTrace(r.stderr);
  });

  test("a folder is read whole: one unreadable file makes it exit 2", async () => {
    const r = await validate("-f", tmp, "-o", "json");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /syntax-error\.yaml/);
    const ok = await validate("-f", FIX, "-f", `${FIX}/ok.yaml`);
    // ok.yaml named twice is read once; not-ok.yaml and rejected.yaml make it fail.
    assert.equal(ok.code, 1);
    assert.ok(ok.stdout.includes("GRPCRoute default/broken"), ok.stdout);
  });

  test("--domain-suffix reaches the Lattice profile's assigned domain names", async () => {
    const r = await validate("-f", "examples/lattice", "--domain-suffix=lattice.test");
    assert.match(
      r.stdout,
      /annotation application-networking\.k8s\.aws\/lattice-assigned-domain-name: \S+\.lattice\.test\n/,
    );
  });

  const usage: [string, string[], number, RegExp][] = [
    ["--help", ["--help"], 0, /usage: grpcroute validate/],
    ["no -f", [], 2, /at least one -f PATH is required/],
    ["bad -o", ["-f", "x.yaml", "-o", "xml"], 2, /-o must be text, yaml or json/],
    ["unknown flag", ["--frobnicate"], 2, /unknown argument "--frobnicate"/],
    ["-f without a value", ["-f"], 2, /-f needs a value/],
    [
      "bad --method-case",
      ["-f", "x.yaml", "--method-case", "upper"],
      2,
      /--method-case must be insensitive or sensitive/,
    ],
    [
      "bad --rules-per-listener",
      ["-f", "x.yaml", "--rules-per-listener", "0"],
      2,
      /--rules-per-listener must be a positive integer/,
    ],
  ];
  for (const [name, args, code, re] of usage) {
    test(`command line: ${name} -> exit ${code}`, async () => {
      const r = await validate(...args);
      assert.equal(r.code, code);
      assert.match(code === 0 ? r.stdout : r.stderr, re);
    });
  }
});
