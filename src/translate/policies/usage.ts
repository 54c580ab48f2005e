/**
 * Which Gateways use which Service ports: a policy that targets a Service (BackendTLSPolicy, a TrafficPolicy's
 * health checks) reports its status on every Gateway whose routes use that Service (GEP-713 recommends the
 * Gateway as the ancestor). The translator records each resolved backend of each valid rule attached to a
 * listener, including those a BackendTLSPolicy makes unreachable, whose status must say why.
 */
import type { IrCluster, IrProfile } from "../../ir/routing-table.js";

/** A Service port used by some route of the table, and the Gateways using it. */
interface Use {
  namespace: string;
  service: string;
  port: number;
  gateways: Map<string, IrProfile>;
}

export class ServiceUsage {
  readonly #uses = new Map<string, Use>();

  /** Gateway `gwKey` (of profile `profile`) sends calls of a valid rule to `cluster` (or would, see below). */
  add(gwKey: string, profile: IrProfile, cluster: IrCluster): void {
    let u = this.#uses.get(cluster.name);
    if (u === undefined) {
      const at = cluster.name.lastIndexOf("/port/");
      const port = at < 0 ? 0 : Number(cluster.name.slice(at + "/port/".length));
      u = { namespace: cluster.source.namespace, service: cluster.source.name, port, gateways: new Map() };
      this.#uses.set(cluster.name, u);
    }
    u.gateways.set(gwKey, profile);
  }

  /**
   * The Gateways (`namespace/name`, sorted, with their profile) whose routes use Service `namespace/service`,
   * on port number `port` only when it is given.
   */
  gateways(namespace: string, service: string, port?: number): [string, IrProfile][] {
    const out = new Map<string, IrProfile>();
    for (const u of this.#uses.values()) {
      if (u.namespace !== namespace || u.service !== service) continue;
      if (port !== undefined && u.port !== port) continue;
      for (const [gw, profile] of u.gateways) out.set(gw, profile);
    }
    return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The Gateways using one cluster of the table. */
  clusterGateways(cluster: string): [string, IrProfile][] {
    return [...(this.#uses.get(cluster)?.gateways.entries() ?? [])];
  }
}

/** `namespace/name` split in two. */
export function splitKey(key: string): [string, string] {
  const i = key.indexOf("/");
  return [key.slice(0, i), key.slice(i + 1)];
}
