/**
 * The router: compiled once per routing table (per listener port) into an immutable structure, then asked
 * for every call which listener, route and action serve `(:authority, :path, headers)`.
 *
 * Semantics (Gateway API GRPCRoute, reference section 2): the listener is chosen by the `:authority` host
 * (port stripped, lowercased): an exact hostname beats a wildcard, a longer wildcard beats a shorter one, and
 * any wildcard beats a listener without hostname; only the chosen listener's routes serve the call ("listener
 * isolation"). Within it, the first IrRoute in table order (the translator already sorted them by
 * precedence) whose hostnames accept the host and whose match accepts the path and headers wins.
 *
 * Speed: the router remembers, per `:authority`, the host and listener it stands for, and per `(:authority,
 * :path)` a decision: the routes whose hostnames and method match accept the call, cut after the first of them
 * without header matches (no later route can win), so a repeated call only tests header matches, without
 * allocating, whatever the number of regular expressions in the table. Consecutive routes that all require an
 * exact value of the same header are looked up by that value instead of tested one by one; within a route,
 * exact header matches are tested before regular expressions (all must hold, so the order never changes the
 * answer). `firstMatch` computes the same decision without any memo: exact `service/method` and exact
 * service-only matches by Map lookup, and an ordered scan only for the routes that need it (regular
 * expressions, method-only, case-insensitive), up to the best index found so far, so table order is
 * preserved exactly. Results are precomputed objects.
 *
 * Shared with the frame-level relay: the exports here are stable.
 */
import RE2 from "re2";
import type {
  IrAction,
  IrDirect,
  IrHeaderMatch,
  IrListener,
  IrMethodMatch,
  IrRoute,
} from "../ir/routing-table.js";
import { GrpcCode } from "./grpc-status.js";

/** Request headers as Node's http2 gives them (names lowercase); arrays for repeated headers. */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** What the router decided for one call. Shared, immutable objects: never mutate. */
export interface RouteMatch {
  /** The listener chosen by `:authority`; undefined when no listener of the port accepts the host. */
  readonly listener: IrListener | undefined;
  /** The winning route; undefined when none matched (then `action` is the listener's `noRoute`). */
  readonly route: IrRoute | undefined;
  /** What to do: forward to backends, or answer directly. */
  readonly action: IrAction;
}

/** The compiled routes of one listener port. */
export interface Router {
  /** The listener port (as in the table, before any port mapping). */
  readonly port: number;
  /** The listeners of this port, in table order. */
  readonly listeners: readonly IrListener[];
  /** Decides listener, route and action for a call. Never throws. */
  match(authority: string, path: string, headers: RequestHeaders): RouteMatch;
  /** The listener chosen for a host (already port-stripped and lowercased, see `hostFromAuthority`). */
  selectListener(host: string): IrListener | undefined;
}

/** Splits a gRPC `:path` (`/<service>/<method>`) into its parts; undefined when malformed. */
export function parseGrpcPath(path: string): { service: string; method: string } | undefined {
  const slash = grpcPathSlash(path);
  if (slash < 0) return undefined;
  return { service: path.slice(1, slash), method: path.slice(slash + 1) };
}

/** Index of the slash between service and method, or -1 when the path is not `/<service>/<method>`. */
function grpcPathSlash(path: string): number {
  if (path.length < 4 || path.charCodeAt(0) !== 0x2f) return -1;
  const slash = path.indexOf("/", 1);
  if (slash <= 1 || slash === path.length - 1) return -1;
  if (path.indexOf("/", slash + 1) !== -1) return -1;
  return slash;
}

/**
 * The host part of an `:authority`: port stripped, lowercased, IPv6 brackets kept (`[::1]`), a trailing dot
 * removed. Empty for an empty authority.
 */
export function hostFromAuthority(authority: string): string {
  let host = authority;
  if (host.charCodeAt(0) === 0x5b /* [ */) {
    const end = host.indexOf("]");
    host = end > 0 ? host.slice(0, end + 1) : host;
  } else {
    const colon = host.lastIndexOf(":");
    if (colon >= 0 && host.indexOf(":") === colon) host = host.slice(0, colon);
  }
  if (host.endsWith(".")) host = host.slice(0, -1);
  return host.toLowerCase();
}

