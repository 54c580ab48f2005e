/**
 * `grpcroute explain -f PATH ... --authority HOST --path /S/M [-H name=value ...] [--port N] [-o text|json]`:
 * which gateway, listener, route, rule and backends would serve a call, or which status it would get, and
 * why each other candidate lost (PRODUCT.md section 6). The analysis runs on the data plane's own router.
 *
 * Exit codes: 0 the call would be forwarded to a backend; 1 the gateway would answer it itself (no listener,
 * no route, no valid backend); 2 the command line is wrong or the input cannot be read.
 */
import { formatIssue, loadPaths } from "../../api/parse.js";
import { explainCall, renderExplanation } from "../../dataplane/explain.js";
import { probeReflection } from "../../dataplane/explain-local.js";
import { applyLatticeFlag, LATTICE_FLAGS, LATTICE_FLAGS_HELP } from "../../runner/lattice-flags.js";
import { translate } from "../../translate/translator.js";
import type { TranslateOptions } from "../../translate/types.js";
import { scanOptions } from "../flags.js";

export const EXPLAIN_USAGE = `usage: grpcroute explain -f PATH [-f PATH ...] --authority HOST[:PORT] --path /SERVICE/METHOD
                         [-H NAME=VALUE ...] [--port N] [-o text|json] [--probe-reflection]

Says which gateway, listener, route, rule and backends (with weights and endpoints) would serve a gRPC
call, or which status the gateway would answer, and why every other candidate lost.

options:
  -f, --filename PATH     a manifest file or folder (repeatable)
  --authority HOST        the call's :authority (a port, if given, selects that listener port)
  --path /S/M             the call's :path, /<package.Service>/<Method>
  -H, --header NAME=VALUE a request header (metadata) of the call (repeatable)
  --port N                only this listener port (default: the authority's port, else every port)
  -o, --output FORMAT     text (default) or json
  --probe-reflection      for a reflection call the gateway answers itself, ask the backends it would
                          ask (at their endpoints) and say which have no reflection service
${LATTICE_FLAGS_HELP}
  -h, --help              this text

exit: 0 the call would reach a backend; 1 the gateway would answer it itself;
      2 bad options or input that cannot be read
`;

type Lattice = NonNullable<TranslateOptions["lattice"]>;

export interface ExplainArgs {
  files: string[];
  authority: string;
  path: string;
  headers: Record<string, string | string[]>;
  port?: number;
  output: "text" | "json";
  lattice: Lattice;
  /** Ask the backends a gateway-answered reflection call would ask whether they have reflection. */
  probeReflection?: boolean;
}

type Parsed = { kind: "help" } | { kind: "error"; message: string } | { kind: "run"; args: ExplainArgs };

const VALUED = new Set([
  "-f",
  "--filename",
  "--authority",
  "--path",
  "-H",
  "--header",
  "--port",
  "-o",
  "--output",
  ...LATTICE_FLAGS,
]);

const EMPTY_ALLOWED = new Set(["--authority", "--path", "-H", "--header"]);

/** Parses the command line; never throws. */
export function parseExplainArgs(argv: readonly string[]): Parsed {
  const files: string[] = [];
  const headers: Record<string, string | string[]> = {};
  const lattice: Lattice = {};
  let authority: string | undefined;
  let path: string | undefined;
  let port: number | undefined;
  let output: "text" | "json" = "text";
  // An empty authority, path or header is a call the gateway can receive, so explain accepts it.
  const probeReflection = argv.includes("--probe-reflection");
  const scanned = scanOptions(
    argv.filter((x) => x !== "--probe-reflection"),
    VALUED,
    EMPTY_ALLOWED,
  );
  if (scanned.kind !== "ok") return scanned;
  for (const [name, value] of scanned.options) {
    switch (name) {
      case "-f":
      case "--filename":
        files.push(value);
        break;
      case "--authority":
        authority = value;
        break;
      case "--path":
        path = value;
        break;
      case "-H":
      case "--header": {
        const sep = value.search(/[=:]/);
        if (sep <= 0) return { kind: "error", message: `${name} "${value}" must be NAME=VALUE` };
        const key = value.slice(0, sep).trim().toLowerCase();
        const v = value.slice(sep + 1).trim();
        const cur = headers[key];
        headers[key] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v];
        break;
      }
      case "--port": {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1 || n > 65535) {
          return { kind: "error", message: `--port must be a port number 1..65535, not "${value}"` };
        }
        port = n;
        break;
      }
      case "--domain-suffix":
      case "--method-case":
      case "--rules-per-listener": {
        const error = applyLatticeFlag(name, value, lattice);
        if (error !== undefined) return { kind: "error", message: error };
        break;
      }
      default:
        if (value !== "text" && value !== "json") {
          return { kind: "error", message: `${name} must be text or json, not "${value}"` };
        }
        output = value;
    }
  }
  if (files.length === 0) return { kind: "error", message: "at least one -f PATH is required" };
  if (authority === undefined) return { kind: "error", message: "--authority HOST is required" };
  if (path === undefined) return { kind: "error", message: "--path /SERVICE/METHOD is required" };
  const args: ExplainArgs = { files, authority, path, headers, output, lattice };
  if (port !== undefined) args.port = port;
  if (probeReflection) args.probeReflection = true;
  return { kind: "run", args };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseExplainArgs(argv);
  if (parsed.kind === "help") {
    process.stdout.write(EXPLAIN_USAGE);
    return 0;
  }
  if (parsed.kind === "error") {
    process.stderr.write(`grpcroute explain: ${parsed.message}\n\n${EXPLAIN_USAGE}`);
    return 2;
  }
  const a = parsed.args;
  const loaded = await loadPaths(a.files);
  if (loaded.fatal.length > 0) {
    for (const i of loaded.fatal) process.stderr.write(`grpcroute explain: ${formatIssue(i)}\n`);
    return 2;
  }
  // Rejected objects matter to the answer (a route that is not there): say so on stderr.
  for (const i of loaded.issues)
    if (i.severity === "error") process.stderr.write(`error: ${formatIssue(i)}\n`);
  const { table } = translate(loaded.resources, { lattice: a.lattice });
  const e = explainCall(table, {
    authority: a.authority,
    path: a.path,
    headers: a.headers,
    ...(a.port === undefined ? {} : { port: a.port }),
  });
  if (a.probeReflection === true) {
    for (const p of e.ports) {
      const r = p.reflection;
      if (r === undefined) continue;
      const clusters = r.askedBackends.map((n) => table.clusters[n]).filter((c) => c !== undefined);
      r.withoutReflection = await probeReflection(clusters);
    }
  }
  process.stdout.write(a.output === "json" ? `${JSON.stringify(e, null, 2)}\n` : renderExplanation(e));
  const reaches = e.ports.some(
    (p) => p.result === "forward" && p.answer === null && p.backends.some((b) => b.answer === undefined),
  );
  return reaches ? 0 : 1;
}
