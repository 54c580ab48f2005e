/**
 * The profile registry and per-Gateway profile selection (PRODUCT.md section 3).
 *
 * Each profile registers itself with one line in `PROFILES`, so profiles are added without editing the
 * translator or each other's lines.
 */
import type { Gateway, GatewayClass } from "../../api/types.js";
import type { IrProfile } from "../../ir/routing-table.js";
import type { GatewayProfile } from "../profile.js";
import { CONTROLLER_NAME, LATTICE_CLASS_NAME, LATTICE_CONTROLLER_NAME } from "../types.js";
import { latticeProfile } from "./lattice.js";
import { standardProfile } from "./standard.js";

/** Registered profiles by name. A profile that is not registered falls back to the standard one. */
export const PROFILES: Partial<Record<IrProfile, GatewayProfile>> = {
  standard: standardProfile,
  lattice: latticeProfile,
};

/** The profile implementation for a profile name (the standard profile when that name is not registered). */
export function profileFor(name: IrProfile): GatewayProfile {
  return PROFILES[name] ?? standardProfile;
}

/**
 * Which profile serves a Gateway, or undefined when the Gateway is not ours (no status, not served):
 * - its GatewayClass object has controllerName `grpcroute.dev/gateway-controller` -> standard;
 * - ... `application-networking.k8s.aws/gateway-api-controller` -> lattice;
 * - another controllerName -> not ours;
 * - no GatewayClass object of that name is given (file mode): class `amazon-vpc-lattice` -> lattice,
 *   anything else -> standard.
 *
 * In a cluster (`cluster` given) a Gateway needs its GatewayClass object, and Lattice classes belong to the
 * AWS controller unless `cluster.lattice` (clusters without it, such as CI clusters that emulate Lattice).
 */
export function selectProfile(
  gateway: Gateway,
  classes: readonly GatewayClass[],
  cluster?: { lattice: boolean },
): IrProfile | undefined {
  const cls = classes.find((c) => c.metadata.name === gateway.spec.gatewayClassName);
  if (cls === undefined) {
    if (cluster !== undefined) return undefined;
    return gateway.spec.gatewayClassName === LATTICE_CLASS_NAME ? "lattice" : "standard";
  }
  if (cls.spec.controllerName === CONTROLLER_NAME) return "standard";
  if (cls.spec.controllerName === LATTICE_CONTROLLER_NAME && (cluster === undefined || cluster.lattice))
    return "lattice";
  return undefined;
}

/** The controllerName a profile's route parent entries carry: in a cluster, Lattice's are the AWS controller's. */
export function parentControllerName(
  profile: IrProfile,
  ours: string,
  cluster: { lattice: boolean } | undefined,
): string {
  return cluster !== undefined && profile === "lattice" ? LATTICE_CONTROLLER_NAME : ours;
}
