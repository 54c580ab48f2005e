/**
 * Failover across the backendRefs of a rule. A call that could not be sent to the backendRef it drew (no
 * ready endpoint, every endpoint set aside, no connection on any endpoint tried) goes to another backendRef
 * of the same rule, drawn by weight among those that can take it: valid, weight above 0, not tried yet by
 * this call, with an endpoint that is not set aside. Each backendRef is tried at most once per call, and
 * only a call whose request reached no backend moves: nothing here re-sends what a backend received.
 *
 * What does not move, by the Gateway API and the Lattice profile:
 * - an invalid backendRef (BackendNotFound, RefNotPermitted, ...) keeps its share of the direct answer the
 *   spec requires; it is answered before any endpoint is looked at, so it never fails over, and no call
 *   fails over to it;
 * - a rule of a Lattice-profile listener never moves calls between backendRefs: a Lattice forward action
 *   splits calls between its target groups by weight, and Lattice health checks (off by default for gRPC
 *   target groups) only choose targets within a target group.
 *
 * Nothing is allocated for this unless a call actually fails over.
 */
import type { IrBackend, IrCluster } from "../../ir/routing-table.js";
import type { RelayCall } from "./call.js";
import { applyModifier, forwardable } from "./headers.js";

/** Why a backendRef could not take a call: it has no endpoint at all. */
export const NO_ENDPOINT = "no ready endpoint";
/** Why a backendRef could not take a call: each of its endpoints is set aside after failed connections. */
export const ALL_SET_ASIDE = "every endpoint is set aside after failed connections";
/** Why a backendRef could not take a call: each of its endpoints failed its health checks or was ejected. */
export const ALL_UNHEALTHY = "every endpoint is unhealthy or ejected";

/**
 * The index of a backendRef of `backends` drawn by weight among those `usable` accepts, other than `from` and
 * those in `tried`; -1 when there is none. `r` is uniform in [0, 1).
 */
export function pickRemaining(
  backends: readonly IrBackend[],
  from: IrBackend | undefined,
  tried: readonly IrBackend[] | null,
  usable: (b: IrBackend) => boolean,
  r: number,
): number {
  const weights: number[] = [];
  let total = 0;
  for (const b of backends) {
    const ok = b !== from && b.weight > 0 && (tried === null || !tried.includes(b)) && usable(b);
    const w = ok ? b.weight : 0;
    weights.push(w);
    total += w;
  }
  if (total <= 0) return -1;
  let x = r * total;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    if (w === 0) continue;
    if (x < w) return i;
    x -= w;
    last = i;
  }
  return last;
}

/**
 * Sends the call, which could not be sent to its backendRef for `reason`, to another backendRef of its rule.
 * Returns false, changing nothing, when the call may not move or no other backendRef can take it.
 */
export function failOver(call: RelayCall, reason: string): boolean {
  const f = call.forward;
  const from = call.backendRef;
  const table = call.table;
  if (f === undefined || from === undefined || table === undefined || f.backends.length < 2) return false;
  if (call.listener?.profile === "lattice") return false;
  const host = call.host;
  const usable = (b: IrBackend): boolean => {
    if (b.invalid !== undefined || b.cluster === undefined) return false;
    const c = table.clusters[b.cluster];
    return c !== undefined && host.available(c);
  };
  const i = pickRemaining(f.backends, from, call.tried, usable, Math.random());
  if (i < 0) return false;
  if (call.tried === null) call.tried = [from];
  else call.tried.push(from);
  const entry = `${from.cluster}: ${reason}`;
  call.failover = call.failover === undefined ? entry : `${call.failover}; ${entry}`;
  const next = f.backends[i]!;
  const cluster = table.clusters[next.cluster!]!;
  if (from.requestHeaders !== undefined || next.requestHeaders !== undefined)
    call.reqFields = requestFields(call, next);
  call.reqFields[3] = cluster.tls ? "https" : "http";
  call.backendRef = next;
  call.cluster = cluster;
  call.connectTries = 0;
  const pool = host.pickPool(cluster, undefined);
  if (pool === undefined) return failOver(call, NO_ENDPOINT);
  call.pool = pool;
  pool.acquire(call);
  return true;
}

/**
 * The upstream request fields for `next`: the pseudo-headers already chosen, the client's forwardable
 * headers, then the rule's and `next`'s request header modifiers.
 */
function requestFields(call: RelayCall, next: IrBackend): string[] {
  const up = call.reqFields.slice(0, 8);
  const fields = call.clientFields;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) !== 0x3a && forwardable(name, value)) up.push(name, value);
  }
  if (call.forward?.requestHeaders !== undefined) applyModifier(up, call.forward.requestHeaders);
  if (next.requestHeaders !== undefined) applyModifier(up, next.requestHeaders);
  return up;
}

/**
 * The message of a call that could be sent nowhere, the last backendRef tried (`cluster`) having failed for
 * `reason`: that reason alone when no other backendRef was tried, else every backendRef tried and why.
 */
export function unsentMessage(
  call: RelayCall,
  cluster: IrCluster | string | undefined,
  reason: string,
): string {
  const name = typeof cluster === "string" ? cluster : (cluster?.name ?? "");
  if (call.failover === undefined) {
    const last =
      reason === NO_ENDPOINT
        ? `${NO_ENDPOINT} for ${name}`
        : reason === ALL_SET_ASIDE
          ? `every endpoint of ${name} is set aside after failed connections`
          : reason === ALL_UNHEALTHY
            ? `every endpoint of ${name} is unhealthy or ejected`
            : reason;
    const others = (call.forward?.backends.length ?? 0) > 1 && call.listener?.profile !== "lattice";
    return others ? `${last}; no other backendRef of the rule can take the call` : last;
  }
  return `no backendRef of the rule could take the call: ${call.failover}; ${name}: ${reason}`;
}