/** Does `host` match `pattern` (a hostname or `*.suffix`, lowercase)? A wildcard needs at least one label. */
export function hostnameMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith("*.")) {
    const suffix = pattern.slice(1); // ".example.com"
    return host.length > suffix.length && host.endsWith(suffix);
  }
  return pattern === host;
}

/** Joins a header's values the way the comparison sees them (multiple values joined with ", "). */
export function headerValue(headers: RequestHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return typeof v === "string" ? v : v.join(", ");
}

// ---------------------------------------------------------------------------------------------------------------
// Compiled form. Exported for `explain` (which must never disagree with the proxy) and the benchmarks.

/** @internal */
export interface CompiledRoute {
  readonly index: number;
  readonly route: IrRoute;
  readonly result: RouteMatch;
  /** undefined: every host the listener accepts. */
  readonly hostExact: ReadonlySet<string> | undefined;
  readonly hostWild: readonly string[];
  /** undefined: every service and method. */
  readonly method: ((service: string, method: string) => boolean) | undefined;
  readonly headers: readonly CompiledHeader[];
}

/** @internal */
export interface CompiledHeader {
  readonly name: string;
  readonly test: (value: string) => boolean;
  /** For an Exact match: the value a request must carry (lowercased when case-insensitive); else undefined. */
  readonly exact: string | undefined;
  readonly caseInsensitive: boolean;
}

/** @internal */
export interface CompiledListener {
  readonly listener: IrListener;
  readonly routes: readonly CompiledRoute[];
  /** Exact `/service/method` (case-sensitive) -> routes in table order. */
  readonly byPath: ReadonlyMap<string, readonly CompiledRoute[]>;
  /** Exact service-only (case-sensitive) -> routes in table order. */
  readonly byService: ReadonlyMap<string, readonly CompiledRoute[]>;
  /** Every other route, in table order. */
  readonly scan: readonly CompiledRoute[];
  readonly noRoute: RouteMatch;
}

/**
 * @internal What is left to decide for one `(host, path)` once the listener, hostnames and method matches
 * have been applied: only header matches. Headers are never part of a memo key, so a remembered decision
 * cannot change which route wins.
 */
export interface Decision {
  /** In table order: the candidate routes with header matches that come before `fallback`'s route. */
  readonly steps: readonly Step[];
  /** The first candidate without header matches, or the listener's `noRoute` when there is none. */
  readonly fallback: RouteMatch;
}

/**
 * @internal One test of a decision: a single route (`byValue` undefined), or a run of consecutive routes that
 * all require an exact value of header `name`, looked up by the request's value (lowercased when
 * `caseInsensitive`); the routes found are still tested in full, in table order.
 */
export interface Step {
  readonly route: CompiledRoute | undefined;
  readonly name: string;
  readonly caseInsensitive: boolean;
  readonly byValue: ReadonlyMap<string, readonly CompiledRoute[]> | undefined;
}

/** Most `:authority` and `(:authority, :path)` entries a router remembers before starting over. */
export const ROUTER_MEMO_LIMIT = 4096;

/** Shortest run of routes requiring an exact value of the same header that is worth a lookup by value. */
const INDEX_MIN_RUN = 4;

/** Never matches: a pattern RE2 rejects (the translator should have refused it) serves no call. */
const NEVER = (): boolean => false;

/**
 * node-re2 copies each string it is asked about into a new Buffer of its UTF-8 bytes before matching, which
 * costs several times the match itself for a short value; a Buffer it matches as it is. So values of up to
 * `SCRATCH_UNITS` UTF-16 units (at most 3 UTF-8 bytes each) are written as UTF-8 into one reused buffer (the
 * same bytes, lone surrogates replaced the same way: both go through Node's UTF-8 writer) and matched through
 * a view of their exact length; longer values go to node-re2 as strings.
 */
const SCRATCH_UNITS = 256;
const scratch = Buffer.allocUnsafe(SCRATCH_UNITS * 3);
/** `views[n]`: the first `n` bytes of `scratch` (made once per length). */
const views: Buffer[] = [];

