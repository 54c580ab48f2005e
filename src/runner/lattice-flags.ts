/**
 * The Lattice-profile flags shared by `serve`, `validate`, `explain` and `plan`, parsed in one place so the
 * commands agree on names, values and messages (a route must route in `serve` as `validate` reports it).
 */
import type { TranslateOptions } from "../translate/types.js";

export type LatticeFlagOptions = NonNullable<TranslateOptions["lattice"]>;

/** Flag names, each taking a value. */
export const LATTICE_FLAGS: readonly string[] = ["--domain-suffix", "--method-case", "--rules-per-listener"];

/** Help lines for the flags, aligned for the commands' usage texts. */
export const LATTICE_FLAGS_HELP = `  --domain-suffix SUFFIX  Lattice profile: suffix of assigned domain names
                          (default vpc-lattice-svcs.us-west-2.on.aws)
  --method-case CASE      Lattice profile: default method matching, insensitive (the AWS
                          documentation, default) or sensitive (AWS releases since late 2023)
  --rules-per-listener N  Lattice profile: the account's "Rules per listener" quota (default 10)`;

/**
 * Applies one Lattice flag to `into`. Returns a message naming the flag and the value when the value is
 * not valid, else undefined.
 */
export function applyLatticeFlag(flag: string, value: string, into: LatticeFlagOptions): string | undefined {
  switch (flag) {
    case "--domain-suffix":
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(value)) {
        return `--domain-suffix must be a lowercase DNS name such as vpc-lattice-svcs.us-west-2.on.aws, not "${value}"`;
      }
      into.domainSuffix = value;
      return undefined;
    case "--method-case":
      if (value !== "insensitive" && value !== "sensitive") {
        return `--method-case must be insensitive or sensitive, not "${value}"`;
      }
      into.methodCase = value;
      return undefined;
    case "--rules-per-listener":
      if (!/^[1-9][0-9]{0,5}$/.test(value)) {
        return `--rules-per-listener must be a positive integer, not "${value}"`;
      }
      into.rulesPerListener = Number(value);
      return undefined;
    default:
      return `unknown Lattice option "${flag}"`;
  }
}
