/**
 * Gateway profiles: the hooks through which a Gateway's profile (standard, Lattice) adds constraints and
 * changes behaviour without touching the translator's standard path.
 *
 * The translator (`translator.ts`) computes everything the Gateway API defines and asks the Gateway's
 * profile at each point where a profile may differ. The standard profile (`profiles/standard.ts`) answers
 * exactly as the Gateway API reference says; other profiles may reuse its functions for the cases they do
 * not change. Hooks must be pure and must not throw on user input: problems are returned as data.
 *
 * Profiles are registered in `profiles/index.ts`; which profile a Gateway gets is decided by
 * `selectProfile()` there (PRODUCT.md section 3).
 */
import type {
  Gateway,
  GRPCRoute,
  GRPCRouteRule,
  Listener,
  ResourceSet,
  RouteGroupKind,
} from "../api/types.js";
import type {
  IrAction,
  IrBackend,
  IrDirect,
  IrHeaderModifier,
  IrMirror,
  IrProfile,
  IrRoute,
} from "../ir/routing-table.js";
import type { TranslateOptions } from "./types.js";

/** What every hook may read: the Gateway being translated, the whole input and the options. */
export interface ProfileContext {
  readonly gateway: Gateway;
  readonly resources: ResourceSet;
  readonly options: TranslateOptions;
}

/**
 * A problem a profile finds in a route or rule. It becomes `Accepted=False` / `UnsupportedValue` when it
 * makes the whole route invalid, or drops the rule with `PartiallyInvalid=True` / `UnsupportedValue`
 * ("Dropped Rule ...") when other rules stay valid.
 */
export interface RuleProblem {
  /** Field path from the object root, e.g. `spec.rules[1].matches[0].headers[5]`. */
  path: string;
  /** Names the field, the value and the limit, e.g. "at most 5 header matches per rule (VPC Lattice)". */
  message: string;
}

/** Result of the per-route check. */
export interface RouteCheck {
  /** Problems that make the whole route invalid (Accepted=False / UnsupportedValue on every parent). */
  problems: RuleProblem[];
  /**
   * Informational notes that do not reject the route (e.g. a Lattice quota the route exceeds by default).
   * They are appended to the Accepted condition's message on every parent we own.
   */
  notes: string[];
}

/** A backendRef after resolution (Service lookup, ReferenceGrant, endpoints, appProtocol). */
export interface ResolvedBackendRef {
  /** Index in `rule.backendRefs`. */
  index: number;
  /** The weight as written (default 1). */
  weight: number;
  /** Cluster key into `RoutingTable.clusters` when the ref is valid. */
  cluster?: string;
  /**
   * Why the ref is invalid (ResolvedRefs=False reason and message), absent when valid. A valid ref whose
   * Service has no ready endpoints is still valid (its cluster has no endpoints).
   */
  problem?: { reason: string; message: string };
  /**
   * Why calls cannot be sent to this valid ref (a BackendTLSPolicy without a valid CA certificate): its share
   * is answered UNAVAILABLE, while the route's ResolvedRefs stays True (the Gateway API's conformance tests
   * expect both).
   */
  unusable?: string;
  /** backendRef-level RequestHeaderModifier / ResponseHeaderModifier filters. */
  requestHeaders?: IrHeaderModifier;
  responseHeaders?: IrHeaderModifier;
  source: IrBackend["source"];
}

/** Everything the rule action hook needs. */
export interface RuleActionInput {
  route: GRPCRoute;
  ruleIndex: number;
  rule: GRPCRouteRule;
  /** One per `rule.backendRefs` entry, in order. Empty when the rule has no backendRefs. */
  backends: ResolvedBackendRef[];
  /** Rule-level filters, already converted (names lowercase). */
  requestHeaders?: IrHeaderModifier;
  responseHeaders?: IrHeaderModifier;
  mirrors: IrMirror[];
}

/**
 * One entry of a listener's route list before ordering: one (route, rule, match[, hostname group]).
 * `orderEntries` receives every entry of one listener and returns them in the order the data plane tries
 * them (first match wins).
 */
export interface ListenerEntry {
  route: GRPCRoute;
  ruleIndex: number;
  /** Index in `rule.matches`; 0 for a rule without matches. */
  matchIndex: number;
  /** Position of the rule in the route's order from `ruleOrder()` (0 = tried first). */
  rulePosition: number;
  /** The IR route, with its `hostnames` already set for this listener. */
  ir: IrRoute;
}

/** What to do with an HTTPS listener that has no `certificateRefs`. */
export type MissingCertificates =
  /** Listener ResolvedRefs=False / InvalidCertificateRef (the Gateway API's rule). */
  | "invalid"
  /** Serve with a generated certificate (`IrTls.generate`) for the names from `generatedTlsNames`. */
  | "generate";

/**
 * A Gateway profile. Every hook has a standard answer in `profiles/standard.ts`; a profile that only
 * changes some points spreads `standardProfile` and overrides those.
 */
export interface GatewayProfile {
  /** Written into `IrListener.profile`. */
  readonly name: IrProfile;

  /**
   * The route kinds a listener of this protocol supports when `allowedRoutes.kinds` is empty (they become
   * its `supportedKinds`). A GRPCRoute is allowed on the listener only when GRPCRoute is among them.
   * Standard: HTTP and HTTPS -> [GRPCRoute]; Lattice: HTTPS only.
   */
  defaultRouteKinds(protocol: string, ctx: ProfileContext): RouteGroupKind[];