function re2Test(re: RE2, s: string): boolean {
  if (s.length > SCRATCH_UNITS) return re.test(s);
  const n = scratch.write(s, 0, "utf8");
  let view = views[n];
  if (view === undefined) {
    view = scratch.subarray(0, n);
    views[n] = view;
  }
  return re.test(view);
}

function compileRegex(pattern: string, caseInsensitive: boolean | undefined): (s: string) => boolean {
  try {
    const re = new RE2(`^(?:${pattern})$`, caseInsensitive ? "iu" : "u");
    return (s: string) => re2Test(re, s);
  } catch {
    return NEVER;
  }
}

function compileText(m: { type: "Exact" | "RegularExpression"; caseInsensitive?: boolean }, value: string) {
  if (m.type === "RegularExpression") return compileRegex(value, m.caseInsensitive);
  if (m.caseInsensitive) {
    const lower = value.toLowerCase();
    if (lower.toLowerCase() === lower) {
      // A value already equal to `lower` needs no lowercasing: same length, and it lowercases to `lower`.
      return (s: string) => s === lower || (s.length === lower.length && s.toLowerCase() === lower);
    }
    return (s: string) => s.length === lower.length && s.toLowerCase() === lower;
  }
  return (s: string) => s === value;
}

function compileMethod(m: IrMethodMatch | undefined): CompiledRoute["method"] {
  if (m === undefined || (m.service === undefined && m.method === undefined)) return undefined;
  const svc = m.service === undefined ? undefined : compileText(m, m.service);
  const mth = m.method === undefined ? undefined : compileText(m, m.method);
  if (svc && mth) return (s, x) => svc(s) && mth(x);
  if (svc) return (s) => svc(s);
  return (_s, x) => (mth as (v: string) => boolean)(x);
}

function compileHeader(h: IrHeaderMatch): CompiledHeader {
  const caseInsensitive = h.caseInsensitive === true;
  let exact: string | undefined;
  if (h.type === "Exact") exact = caseInsensitive ? h.value.toLowerCase() : h.value;
  return { name: h.name.toLowerCase(), test: compileText(h, h.value), exact, caseInsensitive };
}

/**
 * A route's header matches, exact ones first (table order otherwise): every one must hold and each test is
 * pure, so the order only decides how soon a mismatch is seen, and a regular expression costs far more.
 */
function compileHeaders(headers: readonly IrHeaderMatch[]): CompiledHeader[] {
  const compiled = headers.map(compileHeader);
  return [...compiled.filter((h) => h.exact !== undefined), ...compiled.filter((h) => h.exact === undefined)];
}

function compileRoute(listener: IrListener, route: IrRoute, index: number): CompiledRoute {
  const exact = new Set<string>();
  const wild: string[] = [];
  for (const h of route.hostnames) {
    const lower = h.toLowerCase();
    if (lower.startsWith("*.")) wild.push(lower);
    else exact.add(lower);
  }
  const any = route.hostnames.length === 0;
  return {
    index,
    route,
    result: Object.freeze({ listener, route, action: route.action }),
    hostExact: any ? undefined : exact,
    hostWild: wild,
    method: compileMethod(route.match.method),
    headers: compileHeaders(route.match.headers),
  };
}

/** @internal Does the route accept the host? */
export function routeAcceptsHost(r: CompiledRoute, host: string): boolean {
  if (r.hostExact === undefined || r.hostExact.has(host)) return true;
  for (const w of r.hostWild) if (hostnameMatches(w, host)) return true;
  return false;
}

/** @internal Do all header matches accept the request headers? */
export function routeAcceptsHeaders(r: CompiledRoute, headers: RequestHeaders): boolean {
  const hs = r.headers;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i] as CompiledHeader;
    const value = headerValue(headers, h.name);
    if (value === undefined) return false;
    if (h.exact !== undefined && !h.caseInsensitive ? value !== h.exact : !h.test(value)) return false;
  }
  return true;
}

function indexable(m: IrMethodMatch | undefined): "path" | "service" | undefined {
  if (m === undefined || m.type !== "Exact" || m.caseInsensitive) return undefined;
  if (m.service !== undefined && m.method !== undefined) return "path";
  if (m.service !== undefined) return "service";
  return undefined;
}

