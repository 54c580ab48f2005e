/**
 * `grpcroute validate -f PATH ... [-o text|yaml|json]`: reads manifests, translates them and prints every
 * Gateway and GRPCRoute with its status (PRODUCT.md section 6).
 *
 * Exit codes: 0 when every route is Accepted with ResolvedRefs on every parent and no rule dropped
 * (PartiallyInvalid), every listener is Programmed and no object was rejected; 1 when not; 2 when input cannot be read or parsed, or the command
 * line is wrong.
 */
import { formatIssue, loadPaths } from "../../api/parse.js";
import { applyLatticeFlag, LATTICE_FLAGS } from "../../runner/lattice-flags.js";
import { translate } from "../../translate/translator.js";
import type { TranslateOptions } from "../../translate/types.js";
import { scanOptions } from "../flags.js";
import { renderStatusJson, renderStatusText, renderStatusYaml, statusProblems } from "../output.js";

export const VALIDATE_USAGE = `usage: grpcroute validate -f PATH [-f PATH ...] [-o text|yaml|json]
                          [--domain-suffix SUFFIX] [--method-case insensitive|sensitive]
                          [--rules-per-listener N]

Reads Gateway, GRPCRoute and related manifests (files or folders of YAML or JSON), computes the
status the Gateway API defines and prints every Gateway, GRPCRoute, TrafficPolicy and
BackendTLSPolicy with it.

options:
  -f, --filename PATH   a manifest file or folder (repeatable)
  -o, --output FORMAT   text (default), yaml or json: yaml and json print a v1 List of the
                        objects with .status filled, as an API server would hold them
  --domain-suffix SUFFIX
                        Lattice profile: suffix of assigned domain names
                        (default vpc-lattice-svcs.us-west-2.on.aws), as for \`plan\`
  --method-case CASE    Lattice profile: default method matching, insensitive (the
                        AWS GRPCRoute page, default) or sensitive (AWS releases since late 2023)
  --rules-per-listener N
                        Lattice profile: the account's "Rules per listener" quota when
                        raised (default 10), as for \`plan\`
  -h, --help            show this help

exit codes:
  0  every route Accepted and ResolvedRefs on every parent with no rule dropped, every
     listener Programmed, every policy Accepted, no input object rejected
  1  some route, listener or input object is not
  2  a file cannot be read or parsed, or the command line is wrong
`;

type Format = "text" | "yaml" | "json";

type Lattice = NonNullable<TranslateOptions["lattice"]>;

type Parsed =
  | { kind: "help" }
  | { kind: "error"; message: string }
  | { kind: "run"; files: string[]; format: Format; lattice: Lattice };

/** Options that take a value (`--name VALUE` or `--name=VALUE`). */
const VALUED = new Set([
  "-f",
  "--filename",
  "-o",
  "--output",
  "--domain-suffix",
  "--method-case",
  "--rules-per-listener",
]);

/** Parses the command line; never throws. */
export function parseValidateArgs(argv: readonly string[]): Parsed {
  const files: string[] = [];
  let format: Format = "text";
  const lattice: Lattice = {};
  const scanned = scanOptions(argv, VALUED);
  if (scanned.kind !== "ok") return scanned;
  for (const [name, value] of scanned.options) {
    if (name === "-f" || name === "--filename") files.push(value);
    else if (LATTICE_FLAGS.includes(name)) {
      const error = applyLatticeFlag(name, value, lattice);
      if (error !== undefined) return { kind: "error", message: error };
    } else if (value === "text" || value === "yaml" || value === "json") format = value;
    else return { kind: "error", message: `${name} must be text, yaml or json, not "${value}"` };
  }
  if (files.length === 0) return { kind: "error", message: "at least one -f PATH is required" };
  return { kind: "run", files, format, lattice };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseValidateArgs(argv);
  if (parsed.kind === "help") {
    process.stdout.write(VALIDATE_USAGE);
    return 0;
  }
  if (parsed.kind === "error") {
    process.stderr.write(`grpcroute validate: ${parsed.message}\n\n${VALIDATE_USAGE}`);
    return 2;
  }
  const loaded = await loadPaths(parsed.files);
  if (loaded.fatal.length > 0) {
    for (const i of loaded.fatal) process.stderr.write(`grpcroute validate: ${formatIssue(i)}\n`);
    return 2;
  }
  const { status } = translate(loaded.resources, { lattice: parsed.lattice });
  if (parsed.format === "text") {
    process.stdout.write(renderStatusText(loaded.resources, status, loaded.issues));
  } else {
    // Keep stdout machine-readable: input issues go to stderr.
    for (const i of loaded.issues) process.stderr.write(`${i.severity}: ${formatIssue(i)}\n`);
    process.stdout.write(
      parsed.format === "json"
        ? renderStatusJson(loaded.resources, status)
        : renderStatusYaml(loaded.resources, status),
    );
  }
  return statusProblems(status, loaded.issues).length === 0 ? 0 : 1;
}