  /**
   * Whether a kind listed in `allowedRoutes.kinds` is valid on a listener of this protocol. An invalid one
   * is left out of `supportedKinds` and makes the listener ResolvedRefs=False / InvalidRouteKinds.
   * Standard: group `gateway.networking.k8s.io`, kind GRPCRoute, on HTTP or HTTPS; Lattice: HTTPS only.
   */
  routeKindAllowed(protocol: string, kind: RouteGroupKind, ctx: ProfileContext): boolean;

  /**
   * Extra checks of one rule, run after the standard ones (which enforce the Gateway API and RE2
   * validity). Any problem makes the rule invalid. Standard: none; Lattice: one match per rule, at most 5
   * Exact header matches, method match Exact with a service, at most 10 backendRefs, weights 0..999.
   */
  checkRule(route: GRPCRoute, ruleIndex: number, ctx: ProfileContext): RuleProblem[];

  /** Checks of the whole route (e.g. a Lattice quota note). Standard: none. */
  checkRoute(route: GRPCRoute, ctx: ProfileContext): RouteCheck;

  /**
   * Whether method matches of this route compare without regard to case (`IrMethodMatch.caseInsensitive`).
   * Standard: false (the Gateway API is case-sensitive); Lattice: the case-insensitive matching the AWS GRPCRoute page states
   * unless switched off.
   */
  methodCaseInsensitive(route: GRPCRoute, ctx: ProfileContext): boolean;

  /** Whether header values compare without regard to case (`IrHeaderMatch.caseInsensitive`). Standard: false. */
  headerValueCaseInsensitive(route: GRPCRoute, ctx: ProfileContext): boolean;

  /**
   * The valid rules of a route in the order they take priority (rule indices, first wins among the route's
   * rules). `valid` lists the indices of rules that passed every check, ascending. Standard: `valid` as is
   * (list order); Lattice: priority from rule order, overridden by annotation
   * `application-networking.k8s.aws/rule-<i>-priority`.
   */
  ruleOrder(route: GRPCRoute, valid: readonly number[], ctx: ProfileContext): number[];

  /**
   * Orders every entry of one listener; the data plane takes the first that accepts a call. Standard: the
   * Gateway API precedence (`precedence.ts`), after splitting an entry whose hostnames rank differently
   * into one entry per rank (names suffixed `/host/<hostname>`). Must be deterministic.
   */
  orderEntries(entries: readonly ListenerEntry[], ctx: ProfileContext): ListenerEntry[];

  /**
   * The hostnames a route answers on at a listener (lowercase; `*.suffix` wildcards allowed; empty: any
   * host the listener accepts). `intersection` is the standard answer: the route's hostnames that
   * intersect the listener hostname, narrowed to it, or the listener hostname when the route has none.
   * Lattice: the route's generated assigned domain name plus `hostnames[0]`.
   */
  routeHostnames(route: GRPCRoute, listener: Listener, intersection: string[], ctx: ProfileContext): string[];

  /**
   * The action of a valid rule from its resolved backends. Standard: forward with invalid refs keeping
   * their share as UNAVAILABLE, every weight zero -> UNAVAILABLE, no backendRefs -> UNIMPLEMENTED.
   * Lattice: invalid refs dropped, none valid -> HTTP 500.
   */
  ruleAction(input: RuleActionInput, ctx: ProfileContext): IrAction;

  /**
   * The hostname the data plane chooses this listener by (`IrListener.hostname`; undefined: any host).
   * Standard: the listener's hostname. Lattice: undefined, since a Lattice service answers on its own
   * assigned domain and custom domain whatever the Gateway listener's hostname (the routes' hostnames
   * carry those names).
   */
  listenerHostname(listener: Listener, ctx: ProfileContext): string | undefined;

  /** What a call matching no route of the listener gets. Standard: gRPC 12; Lattice: HTTP 404. */
  noRoute(listener: Listener, ctx: ProfileContext): IrDirect;

  /** What an HTTPS listener without `certificateRefs` gets. Standard: "invalid"; Lattice: "generate". */
  missingCertificates(listener: Listener, ctx: ProfileContext): MissingCertificates;

  /**
   * DNS names of the certificate generated for an HTTPS listener under "generate", given the routes
   * attached to it (sorted by namespace/name). Called only in that case.
   */
  generatedTlsNames(listener: Listener, routes: readonly GRPCRoute[], ctx: ProfileContext): string[];

  /**
   * Annotations to report on a route attached to this Gateway (`StatusReport.routeAnnotations`, shown by
   * `validate`). Standard: none; Lattice: `application-networking.k8s.aws/lattice-assigned-domain-name`.
   */
  routeAnnotations(route: GRPCRoute, ctx: ProfileContext): Record<string, string>;

  /**
   * Why a TrafficPolicy cannot apply to this Gateway, its listeners, its routes or the Services they use
   * (the policy is then `Accepted=False` / `Invalid` for this Gateway, with this message, and does not apply
   * through it), or undefined when it can. Standard: undefined; Lattice: VPC Lattice has no such feature.
   */
  trafficPolicySupport(ctx: ProfileContext): string | undefined;
}
