/**
 * Builders for hand-made routing tables (IR), so data-plane tests state only what matters to them.
 * @internal test-only
 */
import type {
  IrBackend,
  IrCluster,
  IrDirect,
  IrForward,
  IrHeaderModifier,
  IrListener,
  IrMatch,
  IrMirror,
  IrRoute,
  RoutingTable,
} from "../../src/ir/routing-table.js";

export const UNIMPLEMENTED_NO_ROUTE: IrDirect = {
  kind: "direct",
  grpcStatus: 12,
  message: "no route matches the call",
};

/** A cluster `service/default/<name>/port/<port>` with endpoints given as `host:port` or ports on 127.0.0.1. */
export function cluster(
  name: string,
  endpoints: (string | number)[],
  extra: Partial<IrCluster> = {},
): IrCluster {
  return {
    name: `service/default/${name}/port/80`,
    source: { kind: "Service", namespace: "default", name },
    endpoints: endpoints.map((e) => {
      if (typeof e === "number") return { host: "127.0.0.1", port: e };
      const i = e.lastIndexOf(":");
      return { host: e.slice(0, i), port: Number(e.slice(i + 1)) };
    }),
    tls: false,
    ...extra,
  };
}

/** A backend of weight `weight` (default 1) to `c`. */
export function backend(c: IrCluster, weight = 1, extra: Partial<IrBackend> = {}): IrBackend {
  return {
    weight,
    cluster: c.name,
    source: { kind: "Service", namespace: "default", name: c.source.name },
    ...extra,
  };
}

/** An invalid backend: its share gets UNAVAILABLE with `message`. */
export function invalidBackend(message: string, weight = 1): IrBackend {
  return {
    weight,
    invalid: { kind: "direct", grpcStatus: 14, message },
    source: { kind: "Service", namespace: "default", name: "missing" },
  };
}

export interface ForwardExtra {
  requestHeaders?: IrHeaderModifier;
  responseHeaders?: IrHeaderModifier;
  mirrors?: IrMirror[];
}

export function forward(backends: IrBackend[], extra: ForwardExtra = {}): IrForward {
  return { kind: "forward", backends, mirrors: extra.mirrors ?? [], ...withoutMirrors(extra) };
}

function withoutMirrors(e: ForwardExtra): Omit<ForwardExtra, "mirrors"> {
  const { mirrors: _m, ...rest } = e;
  return rest;
}

/** A route named `grpcroute/default/<name>/rule/0/match/0`. */
export function route(
  name: string,
  match: Partial<IrMatch>,
  action: IrForward | IrDirect,
  hostnames: string[] = [],
): IrRoute {
  return {
    name: `grpcroute/default/${name}/rule/0/match/0`,
    source: { kind: "GRPCRoute", namespace: "default", name, rule: 0, match: 0 },
    hostnames,
    match: { headers: [], ...match },
    action,
  };
}

export interface ListenerExtra {
  hostname?: string;
  protocol?: "HTTP" | "HTTPS";
  tls?: IrListener["tls"];
  noRoute?: IrDirect;
  gateway?: string;
  profile?: IrListener["profile"];
}

export function listener(
  name: string,
  port: number,
  routes: IrRoute[],
  extra: ListenerExtra = {},
): IrListener {
  const gw = extra.gateway ?? "gw";
  const l: IrListener = {
    name: `gateway/default/${gw}/listener/${name}`,
    gateway: { namespace: "default", name: gw },
    listener: name,
    profile: extra.profile ?? "standard",
    port,
    protocol: extra.protocol ?? "HTTP",
    routes,
    noRoute: extra.noRoute ?? UNIMPLEMENTED_NO_ROUTE,
  };
  if (extra.hostname !== undefined) l.hostname = extra.hostname;
  if (extra.tls !== undefined) l.tls = extra.tls;
  return l;
}

export function table(listeners: IrListener[], clusters: IrCluster[], version = 1): RoutingTable {
  const cs: Record<string, IrCluster> = {};
  // Sorted by code unit, as the IR requires.
  for (const c of [...clusters].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)))
    cs[c.name] = c;
  return { version, listeners, clusters: cs };
}
