/**
 * Project errors: one class with a stable machine `code` and the underlying `cause`.
 *
 * Bad user input never throws: it becomes an `Issue` or a status condition. `GatewayError` is for I/O and
 * environment failures (a file that cannot be read, a port that cannot be bound) that callers report or
 * retry. Every code is listed in docs/errors.md; a test fails when one is missing.
 */

/** A manifest file or folder cannot be read (missing, permission denied). */
export const GW_ERR_READ = "GW_ERR_READ";
/** Input cannot be parsed as YAML or JSON. */
export const GW_ERR_PARSE = "GW_ERR_PARSE";
/** A listener, admin or backend test port cannot be bound. */
export const GW_ERR_BIND = "GW_ERR_BIND";
/** Watching manifest files failed. */
export const GW_ERR_WATCH = "GW_ERR_WATCH";
/** Command-line arguments are missing or invalid. */
export const GW_ERR_USAGE = "GW_ERR_USAGE";
/** A TLS certificate or key cannot be loaded or generated. */
export const GW_ERR_TLS = "GW_ERR_TLS";
/** A configuration was refused by the data plane (a broken routing table invariant). */
export const GW_ERR_CONFIG = "GW_ERR_CONFIG";
/** A Kubernetes API request failed. */
export const GW_ERR_KUBE_API = "GW_ERR_KUBE_API";
/** The kubeconfig cannot be found, read or used (no cluster, a missing certificate file, a bad context). */
export const GW_ERR_KUBE_CONFIG = "GW_ERR_KUBE_CONFIG";
/** The API server answered 401 or 403: the credentials or the RBAC rules do not allow a request. */
export const GW_ERR_KUBE_FORBIDDEN = "GW_ERR_KUBE_FORBIDDEN";
/** The API server cannot be reached (connection refused or reset, DNS, TLS handshake, timeout). */
export const GW_ERR_KUBE_UNREACHABLE = "GW_ERR_KUBE_UNREACHABLE";
/** A Kubernetes watch expired (HTTP 410 Gone): the source must list again. */
export const GW_ERR_KUBE_WATCH_GONE = "GW_ERR_KUBE_WATCH_GONE";
/** The API server does not serve a kind whose CRD is optional (TrafficPolicy, BackendTLSPolicy): read as empty. */
export const GW_ERR_KUBE_NOT_SERVED = "GW_ERR_KUBE_NOT_SERVED";
/** Writing status (to the API server or a file) failed. */
export const GW_ERR_STATUS_WRITE = "GW_ERR_STATUS_WRITE";
/** An operation was aborted by its signal (shutdown). */
export const GW_ERR_ABORTED = "GW_ERR_ABORTED";

/** Every code, for docs and tests. */
export const ERROR_CODES = [
  GW_ERR_READ,
  GW_ERR_PARSE,
  GW_ERR_BIND,
  GW_ERR_WATCH,
  GW_ERR_USAGE,
  GW_ERR_TLS,
  GW_ERR_CONFIG,
  GW_ERR_KUBE_API,
  GW_ERR_KUBE_CONFIG,
  GW_ERR_KUBE_FORBIDDEN,
  GW_ERR_KUBE_UNREACHABLE,
  GW_ERR_KUBE_WATCH_GONE,
  GW_ERR_KUBE_NOT_SERVED,
  GW_ERR_STATUS_WRITE,
  GW_ERR_ABORTED,
] as const;

export type GatewayErrorCode = (typeof ERROR_CODES)[number];

/** Brand that survives several copies of this module (instanceof does not). */
const BRAND = Symbol.for("grpcroute.GatewayError");

/** An error of the project with a stable `code`. */
export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  readonly [BRAND] = true;

  constructor(code: GatewayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GatewayError";
    this.code = code;
  }

  /** True for a GatewayError from any copy of this module. */
  static is(e: unknown): e is GatewayError {
    return typeof e === "object" && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** The `code` of an error (a Node system error such as `ENOENT`, or a GatewayError code), if any. */
export function errorCode(e: unknown): string | undefined {
  if (typeof e === "object" && e !== null && "code" in e) {
    const c = (e as { code: unknown }).code;
    if (typeof c === "string") return c;
  }
  return undefined;
}
