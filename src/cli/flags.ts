/**
 * The option scanner shared by `validate`, `explain` and `plan`: every option takes a value, given as
 * `--name value`, `--name=value` or `-x value`. Never throws: a problem comes back as a message naming the
 * argument, which the command prints with its usage and exit code 2.
 */

export type ScanResult =
  | { kind: "help" }
  | { kind: "error"; message: string }
  | { kind: "ok"; options: [name: string, value: string][] };

/**
 * Splits `argv` into (name, value) pairs, in order. `valued` lists the accepted option names; `-h`/`--help`
 * anywhere asks for help. A value may be empty only for names in `emptyAllowed`.
 */
export function scanOptions(
  argv: readonly string[],
  valued: ReadonlySet<string>,
  emptyAllowed: ReadonlySet<string> = new Set(),
): ScanResult {
  const options: [string, string][] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "-h" || arg === "--help") return { kind: "help" };
    let name = arg;
    let value: string | undefined;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      name = arg.slice(0, eq);
      value = arg.slice(eq + 1);
    }
    if (!valued.has(name)) return { kind: "error", message: `unknown argument "${arg}"` };
    if (value === undefined) {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined || (value === "" && !emptyAllowed.has(name))) {
      return { kind: "error", message: `${name} needs a value` };
    }
    options.push([name, value]);
  }
  return { kind: "ok", options };
}
