/**
 * What a listener's reflection lists for one host: the services calls with these headers can reach, and
 * the backend each one goes to.
 *
 * - A route whose match names a service exactly contributes that service, served by its rule's backend.
 * - A route that matches by regular expression, by method only, or everything contributes the services its
 *   backends list (by their own reflection) that it accepts: the service pattern must accept the name, and a
 *   method match must accept one of the service's methods.
 * Routes are taken in table order (the router's precedence), so a service goes to the backend of the first
 * route that reaches it. Only forwarding routes count, and only those whose hostnames and header matches
 * accept the reflection call itself. A backend without reflection is left out (and said once in a debug line
 * by `BackendReflection`); its exact-named services still appear.
 */
import type { IrBackend, IrCluster, IrForward, RoutingTable } from "../../ir/routing-table.js";
import {
  type CompiledListener,
  type CompiledRoute,
  type RequestHeaders,
  routeAcceptsHeaders,
  routeAcceptsHost,
} from "../router.js";
import type { BackendReflection } from "./backend-reflection.js";
import { filesForSymbol, methodsOf } from "./descriptors.js";
import { REFLECTION_SERVICES } from "./messages.js";

export interface Reachable {
  /** Service -> the backend a call to it goes to (undefined: its route has no valid backend). */
  services: Map<string, IrCluster | undefined>;
  /** Every backend of the routes that accept the call, in table order, each once. */
  clusters: IrCluster[];
  /** Backends left out of the list, and why. */
  missing: Map<string, string>;
}

/** The backendRef a gateway-made call of the rule goes to: the valid one with the largest weight. */
export function mainBackend(f: IrForward, table: RoutingTable): IrCluster | undefined {
  let best: IrBackend | undefined;
  for (const b of f.backends) {
    if (b.cluster === undefined || b.invalid !== undefined || b.weight <= 0) continue;
    if (best === undefined || b.weight > best.weight) best = b;
  }
  return best?.cluster === undefined ? undefined : table.clusters[best.cluster];
}

/** Whether a route names service `name` exactly (its match is by exact service). */
function exactService(r: CompiledRoute): string | undefined {
  const m = r.route.match.method;
  if (m === undefined || m.type !== "Exact" || m.service === undefined) return undefined;
  return m.service;
}

/** Whether route `r` on a listener takes the reflection service's own calls (so they are routed). */
export function routesReflection(l: CompiledListener): boolean {
  for (const r of l.routes) {
    const m = r.route.match.method;
    if (m === undefined || m.service === undefined || r.method === undefined) continue;
    for (const s of REFLECTION_SERVICES) if (r.method(s, "ServerReflectionInfo")) return true;
  }
  return false;
}

export async function reachable(
  l: CompiledListener,
  table: RoutingTable,
  host: string,
  headers: RequestHeaders,
  br: BackendReflection,
): Promise<Reachable> {
  const services = new Map<string, IrCluster | undefined>();
  const clusters: IrCluster[] = [];
  const missing = new Map<string, string>();
  const routes = l.routes.filter(
    (r) => r.route.action.kind === "forward" && routeAcceptsHost(r, host) && routeAcceptsHeaders(r, headers),
  );
  for (const r of routes) {
    for (const b of (r.route.action as IrForward).backends) {
      const c = b.cluster === undefined || b.invalid !== undefined ? undefined : table.clusters[b.cluster];
      if (c !== undefined && !clusters.includes(c)) clusters.push(c);
    }
  }
  for (const r of routes) {
    const f = r.route.action as IrForward;
    const exact = exactService(r);
    if (exact !== undefined) {
      if (!services.has(exact)) services.set(exact, mainBackend(f, table));
      continue;
    }
    for (const b of f.backends) {
      if (b.cluster === undefined || b.invalid !== undefined || b.weight <= 0) continue;
      const c = table.clusters[b.cluster];
      if (c === undefined) continue;
      const listed = await br.services(c);
      if (!listed.ok) {
        missing.set(c.name, listed.reason);
        continue;
      }
      for (const s of listed.services) {
        if (services.has(s)) continue;
        if (await accepts(r, s, c, br)) services.set(s, c);
      }
    }
  }
  for (const s of REFLECTION_SERVICES) services.delete(s);
  return { services, clusters, missing };
}

/** Does route `r` (not an exact service match) accept some call to `service`, served by `c`? */
async function accepts(
  r: CompiledRoute,
  service: string,
  c: IrCluster,
  br: BackendReflection,
): Promise<boolean> {
  const m = r.route.match.method;
  if (r.method === undefined || m === undefined) return true;
  if (m.method === undefined) return r.method(service, "");
  const files = await filesForSymbol(br, c, service);
  if (!files.ok) return false;
  return (methodsOf(files.files, service) ?? []).some((x) => r.method!(service, x.name));
}
