/**
 * Turns the data plane's per-call report into the labels shared by the access log and the metrics:
 * gateway, route (`namespace/name`) and rule index (gRPC status names come from `dataplane/grpc-status.ts`).
 * Results are cached by IR name so the hot path does string work once per route, not once per call.
 */
import type { CallInfo } from "../dataplane/types.js";
/** Route and rule of an IR route name `grpcroute/<ns>/<name>/rule/<i>/match/<j>`. */
export interface RouteParts {
  /** `namespace/name` of the GRPCRoute. */
  route: string;
  /** Rule index as text. */
  rule: string;
}

const routeCache = new Map<string, RouteParts>();
const gatewayCache = new Map<string, string>();
/** Bounds the caches: a configuration with more routes than this still works, it just parses again. */
const CACHE_LIMIT = 10_000;

/** Splits an IR route name into its GRPCRoute and rule; unknown shapes are returned whole as the route. */
export function routeParts(name: string): RouteParts {
  const hit = routeCache.get(name);
  if (hit !== undefined) return hit;
  const m = /^grpcroute\/([^/]+)\/([^/]+)\/rule\/(\d+)(?:\/|$)/.exec(name);
  const parts: RouteParts = m ? { route: `${m[1]}/${m[2]}`, rule: m[3] ?? "" } : { route: name, rule: "" };
  if (routeCache.size < CACHE_LIMIT) routeCache.set(name, parts);
  return parts;
}

/** `namespace/name` of the Gateway of a call, from the report or from the IR listener name. */
export function gatewayOf(info: CallInfo): string {
  if (info.gateway !== undefined) return info.gateway;
  const hit = gatewayCache.get(info.listener);
  if (hit !== undefined) return hit;
  const m = /^gateway\/([^/]+)\/([^/]+)\/listener\//.exec(info.listener);
  const gw = m ? `${m[1]}/${m[2]}` : "";
  if (gatewayCache.size < CACHE_LIMIT) gatewayCache.set(info.listener, gw);
  return gw;
}

/** Listener section name from an IR listener name (`gateway/<ns>/<gw>/listener/<name>`), else the name. */
export function listenerSection(listener: string): string {
  const i = listener.lastIndexOf("/listener/");
  return i >= 0 ? listener.slice(i + "/listener/".length) : listener;
}

/**
 * Values kept per (listener, route, backend) of a call: the access log's formatted fields, the metrics'
 * series. Nested maps rather than one joined key: the data plane passes the same string objects call
 * after call, whose hashes are kept, where a joined key would be built and hashed anew each time.
 */
export class PerTarget<T> {
  #byListener = new Map<string, Map<string, Map<string, T>>>();

  /** The value of the call's (listener, route, backend), made by `make` the first time. */
  get(info: CallInfo, make: (info: CallInfo) => T): T {
    let byRoute = this.#byListener.get(info.listener);
    if (byRoute === undefined) {
      byRoute = new Map();
      this.#byListener.set(info.listener, byRoute);
    }
    const route = info.route ?? "";
    let byBackend = byRoute.get(route);
    if (byBackend === undefined) {
      byBackend = new Map();
      byRoute.set(route, byBackend);
    }
    const backend = info.backend ?? "";
    let v = byBackend.get(backend);
    if (v === undefined) {
      v = make(info);
      byBackend.set(backend, v);
    }
    return v;
  }

  /** Listeners seen. */
  get listeners(): number {
    return this.#byListener.size;
  }

  clear(): void {
    this.#byListener = new Map();
  }
}