function push<K>(map: Map<K, CompiledRoute[]>, key: K, r: CompiledRoute): void {
  const list = map.get(key);
  if (list) list.push(r);
  else map.set(key, [r]);
}

/** @internal */
export function compileListener(listener: IrListener): CompiledListener {
  const routes = listener.routes.map((r, i) => compileRoute(listener, r, i));
  const byPath = new Map<string, CompiledRoute[]>();
  const byService = new Map<string, CompiledRoute[]>();
  const scan: CompiledRoute[] = [];
  for (const r of routes) {
    const m = r.route.match.method;
    const kind = indexable(m);
    if (kind === "path") push(byPath, `/${m?.service}/${m?.method}`, r);
    else if (kind === "service") push(byService, m?.service as string, r);
    else scan.push(r);
  }
  return {
    listener,
    routes,
    byPath,
    byService,
    scan,
    noRoute: Object.freeze({ listener, route: undefined, action: listener.noRoute }),
  };
}

/**
 * The routes of `routes` (one index list, table order) that accept `(host, path)`, appended to `out`, up to
 * and including the first one without header matches and never past `limit`; returns the new limit (the
 * index of that route, or `limit`).
 */
function collect(
  routes: readonly CompiledRoute[],
  host: string,
  service: string,
  method: string,
  limit: number,
  out: CompiledRoute[],
): number {
  for (const r of routes) {
    if (r.index > limit) break;
    if (!routeAcceptsHost(r, host)) continue;
    if (r.method !== undefined && !r.method(service, method)) continue;
    out.push(r);
    if (r.headers.length === 0) return r.index;
  }
  return limit;
}

/**
 * @internal The routes of `l` (table order) whose hostnames and method match accept `(host, path)`, up to and
 * including the first one without header matches (no later route can win, whatever the headers).
 */
export function hostPathCandidates(l: CompiledListener, host: string, path: string): CompiledRoute[] {
  const slash = grpcPathSlash(path);
  if (slash < 0) return [];
  const service = path.slice(1, slash);
  const method = path.slice(slash + 1);
  const found: CompiledRoute[] = [];
  let limit = Number.POSITIVE_INFINITY;
  const exact = l.byPath.get(path);
  if (exact !== undefined) limit = collect(exact, host, service, method, limit, found);
  const svc = l.byService.get(service);
  if (svc !== undefined) limit = collect(svc, host, service, method, limit, found);
  limit = collect(l.scan, host, service, method, limit, found);
  return found.filter((r) => r.index <= limit).sort((a, b) => a.index - b.index);
}

/** The exact value route `r` requires of header `name` (lowercased when case-insensitive), if any. */
function exactValue(r: CompiledRoute, name: string, caseInsensitive: boolean): string | undefined {
  for (const h of r.headers) {
    if (h.name === name && h.exact !== undefined && h.caseInsensitive === caseInsensitive) return h.exact;
  }
  return undefined;
}

/** @internal The decision for the candidates of one `(host, path)` (see `hostPathCandidates`). */
export function decide(l: CompiledListener, candidates: readonly CompiledRoute[]): Decision {
  const last = candidates[candidates.length - 1];
  const headerless = last !== undefined && last.headers.length === 0;
  const tested = headerless ? candidates.slice(0, -1) : candidates;
  const steps: Step[] = [];
  let i = 0;
  while (i < tested.length) {
    const r = tested[i] as CompiledRoute;
    // The longest run starting here of routes that all require an exact value of one header.
    let best: { name: string; caseInsensitive: boolean; end: number } | undefined;
    for (const h of r.headers) {
      if (h.exact === undefined) continue;
      let end = i + 1;
      while (
        end < tested.length &&
        exactValue(tested[end] as CompiledRoute, h.name, h.caseInsensitive) !== undefined
      )
        end++;
      if (best === undefined || end > best.end)
        best = { name: h.name, caseInsensitive: h.caseInsensitive, end };
    }
    if (best !== undefined && best.end - i >= INDEX_MIN_RUN) {
      const byValue = new Map<string, CompiledRoute[]>();
      for (let k = i; k < best.end; k++) {
        const route = tested[k] as CompiledRoute;
        push(byValue, exactValue(route, best.name, best.caseInsensitive) as string, route);
      }
      steps.push({ route: undefined, name: best.name, caseInsensitive: best.caseInsensitive, byValue });
      i = best.end;
    } else {
      steps.push({ route: r, name: "", caseInsensitive: false, byValue: undefined });
      i++;
    }
  }
  return { steps, fallback: headerless ? last.result : l.noRoute };
}

