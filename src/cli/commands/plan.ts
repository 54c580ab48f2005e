/**
 * `grpcroute plan -f PATH [-f PATH ...] [-o yaml|json] [--domain-suffix SUFFIX] [--method-case CASE]
 * [--vpc-id ID] [--cluster-name NAME] [--account-id ID] [--rules-per-listener N]`: prints the VPC Lattice
 * resources (service network, service, listener, rules, target groups and targets) of every Lattice-profile
 * GRPCRoute, in the VPC Lattice API's input shapes. Exit 0 when every Lattice route planned cleanly, 1 when
 * a rule or route was rejected (each reason on stderr), 2 for bad flags or input that cannot be read.
 */
import { stringify } from "yaml";
import { formatIssue, loadPaths } from "../../api/parse.js";
import { type LatticePlanOptions, planDocument, planLattice } from "../../plan/lattice.js";
import { applyLatticeFlag, LATTICE_FLAGS } from "../../runner/lattice-flags.js";
import { translate } from "../../translate/translator.js";
import type { TranslateOptions } from "../../translate/types.js";
import { scanOptions } from "../flags.js";

export const PLAN_USAGE = `usage: grpcroute plan -f PATH [-f PATH ...] [-o yaml|json] [options]

Prints the VPC Lattice resources the AWS Gateway API Controller would create for every GRPCRoute of a
Lattice-profile Gateway (class amazon-vpc-lattice, or controllerName
application-networking.k8s.aws/gateway-api-controller), in the VPC Lattice API's input shapes.

options:
  -f, --filename PATH     manifest file or folder (repeatable)
  -o, --output FORMAT     yaml (default) or json
  --domain-suffix SUFFIX  suffix of assigned domain names (default vpc-lattice-svcs.us-west-2.on.aws)
  --method-case CASE      default method matching: insensitive (the AWS GRPCRoute page, default) or sensitive
  --vpc-id ID             target group vpcIdentifier (the controller's CLUSTER_VPC_ID)
  --cluster-name NAME     ClusterName tag (the controller's CLUSTER_NAME)
  --account-id ID         account id in the ManagedBy tag
  --rules-per-listener N  the account's "Rules per listener" quota, when raised (default 10)
  -h, --help              this text

exit: 0 every Lattice route planned cleanly; 1 a rule or route was rejected (reasons on stderr);
      2 bad options or input that cannot be read
`;

interface PlanArgs {
  files: string[];
  output: "yaml" | "json";
  opts: LatticePlanOptions;
}

const PLAN_FLAGS = new Set([
  "-f",
  "--filename",
  "-o",
  "--output",
  ...LATTICE_FLAGS,
  "--vpc-id",
  "--cluster-name",
  "--account-id",
]);

function parseArgs(argv: string[]): PlanArgs | { help: true } | { error: string } {
  const files: string[] = [];
  let output: "yaml" | "json" = "yaml";
  const opts: LatticePlanOptions = {};
  const scanned = scanOptions(argv, PLAN_FLAGS);
  if (scanned.kind === "help") return { help: true };
  if (scanned.kind === "error") return { error: scanned.message };
  for (const [flag, value] of scanned.options) {
    switch (flag) {
      case "-f":
      case "--filename":
        files.push(value);
        break;
      case "-o":
      case "--output":
        if (value !== "yaml" && value !== "json") return { error: `-o must be yaml or json, not "${value}"` };
        output = value;
        break;
      case "--domain-suffix":
      case "--method-case":
      case "--rules-per-listener": {
        const error = applyLatticeFlag(flag, value, opts);
        if (error !== undefined) return { error };
        break;
      }
      case "--vpc-id":
        opts.vpcId = value;
        break;
      case "--cluster-name":
        opts.clusterName = value;
        break;
      case "--account-id":
        opts.accountId = value;
        break;
    }
  }
  if (files.length === 0) return { error: "at least one -f PATH is required" };
  return { files, output, opts };
}

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if ("help" in args) {
    process.stdout.write(PLAN_USAGE);
    return 0;
  }
  if ("error" in args) {
    process.stderr.write(`grpcroute plan: ${args.error}\nRun \`grpcroute plan --help\` for the options.\n`);
    return 2;
  }
  const loaded = await loadPaths(args.files);
  if (loaded.fatal.length > 0) {
    for (const i of loaded.fatal) process.stderr.write(`grpcroute plan: ${formatIssue(i)}\n`);
    return 2;
  }
  let rejected = false;
  for (const i of loaded.issues) {
    if (i.severity === "error") rejected = true;
    process.stderr.write(`${i.severity}: ${formatIssue(i)}\n`);
  }
  const lattice: NonNullable<TranslateOptions["lattice"]> = {};
  if (args.opts.domainSuffix !== undefined) lattice.domainSuffix = args.opts.domainSuffix;
  if (args.opts.methodCase !== undefined) lattice.methodCase = args.opts.methodCase;
  if (args.opts.rulesPerListener !== undefined) lattice.rulesPerListener = args.opts.rulesPerListener;
  const result = translate(loaded.resources, { lattice });
  const { plan, issues } = planLattice(loaded.resources, result, args.opts);
  for (const i of issues) {
    rejected = true;
    process.stderr.write(
      `rejected: GRPCRoute ${i.route}: ${i.path === "" ? "" : `${i.path}: `}${i.message}\n`,
    );
  }
  const doc = planDocument(plan, issues);
  process.stdout.write(
    args.output === "json" ? `${JSON.stringify(doc, null, 2)}\n` : stringify(doc, { lineWidth: 0 }),
  );
  return rejected ? 1 : 0;
}
