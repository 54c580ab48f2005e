/**
 * Hostname matching and route/listener hostname intersection (reference section 2.3).
 *
 * A wildcard is a whole first label `*.`; `*.example.com` matches one or more labels in front of
 * `example.com` (`a.example.com`, `a.b.example.com`), never the apex `example.com`.
 */

/** Whether `host` (a concrete name) is matched by `pattern` (a name or a `*.suffix` wildcard). */
export function hostnameMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p.startsWith("*.")) return h.endsWith(p.slice(1)) && h.length > p.length - 1;
  return p === h;
}

/**
 * The intersection of one route hostname and one listener hostname, or undefined when they do not
 * intersect. The result is the narrower of the two: `*.example.com` with `a.example.com` gives
 * `a.example.com`; `*.example.com` with `*.a.example.com` gives `*.a.example.com`.
 */
export function intersectHostname(route: string, listener: string): string | undefined {
  const r = route.toLowerCase();
  const l = listener.toLowerCase();
  if (r === l) return r;
  const rw = r.startsWith("*.");
  const lw = l.startsWith("*.");
  if (!rw && !lw) return undefined;
  if (rw && !lw) return hostnameMatches(r, l) ? l : undefined;
  if (!rw && lw) return hostnameMatches(l, r) ? r : undefined;
  // Both wildcards: the one with the longer suffix is inside the other when it ends with the other's suffix.
  if (r.endsWith(l.slice(1))) return r;
  if (l.endsWith(r.slice(1))) return l;
  return undefined;
}

/**
 * The hostnames a route answers on at a listener (the effective set of the spec: "Route hostnames that do
 * not match the listener MUST be ignored for that listener"):
 * - the listener has no hostname: the route's hostnames (empty: any host);
 * - the route has none: the listener hostname ("A route with no hostnames inherits the listener's hostname");
 * - otherwise each intersection, in route order, without duplicates.
 *
 * Returns undefined when both sides give hostnames and none intersect (NoMatchingListenerHostname).
 */
export function effectiveHostnames(
  routeHostnames: readonly string[],
  listenerHostname: string | undefined,
): string[] | undefined {
  const routeHosts = dedupe(routeHostnames.map((h) => h.toLowerCase()));
  if (listenerHostname === undefined || listenerHostname === "") return routeHosts;
  if (routeHosts.length === 0) return [listenerHostname.toLowerCase()];
  const out: string[] = [];
  for (const h of routeHosts) {
    const i = intersectHostname(h, listenerHostname);
    if (i !== undefined) out.push(i);
  }
  const result = dedupe(out);
  return result.length === 0 ? undefined : result;
}

function dedupe(values: string[]): string[] {
  return [...new Set(values)];
}
