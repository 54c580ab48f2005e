/**
 * VPC Lattice limits that GRPCRoute rules run into, each with the value grpcroute enforces and where it comes
 * from. The Lattice profile rejects a rule (status `UnsupportedValue`) when it would break one of them, since
 * Lattice (or the AWS Gateway API Controller in front of it) would refuse it too.
 */

/** A named limit: `value` is what we enforce, `source` says where the number comes from. */
export interface LatticeLimit {
  readonly name: string;
  readonly value: number;
  readonly source: string;
}

function limit(name: string, value: number, source: string): LatticeLimit {
  return { name, value, source };
}

/** A Lattice listener rule carries a single `httpMatch`; the AWS controller rejects a second match. */
export const MAX_MATCHES_PER_RULE = limit(
  "matches per rule",
  1,
  "a Lattice rule has one httpMatch; AWS controller error LATTICE_NO_SUPPORT_FOR_MULTIPLE_MATCHES",
);

/** `HttpMatch.headerMatches`: at most 5 entries (API_HttpMatch). */
export const MAX_HEADER_MATCHES = limit(
  "header matches per rule",
  5,
  "VPC Lattice API HttpMatch.headerMatches (max 5); AWS controller LATTICE_MAX_HEADER_MATCHES",
);

/** `ForwardAction.targetGroups`: 1 to 10 entries (API_ForwardAction). */
export const MAX_TARGET_GROUPS_PER_FORWARD = limit(
  "target groups per forward action",
  10,
  "VPC Lattice API ForwardAction.targetGroups (1-10)",
);

/** `WeightedTargetGroup.weight`: 0 to 999 (listener rules guide). */
export const MAX_WEIGHT = limit("target group weight", 999, "VPC Lattice listener rules: weight 0-999");

/**
 * Rules per listener, not counting the default action. A default quota, adjustable on request; the quotas
 * page listed 5 in older editions and 10 today. We report going over the current default.
 */
export const MAX_RULES_PER_LISTENER = limit(
  "rules per listener",
  10,
  "VPC Lattice quota 'Rules per listener' (default 10, adjustable)",
);

/** Rule priority range the AWS controller uses (`MaxRulePriority = 100`, the original API range 1-100). */
export const MIN_RULE_PRIORITY = 1;
export const MAX_RULE_PRIORITY = limit(
  "rule priority",
  100,
  "AWS controller MaxRulePriority (VPC Lattice rule priority 1-100)",
);

/** `PathMatchType.exact` / `.prefix`: 1 to 128 characters. */
export const MAX_PATH_LENGTH = limit("path match length", 128, "VPC Lattice API PathMatchType (1-128 chars)");

/** Characters Lattice accepts in a path match value. */
export const PATH_PATTERN = /^\/[a-zA-Z0-9@:%_+.~#?&/=-]*$/;

/** `HeaderMatchType.exact`: 1 to 128 characters. */
export const MAX_HEADER_VALUE_LENGTH = limit(
  "header match value length",
  128,
  "VPC Lattice API HeaderMatchType (1-128 chars)",
);

/** `HeaderMatch.name`: 1 to 100 characters in the API the AWS controller calls (CloudFormation says 40). */
export const MAX_HEADER_NAME_LENGTH = limit(
  "header match name length",
  100,
  "VPC Lattice API HeaderMatch.name (1-100 chars)",
);

/** Listeners per service (default quota, adjustable). */
export const MAX_LISTENERS_PER_SERVICE = limit(
  "listeners per service",
  2,
  "VPC Lattice quota 'Listeners per service' (default 2, adjustable)",
);

/** Service names: 3 to 40 characters (CreateService.name). */
export const MIN_SERVICE_NAME_LENGTH = 3;
export const MAX_SERVICE_NAME_LENGTH = limit(
  "service name length",
  40,
  "VPC Lattice API CreateService.name (3-40 chars)",
);

/** Every limit above, for documentation and tests. */
export const ALL_LIMITS: readonly LatticeLimit[] = [
  MAX_MATCHES_PER_RULE,
  MAX_HEADER_MATCHES,
  MAX_TARGET_GROUPS_PER_FORWARD,
  MAX_WEIGHT,
  MAX_RULES_PER_LISTENER,
  MAX_RULE_PRIORITY,
  MAX_PATH_LENGTH,
  MAX_HEADER_VALUE_LENGTH,
  MAX_HEADER_NAME_LENGTH,
  MAX_LISTENERS_PER_SERVICE,
  MAX_SERVICE_NAME_LENGTH,
];
