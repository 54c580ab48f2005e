import type {
  ConditionsStatus,
  GatewayStatus,
  ObjectKey,
  PolicyStatus,
  ResourceSet,
  RouteStatus,
} from "../api/types.js";
import type { RoutingTable } from "../ir/routing-table.js";

/** Our controller name: Gateways of a GatewayClass with this controllerName are ours. */
export const CONTROLLER_NAME = "grpcroute.dev/gateway-controller";
/** The AWS Gateway API Controller's name: Gateways of such a class use the Lattice profile. */
export const LATTICE_CONTROLLER_NAME = "application-networking.k8s.aws/gateway-api-controller";
/** GatewayClass name that selects the Lattice profile when no GatewayClass object is given (file mode). */
export const LATTICE_CLASS_NAME = "amazon-vpc-lattice";
/** Default GatewayClass name of the standard profile. */
export const DEFAULT_CLASS_NAME = "grpcroute";

export interface TranslateOptions {
  /** Snapshot version copied into the table. Default 0. */
  version?: number;
  /** Controller name written into route status. Default CONTROLLER_NAME. */
  controllerName?: string;
  /**
   * Controller mode: the objects come from a cluster. A Gateway is served only when its GatewayClass object
   * names our controller (or the AWS controller, with `lattice`); a route's entry for a Lattice-profile
   * parent carries the AWS controller's name, as users' tooling expects; a parentRef to a Gateway that does
   * not exist gets no entry (it may be another controller's, not created yet).
   */
  cluster?: { lattice: boolean };
  /** Addresses reported in Gateway `status.addresses` when the Gateway lists none. Default `[]`. */
  addresses?: { type: string; value: string }[];
  /** Lattice profile options. */
  lattice?: {
    /** Suffix of generated Lattice domain names. Default `vpc-lattice-svcs.us-west-2.on.aws`. */
    domainSuffix?: string;
    /** Default method matching for Lattice routes: `insensitive` (the AWS GRPCRoute page) or `sensitive` (AWS since late 2023). */
    methodCase?: "insensitive" | "sensitive";
    /**
     * Rules a Lattice listener takes (the adjustable "Rules per listener" quota): a route's rules past it,
     * in priority order, are rejected. Default 10, the quota's default.
     */
    rulesPerListener?: number;
  };
}

/** Status of every Gateway, GRPCRoute and policy we own, by `namespace/name`. */
export interface StatusReport {
  gateways: Map<ObjectKey, GatewayStatus>;
  grpcRoutes: Map<ObjectKey, RouteStatus>;
  /** Annotations we set on routes (Lattice assigned domain name), by `namespace/name`. */
  routeAnnotations: Map<ObjectKey, Record<string, string>>;
  /** Status of every TrafficPolicy (GEP-713 ancestors), by `namespace/name`. */
  trafficPolicies: Map<ObjectKey, PolicyStatus>;
  /** Status of every BackendTLSPolicy, by `namespace/name`. */
  backendTLSPolicies: Map<ObjectKey, PolicyStatus>;
  /** Status of every TargetGroupPolicy (the AWS controller's `status.conditions`), by `namespace/name`. */
  targetGroupPolicies: Map<ObjectKey, ConditionsStatus>;
}

export interface TranslateResult {
  table: RoutingTable;
  status: StatusReport;
}

export type Translate = (input: ResourceSet, opts?: TranslateOptions) => TranslateResult;
