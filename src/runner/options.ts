/**
 * `grpcroute serve` options: parsing and checking the command line. Bad flags never throw: they come back as
 * a message naming the flag, the value and what is expected (the command prints it and exits 2).
 */
import { isIP } from "node:net";
import { parseArgs } from "node:util";
import { DEFAULT_TRANSCODING_BODY_LIMIT } from "../dataplane/local/transcode.js";
import {
  DEFAULT_LIMITS,
  LIMIT_FLAGS,
  type ProtocolLimits,
  parseLimitFlag,
} from "../dataplane/relay/limits.js";
import { DEFAULT_RETRY_BUFFER_BYTES } from "../dataplane/relay/retry.js";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../log/logger.js";
import { DEFAULT_POLL_INTERVAL_MS } from "../sources/file-source.js";
import { defaultCertDir } from "./certificates.js";
import { defaultWorkers, MAX_WORKERS } from "./default-workers.js";
import { applyLatticeFlag, LATTICE_FLAGS, type LatticeFlagOptions } from "./lattice-flags.js";

/** The data-plane flags `serve` and `controller` share, with defaults applied. */
export interface DataplaneFlagOptions {
  /** Address listeners bind to (`--address`). Default: all interfaces. */
  address?: string;
  /** Listener port -> local port (`--port-map`, repeatable; local 0 = any free port). */
  portMap: Map<number, number>;
  /** Admin server address (`--admin HOST:PORT`). Default 127.0.0.1:9901; port 0 picks a free port. */
  admin: { host: string; port: number };
  /** Default json. */
  logFormat: LogFormat;
  /** Default info. */
  logLevel: LogLevel;
  /** How long calls in flight may run after SIGTERM before they are cancelled, in ms. Default 10,000. */
  drainTimeoutMs: number;
  /** Where generated certificates are written. Default `<os tmpdir>/grpcroute-certs`. */
  certDir: string;
  /** Lattice-profile options (`--domain-suffix`, `--method-case`, `--rules-per-listener`), as `validate` takes them. */
  lattice: LatticeFlagOptions;
  /**
   * Data-plane processes (`--workers`). Default: the usable cores less one, at least 1 (default-workers.ts).
   * 1 runs the data plane in the gateway's own process; more run it in that many worker processes sharing
   * the listening sockets (node:cluster).
   */
  workers: number;
  /** HTTP/2 limits against abusive clients given with `--h2-*` flags (the rest keep their defaults). */
  limits: Partial<ProtocolLimits>;
  /**
   * Request bytes all calls of one data-plane process may keep at once for TrafficPolicy retries
   * (`--retry-buffer-limit`). Default: the data plane's, 32 MiB.
   */
  retryBufferBytes?: number;
  /** Largest request body of a JSON transcoded request (`--transcoding-body-limit`). Default 4 MiB. */
  transcodingBodyLimit?: number;
}

/** Everything `serve` needs, with defaults applied. */
export interface ServeOptions extends DataplaneFlagOptions {
  /** Manifest files and folders (`-f`, repeatable). */
  files: string[];
  /** Reload when the files change (`--watch`). Default false; SIGHUP reloads either way. */
  watch: boolean;
  /** Quiet time after a file change before reloading, in ms. Default 200. */
  debounceMs: number;
  /**
   * With `watch`: how often the files are also checked for changes no file-system event reported, in ms
   * (`--poll-interval`); 0 turns the poll off. Default 5000.
   */
  pollIntervalMs: number;
}

export const DEFAULT_ADMIN = { host: "127.0.0.1", port: 9901 } as const;
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
export const DEFAULT_DEBOUNCE_MS = 200;
export { DEFAULT_POLL_INTERVAL_MS };
/** Most `--transcoding-body-limit` takes: 1 GiB. */
export const MAX_TRANSCODING_BODY_LIMIT = 1024 * 1024 * 1024;
/** Most `--retry-buffer-limit` takes: 4 GiB. */
export const MAX_RETRY_BUFFER_BYTES = 4 * 1024 * 1024 * 1024;

export { defaultWorkers, MAX_WORKERS };

