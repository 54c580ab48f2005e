/**
 * What `explain` says of calls the gateway answers itself: a reflection call on a listener whose routes do
 * not take the reflection service, which services it lists without asking (exact service matches) and
 * which backends it asks (routes by pattern, by method or catch-all); with `probeReflection`, which of
 * those backends have no reflection service and so are left out. Pure except for `probeReflection`.
 */
import type { IrCluster, IrForward, RoutingTable } from "../ir/routing-table.js";
import { BackendClient } from "./local/backend-client.js";
import { BackendReflection } from "./local/backend-reflection.js";
import { routesReflection } from "./local/listing.js";
import { isReflectionPath } from "./local/messages.js";
import {
  type CompiledListener,
  type RequestHeaders,
  routeAcceptsHeaders,
  routeAcceptsHost,
} from "./router.js";

export interface ExplainedReflection {
  /** Services listed because a route names them exactly. */
  exactServices: string[];
  /** Backends (clusters) asked for the services they serve, for routes by pattern, method or catch-all. */
  askedBackends: string[];
  /** Set by `probeReflection`: the asked backends without reflection, and why (left out of the list). */
  withoutReflection?: { backend: string; reason: string }[];
}

/** The reflection explanation when the gateway answers `path` itself on listener `l`; else undefined. */
export function explainReflection(
  l: CompiledListener | undefined,
  table: RoutingTable,
  host: string,
  path: string,
  headers: RequestHeaders,
): ExplainedReflection | undefined {
  if (l === undefined || !isReflectionPath(path) || routesReflection(l)) return undefined;
  const exact = new Set<string>();
  const asked = new Set<string>();
  for (const r of l.routes) {
    if (r.route.action.kind !== "forward" || !routeAcceptsHost(r, host) || !routeAcceptsHeaders(r, headers))
      continue;
    const m = r.route.match.method;
    if (m?.type === "Exact" && m.service !== undefined) {
      exact.add(m.service);
      continue;
    }
    for (const b of (r.route.action as IrForward).backends) {
      if (
        b.cluster !== undefined &&
        b.invalid === undefined &&
        b.weight > 0 &&
        table.clusters[b.cluster] !== undefined
      )
        asked.add(b.cluster);
    }
  }
  return { exactServices: [...exact].sort(), askedBackends: [...asked] };
}

/** Asks each backend for its services by reflection: the ones without it, and why. */
export async function probeReflection(
  clusters: readonly IrCluster[],
): Promise<{ backend: string; reason: string }[]> {
  const client = new BackendClient();
  const br = new BackendReflection(client, { pickEndpoint: (c) => c.endpoints[0] });
  try {
    const out: { backend: string; reason: string }[] = [];
    for (const c of clusters) {
      const r = await br.services(c);
      if (!r.ok) out.push({ backend: c.name, reason: r.reason });
    }
    return out;
  } finally {
    client.close();
  }
}

/** Text lines for a reflection explanation. */
export function reflectionLines(r: ExplainedReflection, pad: string): string[] {
  const lines = [`${pad}answered by the gateway's reflection service (no route of the listener takes it)`];
  if (r.exactServices.length > 0) lines.push(`${pad}lists, named by routes: ${r.exactServices.join(", ")}`);
  if (r.askedBackends.length > 0)
    lines.push(
      `${pad}lists what these backends report by their own reflection: ${r.askedBackends.join(", ")}`,
    );
  for (const w of r.withoutReflection ?? [])
    lines.push(`${pad}backend ${w.backend} has no reflection: left out (${w.reason})`);
  return lines;
}
