/**
 * Where a new call goes: the router's match becomes a direct answer, or a backendRef of the rule (by weight)
 * and an endpoint pool of it. Every call starts here once its request is read: gRPC calls from
 * `downstream.ts`, gRPC-Web ones from `web-h2.ts`.
 */
import type { IrBackend, IrForward, IrListener } from "../../ir/routing-table.js";
import { GrpcCode, parseGrpcTimeout } from "../grpc-status.js";
import type { RouteMatch } from "../router.js";
import type { RelayCall } from "./call.js";
import { startCallLimits } from "./deadlines.js";
import { ALL_SET_ASIDE, ALL_UNHEALTHY, failOver, NO_ENDPOINT, unsentMessage } from "./failover.js";
import { applyModifier, fieldValue } from "./headers.js";
import type { PortState } from "./listener.js";
import { startMirrors } from "./mirror.js";

/** `namespace/name` of a listener's Gateway, made once per (immutable) listener object of a table. */
const gatewayNames = new WeakMap<IrListener, string>();

function gatewayName(l: IrListener): string {
  let name = gatewayNames.get(l);
  if (name === undefined) {
    name = `${l.gateway.namespace}/${l.gateway.name}`;
    gatewayNames.set(l, name);
  }
  return name;
}

/** Weighted choice data of a forward action, computed once per action object. */
const weightCache = new WeakMap<IrForward, { total: number; cum: number[] }>();

/** A backendRef of the action, by weight; undefined when every weight is 0. */
function pickBackend(f: IrForward): IrBackend | undefined {
  let w = weightCache.get(f);
  if (w === undefined) {
    const cum: number[] = [];
    let total = 0;
    for (const b of f.backends) {
      total += Math.max(b.weight, 0);
      cum.push(total);
    }
    w = { total, cum };
    weightCache.set(f, w);
  }
  if (w.total <= 0) return undefined;
  const r = Math.random() * w.total;
  for (let i = 0; i < w.cum.length; i++) if (r < w.cum[i]!) return f.backends[i];
  return f.backends[f.backends.length - 1];
}

/**
 * Sends a new call where the router's match `m` says: a direct answer, or a backendRef of the rule (by
 * weight) and an endpoint pool of it. `up` is the upstream request's field list (pseudo-headers first, values
 * set here), `fields` the client's, kept for a failover. Every call takes this path, gRPC-Web ones included.
 * `endStream` is given for plain HTTP/2 requests only: those the gateway may answer itself (reflection, JSON
 * transcoding: `src/dataplane/local`).
 */
export function routeCall(
  call: RelayCall,
  state: PortState,
  m: RouteMatch,
  method: string,
  up: string[],
  fields: string[],
  endStream?: boolean,
): void {
  const host = call.host;
  const path = call.path;
  const authority = call.authority;
  if (m.listener !== undefined) {
    call.listenerName = m.listener.name;
    call.gateway = gatewayName(m.listener);
  }
  call.route = m.route;
  if (endStream !== undefined && state.local?.claim(call, m, method, up, endStream) === true) return;
  const action = m.action;
  if (action.kind === "direct") {
    call.answerDirect(action);
    return;
  }
  call.forward = action;
  call.table = state.table;
  call.listener = m.listener;
  // Kept (not copied) for a failover to a backendRef with other request header modifiers.
  if (action.backends.length > 1) call.clientFields = fields;
  const backend = pickBackend(action);
  if (backend === undefined) {
    call.answerGrpc(GrpcCode.UNAVAILABLE, "every backend of the rule has weight 0");
    return;
  }
  call.backendRef = backend;
  if (backend.invalid !== undefined || backend.cluster === undefined) {
    call.answerDirect(
      backend.invalid ?? { kind: "direct", grpcStatus: GrpcCode.UNAVAILABLE, message: "invalid backend" },
    );
    return;
  }
  const cluster = state.table.clusters[backend.cluster];
  up[1] = method;
  up[3] = cluster?.tls ? "https" : "http";
  up[5] = path;
  up[7] = authority;
  // The deadline is the client's, read before a route's header modifiers apply.
  const timeout = parseGrpcTimeout(fieldValue(up, "grpc-timeout"));
  if (action.requestHeaders !== undefined) applyModifier(up, action.requestHeaders);
  if (backend.requestHeaders !== undefined) applyModifier(up, backend.requestHeaders);
  call.reqFields = up;
  if (cluster !== undefined) call.cluster = cluster;
  const policy = m.route?.policy;
  if (timeout !== undefined || policy !== undefined) startCallLimits(host, call, timeout, policy);
  const pool = cluster === undefined ? undefined : host.pickPool(cluster, undefined);
  if (action.mirrors.length > 0 && (pool !== undefined || action.backends.length > 1))
    startMirrors(host, call, action.mirrors, state.table, up);
  if (pool === undefined) {
    // No endpoint, or (least-request) every endpoint set aside.
    const why = cluster === undefined || cluster.endpoints.length === 0 ? NO_ENDPOINT : ALL_SET_ASIDE;
    if (failOver(call, why)) return;
    call.answerGrpc(GrpcCode.UNAVAILABLE, unsentMessage(call, backend.cluster, why));
    return;
  }
  // Every endpoint is set aside or unhealthy (round-robin then offers one anyway): another backendRef goes
  // first; when none can take the call it goes there all the same (for health checks: panic routing).
  if (pool.suspect && !pool.usable(Date.now())) {
    if (failOver(call, pool.healthy && pool.outlierUntil === 0 ? ALL_SET_ASIDE : ALL_UNHEALTHY)) return;
  }
  call.pool = pool;
  pool.acquire(call);
}