export const SERVE_USAGE = `usage: grpcroute serve -f PATH [-f PATH ...] [options]

Runs the gateway: serves every Gateway listener of the manifests and routes gRPC calls by their GRPCRoutes.

options:
  -f, --filename PATH          manifest file or folder (YAML or JSON); repeatable; required
  -w, --watch                  reload when the files change (SIGHUP reloads too)
      --debounce MS            quiet time after a file change before reloading (default ${DEFAULT_DEBOUNCE_MS})
      --poll-interval MS       with --watch, also look for changes no file-system event reported (network
                               mounts) this often (default ${DEFAULT_POLL_INTERVAL_MS}; 0 = never)
${dataplaneUsage()}
  -h, --help                   show this help

admin endpoints: /healthz /readyz /config /status /metrics
signals: SIGHUP reloads; SIGTERM or SIGINT drains calls in flight and exits 0.
`;

/** The usage lines of the data-plane flags `serve` and `controller` share. */
export function dataplaneUsage(): string {
  return `      --address ADDR           address the listeners bind to (default: all interfaces)
      --port-map LP=PORT       bind listener port LP on local PORT instead (repeatable; 0 = any free port),
                               e.g. --port-map 443=8443 to run without privileges
      --admin HOST:PORT        admin server address (default ${DEFAULT_ADMIN.host}:${DEFAULT_ADMIN.port}; port 0 = any free port)
      --log-format json|pretty log format (default json: one JSON object per line on stdout)
      --log-level LEVEL        ${LOG_LEVELS.join(", ")} (default info)
      --drain-timeout MS       on SIGTERM, how long calls in flight may finish (default ${DEFAULT_DRAIN_TIMEOUT_MS})
      --cert-dir DIR           where generated listener certificates are written (default ${defaultCertDir()})
      --workers N              data-plane processes sharing the listeners (default: one per usable core
                               less one, at least 1, here ${defaultWorkers()}: the spare core runs the
                               kernel's network work and the gateway's own; a container's CPU limit
                               counts); 1 keeps everything in one process
      --domain-suffix SUFFIX   Lattice profile: suffix of assigned domain names (as validate and plan)
      --method-case CASE       Lattice profile: insensitive (default) or sensitive method matching
      --rules-per-listener N   Lattice profile: the account's rules-per-listener quota (default 10)
      --retry-buffer-limit BYTES  request bytes all calls of a data-plane process may keep for
                               TrafficPolicy retries at once (default ${DEFAULT_RETRY_BUFFER_BYTES}); past it,
                               calls are no longer retried
      --transcoding-body-limit BYTES  largest request body of a JSON transcoded request (default
                               ${DEFAULT_TRANSCODING_BODY_LIMIT}); a larger one gets HTTP 413
${limitUsage()}`;
}

/** The usage lines of the limit flags (docs/security.md). */
function limitUsage(): string {
  const lines = [
    "HTTP/2 limits per client connection (docs/security.md); past one, the connection is closed unless",
    "the line says otherwise:",
  ];
  for (const f of LIMIT_FLAGS) {
    const left = `      --${f.flag} ${f.unit}`;
    const help = `${f.help} (default ${DEFAULT_LIMITS[f.key]})`;
    // A long flag gets its help on the next line, in the same column as the others.
    if (left.length < 31) lines.push(`${left.padEnd(31)}${help}`);
    else lines.push(left, `${"".padEnd(31)}${help}`);
  }
  return lines.join("\n");
}

/** The `node:util` parseArgs definitions of the data-plane flags `serve` and `controller` share. */
export const DATAPLANE_ARGS = {
  address: { type: "string" },
  "port-map": { type: "string", multiple: true },
  admin: { type: "string" },
  "log-format": { type: "string" },
  "log-level": { type: "string" },
  "drain-timeout": { type: "string" },
  "cert-dir": { type: "string" },
  // Retired: the frame-level relay is the only data path. `relay` is still accepted, `http2` is refused.
  dataplane: { type: "string" },
  workers: { type: "string" },
  "domain-suffix": { type: "string" },
  "method-case": { type: "string" },
  "rules-per-listener": { type: "string" },
  "retry-buffer-limit": { type: "string" },
  "transcoding-body-limit": { type: "string" },
  ...Object.fromEntries(LIMIT_FLAGS.map((f) => [f.flag, { type: "string" as const }])),
} as const satisfies Record<string, { type: "string" | "boolean"; multiple?: boolean }>;

