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