/** The answer of a decision for the request's headers. */
function decideHeaders(d: Decision, headers: RequestHeaders): RouteMatch {
  const steps = d.steps;
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i] as Step;
    if (s.byValue === undefined) {
      const r = s.route as CompiledRoute;
      if (routeAcceptsHeaders(r, headers)) return r.result;
      continue;
    }
    const value = headerValue(headers, s.name);
    if (value === undefined) continue;
    const routes = s.byValue.get(s.caseInsensitive ? value.toLowerCase() : value);
    if (routes === undefined) continue;
    for (const r of routes) if (routeAcceptsHeaders(r, headers)) return r.result;
  }
  return d.fallback;
}

/** @internal The first route of `l` (table order) that accepts the call, or undefined. */
export function firstMatch(
  l: CompiledListener,
  host: string,
  path: string,
  headers: RequestHeaders,
): CompiledRoute | undefined {
  const slash = grpcPathSlash(path);
  if (slash < 0) return undefined;
  let best: CompiledRoute | undefined;
  const exact = l.byPath.get(path);
  if (exact !== undefined) {
    for (const r of exact) {
      if (routeAcceptsHost(r, host) && routeAcceptsHeaders(r, headers)) {
        best = r;
        break;
      }
    }
  }
  if (l.byService.size > 0) {
    const svc = l.byService.get(path.slice(1, slash));
    if (svc !== undefined) {
      for (const r of svc) {
        if (best !== undefined && r.index >= best.index) break;
        if (routeAcceptsHost(r, host) && routeAcceptsHeaders(r, headers)) {
          best = r;
          break;
        }
      }
    }
  }
  if (l.scan.length > 0) {
    let service: string | undefined;
    let method: string | undefined;
    for (const r of l.scan) {
      if (best !== undefined && r.index >= best.index) break;
      if (!routeAcceptsHost(r, host)) continue;
      if (r.method !== undefined) {
        service ??= path.slice(1, slash);
        method ??= path.slice(slash + 1);
        if (!r.method(service, method)) continue;
      }
      if (!routeAcceptsHeaders(r, headers)) continue;
      best = r;
      break;
    }
  }
  return best;
}

/** The gateway-made answer when no listener of a port accepts the host. */
function noListenerAction(listeners: readonly IrListener[], port: number): IrDirect {
  const first = listeners[0];
  const message = `no listener on port ${port} accepts this :authority`;
  if (first?.noRoute.httpStatus !== undefined)
    return { kind: "direct", httpStatus: first.noRoute.httpStatus, message };
  return { kind: "direct", grpcStatus: GrpcCode.UNIMPLEMENTED, message };
}

/** What the router remembers of one `:authority`: its host, its listener and its decisions per `:path`. */
interface AuthorityMemo {
  readonly authority: string;
  readonly host: string;
  /** undefined: no listener of the port accepts the host. */
  readonly l: CompiledListener | undefined;
  readonly paths: Map<string, Decision>;
}

/** @internal The compiled router, with its parts visible to `explain`. */
export class CompiledRouter implements Router {
  readonly port: number;
  readonly listeners: readonly IrListener[];
  readonly compiled: readonly CompiledListener[];
  private readonly exact: ReadonlyMap<string, CompiledListener>;
  /** Wildcard listeners, longest suffix first (ties keep table order). */
  private readonly wild: readonly { suffix: string; l: CompiledListener }[];
  private readonly any: CompiledListener | undefined;
  readonly noListener: RouteMatch;
  /**
   * `:authority` -> its host, listener and `:path` decisions. Bounded: `memoEntries` counts authorities and
   * decisions, and everything is forgotten at once when it reaches `ROUTER_MEMO_LIMIT`.
   */
  private readonly memo = new Map<string, AuthorityMemo>();
  private memoEntries = 0;
  /**
   * The entry of the previous call's `:authority`, compared by content first: a string whose hash V8 has
   * not computed yet (a new one per call on the node:http2 data path) costs more to look up in a Map than to
   * compare, and most calls repeat the previous authority.
   */
  private last: AuthorityMemo | undefined;