/** Parsed flag values as `node:util` parseArgs returns them. */
export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** What parsing a command's arguments gives: its options, a request for help, or the first bad flag. */
export type ParseResult<T = ServeOptions> =
  | { kind: "ok"; options: T }
  | { kind: "help" }
  | { kind: "error"; message: string };

/** Parses `serve`'s arguments. */
export function parseServeArgs(argv: string[]): ParseResult {
  let values: FlagValues;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        file: { type: "string", short: "f", multiple: true },
        // kubectl's spelling, also accepted by `validate`.
        filename: { type: "string", multiple: true },
        watch: { type: "boolean", short: "w" },
        debounce: { type: "string" },
        "poll-interval": { type: "string" },
        ...DATAPLANE_ARGS,
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err: unknown) {
    return { kind: "error", message: err instanceof Error ? err.message : String(err) };
  }
  if (values.help === true) return { kind: "help" };
  if (positionals.length > 0) {
    return {
      kind: "error",
      message: `unexpected argument "${positionals[0]}": manifest paths are given with -f PATH`,
    };
  }
  const files = [...strings(values.file), ...strings(values.filename)];
  if (files.length === 0) return { kind: "error", message: "no input: give at least one -f PATH" };
  if (files.some((f) => f === "")) return { kind: "error", message: "-f: the path is empty" };

  const debounce = parseMs(values.debounce, DEFAULT_DEBOUNCE_MS);
  if (debounce === undefined) {
    return {
      kind: "error",
      message: `--debounce "${str(values.debounce)}": expected a whole number of milliseconds, 0..3600000`,
    };
  }
  const poll = parseMs(values["poll-interval"], DEFAULT_POLL_INTERVAL_MS);
  if (poll === undefined) {
    return {
      kind: "error",
      message: `--poll-interval "${str(values["poll-interval"])}": expected a whole number of milliseconds, 0..3600000 (0 = never)`,
    };
  }
  const shared = readDataplaneFlags(values);
  if (typeof shared === "string") return { kind: "error", message: shared };
  const options: ServeOptions = {
    ...shared,
    files,
    watch: values.watch === true,
    debounceMs: debounce,
    pollIntervalMs: poll,
  };
  return { kind: "ok", options };
}

