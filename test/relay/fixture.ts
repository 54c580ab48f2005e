/**
 * Routing tables for the relay tests, built directly as IR (the translator is tested elsewhere).
 * @internal test-only
 */

import { RelayDataplane, type RelayOptions } from "../../src/dataplane/relay/relay.js";
import type { UpstreamOptions } from "../../src/dataplane/relay/upstream.js";
import type { CallInfo } from "../../src/dataplane/types.js";
import type {
  IrBackend,
  IrCluster,
  IrHeaderModifier,
  IrListener,
  IrMatch,
  IrMirror,
  IrRoute,
  RoutingTable,
} from "../../src/ir/routing-table.js";
import { TESTER_SERVICE } from "../helpers/protos.js";

export const LISTENER_PORT = 8080;

/** A cluster named `service/default/<name>/port/50051` with the given endpoints (`host:port`). */
export function cluster(name: string, endpoints: string[], tls = false): IrCluster {
  return {
    name: `service/default/${name}/port/50051`,
    source: { kind: "Service", namespace: "default", name },
    endpoints: endpoints.map((a) => {
      const i = a.lastIndexOf(":");
      return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
    }),
    tls,
  };
}

export interface BackendSpec {
  cluster?: string;
  weight?: number;
  invalid?: { message: string };
  requestHeaders?: IrHeaderModifier;
  responseHeaders?: IrHeaderModifier;
}

export interface RouteSpec {
  name: string;
  match?: IrMatch;
  hostnames?: string[];
  backends?: BackendSpec[];
  direct?: { grpcStatus?: number; httpStatus?: number; message: string };
  requestHeaders?: IrHeaderModifier;
  responseHeaders?: IrHeaderModifier;
  mirrors?: IrMirror[];
}

export function route(spec: RouteSpec, index: number): IrRoute {
  const backends: IrBackend[] = (spec.backends ?? []).map((b) => {
    const out: IrBackend = {
      weight: b.weight ?? 1,
      source: { kind: "Service", namespace: "default", name: b.cluster ?? "invalid" },
    };
    if (b.cluster !== undefined) out.cluster = b.cluster;
    if (b.invalid !== undefined) out.invalid = { kind: "direct", grpcStatus: 14, message: b.invalid.message };
    if (b.requestHeaders !== undefined) out.requestHeaders = b.requestHeaders;
    if (b.responseHeaders !== undefined) out.responseHeaders = b.responseHeaders;
    return out;
  });
  const action: IrRoute["action"] =
    spec.direct !== undefined
      ? { kind: "direct", ...spec.direct }
      : {
          kind: "forward",
          backends,
          mirrors: spec.mirrors ?? [],
          ...(spec.requestHeaders ? { requestHeaders: spec.requestHeaders } : {}),
          ...(spec.responseHeaders ? { responseHeaders: spec.responseHeaders } : {}),
        };
  return {
    name: `grpcroute/default/${spec.name}/rule/0/match/0`,
    source: { kind: "GRPCRoute", namespace: "default", name: spec.name, rule: 0, match: index },
    hostnames: spec.hostnames ?? [],
    match: spec.match ?? { headers: [] },
    action,
  };
}

export interface ListenerSpec {
  name?: string;
  port?: number;
  hostname?: string;
  tls?: { certPem: string; keyPem: string };
  routes: RouteSpec[];
}

export function listener(spec: ListenerSpec): IrListener {
  const name = spec.name ?? "http";
  const l: IrListener = {
    name: `gateway/default/gw/listener/${name}`,
    gateway: { namespace: "default", name: "gw" },
    listener: name,
    profile: "standard",
    port: spec.port ?? LISTENER_PORT,
    protocol: spec.tls ? "HTTPS" : "HTTP",
    routes: spec.routes.map(route),
    noRoute: { kind: "direct", grpcStatus: 12, message: "no route for this call" },
  };
  if (spec.hostname !== undefined) l.hostname = spec.hostname;
  if (spec.tls) l.tls = { certificates: [{ ...spec.tls, source: "test" }] };
  return l;
}

export function table(listeners: ListenerSpec[], clusters: IrCluster[], version = 1): RoutingTable {
  // The IR keeps cluster keys sorted (an invariant apply() checks).
  const c: Record<string, IrCluster> = {};
  for (const x of [...clusters].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)))
    c[x.name] = x;
  return { version, listeners: listeners.map(listener), clusters: c };
}

/** One route, named `name`, sending every call of the test service to `c`: the table most tests need. */
export function testerTable(c: IrCluster, name = "r"): RoutingTable {
  return table([{ routes: [{ name, match: exact(TESTER_SERVICE), backends: [{ cluster: c.name }] }] }], [c]);
}

/** An exact service (and optional method) match. */
export function exact(service: string, method?: string, headers: IrMatch["headers"] = []): IrMatch {
  return { method: { type: "Exact", service, ...(method ? { method } : {}) }, headers };
}

/** A relay on ephemeral ports that records every finished call. */
export async function startRelay(
  t: RoutingTable,
  opts: Partial<RelayOptions> = {},
  upstream: UpstreamOptions = {},
): Promise<{ dp: RelayDataplane; target: (port?: number) => string; calls: CallInfo[] }> {
  const calls: CallInfo[] = [];
  const portMap = new Map<number, number>();
  for (const l of t.listeners) portMap.set(l.port, 0);
  const dp = new RelayDataplane(
    { address: "127.0.0.1", portMap, onCallEnd: (i) => calls.push(i), ...opts },
    upstream,
  );
  await dp.apply(t);
  const target = (port = LISTENER_PORT): string => `127.0.0.1:${dp.boundPorts().get(port)}`;
  return { dp, target, calls };
}
