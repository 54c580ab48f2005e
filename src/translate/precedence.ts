/**
 * Rule precedence among the GRPCRoute entries of one listener (Gateway API, `GRPCRouteRule` and
 * `GRPCRouteSpec` docs in `apis/v1/grpcroute_types.go`; reference section 2.4).
 */
import { routeHostGroupName } from "../ir/names.js";
import type { ListenerEntry } from "./profile.js";

/** The sort key of one entry, exported for `explain` and tests. Larger wins for the first five keys. */
export interface PrecedenceKey {
  nonWildcardHostname: number;
  hostname: number;
  service: number;
  method: number;
  headers: number;
  /** RFC 3339; "" (unknown) sorts after every given timestamp. */
  creationTimestamp: string;
  /** `namespace/name` */
  route: string;
  rulePosition: number;
  matchIndex: number;
}

/**
 * The key of one entry. The translator gives each entry hostnames that share one length pair, so the first
 * hostname stands for all of them; an entry without hostnames (any host) counts 0 for both hostname keys.
 */
export function precedenceKey(e: ListenerEntry): PrecedenceKey {
  const host = e.ir.hostnames[0] ?? "";
  const wildcard = host.startsWith("*.");
  return {
    nonWildcardHostname: wildcard ? 0 : host.length,
    hostname: host.length,
    service: e.ir.match.method?.service?.length ?? 0,
    method: e.ir.match.method?.method?.length ?? 0,
    headers: e.ir.match.headers.length,
    creationTimestamp: e.route.metadata.creationTimestamp,
    route: `${e.route.metadata.namespace}/${e.route.metadata.name}`,
    rulePosition: e.rulePosition,
    matchIndex: e.matchIndex,
  };
}

function compareTimestamps(a: string, b: string): number {
  if (a === b) return 0;
  // A route without a timestamp is treated as the newest: it never wins a tie against a dated route.
  if (a === "") return 1;
  if (b === "") return -1;
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  if (Number.isFinite(ta) && Number.isFinite(tb) && ta !== tb) return ta - tb;
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Compares two entries; negative when `a` takes precedence. This is the one place that implements the
 * Gateway API's order, quoted from `GRPCRouteRule`:
 *
 * > "Precedence MUST be given to the rule with the largest number of:
 * >  * Characters in a matching non-wildcard hostname.
 * >  * Characters in a matching hostname.
 * >  * Characters in a matching service.
 * >  * Characters in a matching method.
 * >  * Header matches.
 * > If ties still exist across multiple Routes, matching precedence MUST be determined in order of the
 * > following criteria, continuing on ties:
 * >  * The oldest Route based on creation timestamp.
 * >  * The Route appearing first in alphabetical order by "{namespace}/{name}".
 * > If ties still exist within the Route that has been given precedence, matching precedence MUST be
 * > granted to the first matching rule meeting the above criteria."
 *
 * "First matching rule" is the rule's position in the route's rule order (list order in the standard
 * profile), then the match's position in the rule (matches are ORed, so each is its own entry).
 */
export function comparePrecedence(a: ListenerEntry, b: ListenerEntry): number {
  return compareKeys(precedenceKey(a), precedenceKey(b), a.ir.name, b.ir.name);
}

function compareKeys(ka: PrecedenceKey, kb: PrecedenceKey, nameA: string, nameB: string): number {
  return (
    kb.nonWildcardHostname - ka.nonWildcardHostname ||
    kb.hostname - ka.hostname ||
    kb.service - ka.service ||
    kb.method - ka.method ||
    kb.headers - ka.headers ||
    compareTimestamps(ka.creationTimestamp, kb.creationTimestamp) ||
    compareStrings(ka.route, kb.route) ||
    ka.rulePosition - kb.rulePosition ||
    ka.matchIndex - kb.matchIndex ||
    // Entries of one match split by hostname group: keep a stable order by IR name.
    compareStrings(nameA, nameB)
  );
}

/**
 * Splits entries whose hostnames have different precedence keys, so each entry's hostnames share one
 * (non-wildcard length, length) pair and a single position in the order is right for every host it
 * answers. An entry answering `a.example.com` and `*.example.com` becomes two: the exact name ranks by its
 * own length, the wildcard by its. A split entry's name gets the suffix `/host/<first hostname>`.
 */
export function splitByHostnameKey(entries: readonly ListenerEntry[]): ListenerEntry[] {
  const out: ListenerEntry[] = [];
  for (const e of entries) {
    const groups = new Map<string, string[]>();
    for (const h of e.ir.hostnames) {
      const k = `${h.startsWith("*.") ? 0 : h.length}/${h.length}`;
      const g = groups.get(k) ?? [];
      g.push(h);
      groups.set(k, g);
    }
    if (groups.size <= 1) {
      out.push(e);
      continue;
    }
    for (const hostnames of groups.values()) {
      out.push({ ...e, ir: { ...e.ir, name: routeHostGroupName(e.ir.name, hostnames[0] ?? ""), hostnames } });
    }
  }
  return out;
}

/**
 * The standard order of a listener's entries: split by hostname key, then sorted by `comparePrecedence`
 * (a new array; the input is not changed).
 */
export function sortByPrecedence(entries: readonly ListenerEntry[]): ListenerEntry[] {
  // Keys are computed once per entry, not once per comparison.
  const keyed = splitByHostnameKey(entries).map((e) => ({ e, k: precedenceKey(e) }));
  keyed.sort((a, b) => compareKeys(a.k, b.k, a.e.ir.name, b.e.ir.name));
  return keyed.map((x) => x.e);
}
