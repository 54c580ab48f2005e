/**
 * The names a Lattice-profile route answers on: its Lattice service name, the assigned domain name Lattice
 * would generate for that service, and its custom domain (`hostnames[0]`).
 */
import type { GRPCRoute } from "../api/types.js";
import {
  ANNOTATION_SERVICE_NAME_OVERRIDE,
  assignedDomainName,
  DEFAULT_DOMAIN_SUFFIX,
  latticeServiceName,
  serviceNameOverrideProblem,
} from "./names.js";

/** A route's Lattice identity. */
export interface RouteDomains {
  /** Lattice service name: the valid `service-name-override` annotation, else `<route[:20]>-<ns[:18]>`. */
  serviceName: string;
  /** `<service name>-<17 hex>.<7 hex>.<suffix>`: stable for the route's namespace and name. */
  assigned: string;
  /** `hostnames[0]` (lowercase), the Lattice service's `customDomainName`; absent without hostnames. */
  custom?: string;
}

/** The route's Lattice service name, assigned domain and custom domain. */
export function routeDomains(route: GRPCRoute, suffix: string = DEFAULT_DOMAIN_SUFFIX): RouteDomains {
  const { namespace, name } = route.metadata;
  const override = route.metadata.annotations[ANNOTATION_SERVICE_NAME_OVERRIDE];
  const serviceName =
    override !== undefined && serviceNameOverrideProblem(override) === undefined
      ? override
      : latticeServiceName(name, namespace);
  const out: RouteDomains = {
    serviceName,
    assigned: assignedDomainName({ namespace, name }, serviceName, suffix),
  };
  const first = route.spec.hostnames[0];
  if (first !== undefined && first !== "") out.custom = first.toLowerCase();
  return out;
}

/** The DNS names a route answers on: the assigned domain, then the custom domain when there is one. */
export function routeAuthorities(route: GRPCRoute, suffix?: string): string[] {
  const d = routeDomains(route, suffix);
  return d.custom !== undefined && d.custom !== d.assigned ? [d.assigned, d.custom] : [d.assigned];
}