  constructor(listeners: readonly IrListener[]) {
    this.listeners = listeners;
    this.port = listeners[0]?.port ?? 0;
    this.compiled = listeners.map(compileListener);
    const exact = new Map<string, CompiledListener>();
    const wild: { suffix: string; l: CompiledListener }[] = [];
    let any: CompiledListener | undefined;
    for (const l of this.compiled) {
      const h = l.listener.hostname?.toLowerCase();
      if (h === undefined || h === "" || h === "*") any ??= l;
      else if (h.startsWith("*.")) wild.push({ suffix: h.slice(1), l });
      else if (!exact.has(h)) exact.set(h, l);
    }
    // Array.prototype.sort is stable: equal lengths keep table order.
    wild.sort((a, b) => b.suffix.length - a.suffix.length);
    this.exact = exact;
    this.wild = wild;
    this.any = any;
    this.noListener = Object.freeze({
      listener: undefined,
      route: undefined,
      action: noListenerAction(listeners, this.port),
    });
  }

  /** @internal The compiled listener chosen for a host. */
  selectCompiled(host: string): CompiledListener | undefined {
    const e = this.exact.get(host);
    if (e !== undefined) return e;
    for (const w of this.wild) {
      if (host.length > w.suffix.length && host.endsWith(w.suffix)) return w.l;
    }
    return this.any;
  }

  selectListener(host: string): IrListener | undefined {
    return this.selectCompiled(host)?.listener;
  }

  match(authority: string, path: string, headers: RequestHeaders): RouteMatch {
    let a = this.last;
    if (a === undefined || a.authority !== authority) {
      a = this.memo.get(authority) ?? this.rememberAuthority(authority);
      this.last = a;
    }
    const l = a.l;
    if (l === undefined) return this.noListener;
    const d = a.paths.get(path) ?? this.rememberPath(a, l, path);
    if (d.steps.length === 0) return d.fallback;
    return decideHeaders(d, headers);
  }

  /** @internal How many authorities and decisions are remembered (bounded by `ROUTER_MEMO_LIMIT`). */
  get memoSize(): number {
    return this.memoEntries;
  }

  private rememberAuthority(authority: string): AuthorityMemo {
    if (this.memoEntries >= ROUTER_MEMO_LIMIT) this.forget();
    const host = hostFromAuthority(authority);
    const a: AuthorityMemo = { authority, host, l: this.selectCompiled(host), paths: new Map() };
    this.memo.set(authority, a);
    this.memoEntries++;
    return a;
  }

  private rememberPath(a: AuthorityMemo, l: CompiledListener, path: string): Decision {
    const d = decide(l, hostPathCandidates(l, a.host, path));
    if (this.memoEntries >= ROUTER_MEMO_LIMIT) {
      this.forget();
      a.paths.clear();
      this.memo.set(a.authority, a);
      this.memoEntries++;
      this.last = a;
    }
    a.paths.set(path, d);
    this.memoEntries++;
    return d;
  }

  private forget(): void {
    this.memo.clear();
    this.memoEntries = 0;
    this.last = undefined;
  }
}

/** Compiles the listeners of one port (table order) into a router. */
export function compileRouter(listeners: IrListener[]): Router {
  return new CompiledRouter(listeners);
}

/** Groups a table's listeners by port (table order inside each port) and compiles one router per port. */
export function compileRouters(listeners: readonly IrListener[]): Map<number, Router> {
  const byPort = new Map<number, IrListener[]>();
  for (const l of listeners) {
    const list = byPort.get(l.port);
    if (list) list.push(l);
    else byPort.set(l.port, [l]);
  }
  const out = new Map<number, Router>();
  for (const [port, ls] of byPort) out.set(port, compileRouter(ls));
  return out;
}
