/** Stable, hierarchical IR names that point back to their source objects. */

export function listenerName(ns: string, gateway: string, listener: string): string {
  return `gateway/${ns}/${gateway}/listener/${listener}`;
}

export function routeName(ns: string, route: string, rule: number, match: number): string {
  return `grpcroute/${ns}/${route}/rule/${rule}/match/${match}`;
}

export function clusterName(ns: string, service: string, port: number): string {
  return `service/${ns}/${service}/port/${port}`;
}

/**
 * Name of one part of a route entry split by hostname rank (the standard profile splits an entry whose
 * hostnames rank differently, so each ranks by its own): `<routeName>/host/<first hostname of the part>`.
 */
export function routeHostGroupName(route: string, hostname: string): string {
  return `${route}/host/${hostname}`;
}