/** Reads the data-plane flags from parsed values; a string is the message of the first bad one. */
export function readDataplaneFlags(values: FlagValues): DataplaneFlagOptions | string {
  const portMap = new Map<number, number>();
  for (const spec of strings(values["port-map"])) {
    const m = /^(\d+)=(\d+)$/.exec(spec);
    const from = m ? Number(m[1]) : Number.NaN;
    const to = m ? Number(m[2]) : Number.NaN;
    if (!m || !isPort(from, 1) || !isPort(to, 0)) {
      return `--port-map "${spec}": expected LISTENER_PORT=LOCAL_PORT, listener port 1..65535 and local port 0..65535 (0 = any free port)`;
    }
    if (portMap.has(from)) return `--port-map: listener port ${from} is mapped twice`;
    portMap.set(from, to);
  }

  let admin: { host: string; port: number } = { ...DEFAULT_ADMIN };
  const adminArg = str(values.admin);
  if (adminArg !== undefined) {
    const parsed = parseHostPort(adminArg);
    if (parsed === undefined) {
      return `--admin "${adminArg}": expected HOST:PORT with port 0..65535, e.g. 127.0.0.1:9901 or [::1]:9901`;
    }
    admin = parsed;
  }

  const address = str(values.address);
  if (address !== undefined && address === "") return "--address: the address is empty";

  const logFormat = str(values["log-format"]) ?? "json";
  if (!(LOG_FORMATS as readonly string[]).includes(logFormat)) {
    return `--log-format "${logFormat}": expected one of ${LOG_FORMATS.join(", ")}`;
  }
  const logLevel = str(values["log-level"]) ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    return `--log-level "${logLevel}": expected one of ${LOG_LEVELS.join(", ")}`;
  }

  const drain = parseMs(values["drain-timeout"], DEFAULT_DRAIN_TIMEOUT_MS);
  if (drain === undefined) {
    return `--drain-timeout "${str(values["drain-timeout"])}": expected a whole number of milliseconds, 0..3600000`;
  }
  const dataplane = str(values.dataplane);
  if (dataplane !== undefined && dataplane !== "relay") {
    return `--dataplane "${dataplane}": the node:http2 data path was retired; the frame-level relay is the only one (drop the flag)`;
  }
  let workers = defaultWorkers();
  const workersArg = str(values.workers);
  if (workersArg !== undefined) {
    workers = /^\d+$/.test(workersArg) ? Number(workersArg) : Number.NaN;
    if (!(workers >= 1 && workers <= MAX_WORKERS)) {
      return `--workers "${workersArg}": expected a whole number of processes, 1..${MAX_WORKERS}`;
    }
  }
  const certDir = str(values["cert-dir"]) ?? defaultCertDir();
  if (certDir === "") return "--cert-dir: the directory is empty";

  const lattice: LatticeFlagOptions = {};
  for (const flag of LATTICE_FLAGS) {
    const value = str(values[flag.slice(2)]);
    if (value === undefined) continue;
    const error = applyLatticeFlag(flag, value, lattice);
    if (error !== undefined) return error;
  }

  const limits: Partial<ProtocolLimits> = {};
  for (const f of LIMIT_FLAGS) {
    const value = str(values[f.flag]);
    if (value === undefined) continue;
    const n = parseLimitFlag(f, value);
    if (typeof n === "string") return n;
    limits[f.key] = n;
  }

  let retryBufferBytes: number | undefined;
  const rbl = str(values["retry-buffer-limit"]);
  if (rbl !== undefined) {
    retryBufferBytes = /^\d+$/.test(rbl) ? Number(rbl) : Number.NaN;
    if (!(retryBufferBytes >= 0 && retryBufferBytes <= MAX_RETRY_BUFFER_BYTES)) {
      return `--retry-buffer-limit "${rbl}": expected a whole number of bytes, 0..${MAX_RETRY_BUFFER_BYTES} (0 = no retry keeps request bytes)`;
    }
  }

  let transcodingBodyLimit: number | undefined;
  const tbl = str(values["transcoding-body-limit"]);
  if (tbl !== undefined) {
    transcodingBodyLimit = /^\d+$/.test(tbl) ? Number(tbl) : Number.NaN;
    if (!(transcodingBodyLimit >= 0 && transcodingBodyLimit <= MAX_TRANSCODING_BODY_LIMIT)) {
      return `--transcoding-body-limit "${tbl}": expected a whole number of bytes, 0..${MAX_TRANSCODING_BODY_LIMIT}`;
    }
  }

  const options: DataplaneFlagOptions = {
    portMap,
    admin,
    logFormat: logFormat as LogFormat,
    logLevel: logLevel as LogLevel,
    drainTimeoutMs: drain,
    certDir,
    lattice,
    workers,
    limits,
  };
  if (address !== undefined) options.address = address;
  if (retryBufferBytes !== undefined) options.retryBufferBytes = retryBufferBytes;
  if (transcodingBodyLimit !== undefined) options.transcodingBodyLimit = transcodingBodyLimit;
  return options;
}

/** `host:port`, `[v6]:port`; undefined when malformed. */
export function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]]+):(\d+)$/.exec(s);
  if (!m) return undefined;
  const host = m[1] ?? "";
  const port = Number(m[2]);
  if (!isPort(port, 0)) return undefined;
  if (s.startsWith("[") && isIP(host) !== 6) return undefined;
  return { host, port };
}

/** `host:port` for logs and URLs, with IPv6 hosts in brackets. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

function isPort(n: number, min: number): boolean {
  return Number.isInteger(n) && n >= min && n <= 65535;
}

function parseMs(v: unknown, dflt: number): number | undefined {
  const s = str(v);
  if (s === undefined) return dflt;
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 3_600_000 ? n : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}
