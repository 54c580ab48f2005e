import assert from "node:assert/strict";
import { describe, it } from "node:test";
import RE2 from "re2";
import type { IrDirect, IrHeaderMatch, IrListener, IrMatch, IrRoute } from "../ir/routing-table.js";
import {
  CompiledRouter,
  compileRouter,
  firstMatch,
  hostFromAuthority,
  parseGrpcPath,
  ROUTER_MEMO_LIMIT,
} from "./router.js";

const NO_ROUTE: IrDirect = { kind: "direct", grpcStatus: 12, message: "no route" };

function route(name: string, match: Partial<IrMatch>, hostnames: string[] = []): IrRoute {
  return {
    name,
    source: { kind: "GRPCRoute", namespace: "default", name, rule: 0, match: 0 },
    hostnames,
    match: { headers: [], ...match },
    action: { kind: "direct", grpcStatus: 0, message: name },
  };
}

function listener(name: string, routes: IrRoute[], hostname?: string): IrListener {
  return {
    name: `gateway/default/gw/listener/${name}`,
    gateway: { namespace: "default", name: "gw" },
    listener: name,
    profile: "standard",
    port: 80,
    protocol: "HTTP",
    ...(hostname === undefined ? {} : { hostname }),
    routes,
    noRoute: NO_ROUTE,
  };
}

describe("router", () => {
  it("parses paths and authorities", () => {
    const cases: [string, { service: string; method: string } | undefined][] = [
      ["/a.B/C", { service: "a.B", method: "C" }],
      ["/a/b/c", undefined],
      ["//C", undefined],
      ["/a/", undefined],
      ["a/b", undefined],
      ["", undefined],
    ];
    for (const [p, want] of cases) assert.deepEqual(parseGrpcPath(p), want, p);
    const hosts: [string, string][] = [
      ["Foo.Example.com:8080", "foo.example.com"],
      ["foo.example.com.", "foo.example.com"],
      ["[::1]:80", "[::1]"],
      ["10.0.0.1", "10.0.0.1"],
      ["", ""],
    ];
    for (const [a, want] of hosts) assert.equal(hostFromAuthority(a), want, a);
  });

  const routes = [
    route("hdr", {
      method: { type: "Exact", service: "s.A", method: "M" },
      headers: [{ type: "Exact", name: "x-v", value: "two" }],
    }),
    route("exact", { method: { type: "Exact", service: "s.A", method: "M" } }),
    route("regex-early", { method: { type: "RegularExpression", service: "s\\.R.*", method: "M[0-9]+" } }),
    route("service", { method: { type: "Exact", service: "s.A" } }),
    route("method-only", { method: { type: "Exact", method: "Only" } }),
    route("ci", { method: { type: "Exact", service: "s.ci", method: "get", caseInsensitive: true } }),
    route("hdr-regex", { headers: [{ type: "RegularExpression", name: "x-r", value: "a+b" }] }),
    route("host", { method: { type: "Exact", service: "s.H" } }, ["h.example.com"]),
    route("host-wild", { method: { type: "Exact", service: "s.H" } }, ["*.example.com"]),
  ];
  const router = compileRouter([listener("any", routes)]);
  const cases: {
    name: string;
    authority?: string;
    path: string;
    headers?: Record<string, string | string[]>;
    want: string | undefined;
  }[] = [
    { name: "header match wins first", path: "/s.A/M", headers: { "x-v": "two" }, want: "hdr" },
    { name: "header mismatch falls to exact", path: "/s.A/M", headers: { "x-v": "one" }, want: "exact" },
    { name: "service-only", path: "/s.A/Other", want: "service" },
    { name: "regex anchored", path: "/s.Rx/M12", want: "regex-early" },
    { name: "regex not partial", path: "/s.Rx/M12x", want: undefined },
    { name: "method-only", path: "/any.S/Only", want: "method-only" },
    { name: "case-insensitive", path: "/S.CI/GET", want: "ci" },
    { name: "case-sensitive exact", path: "/S.A/M", want: undefined },
    { name: "header regex whole value", path: "/z/z", headers: { "x-r": "aab" }, want: "hdr-regex" },
    { name: "header regex partial fails", path: "/z/z", headers: { "x-r": "aabc" }, want: undefined },
    { name: "repeated header joined", path: "/z/z", headers: { "x-r": ["a", "b"] }, want: undefined },
    { name: "route hostname exact", authority: "h.example.com:80", path: "/s.H/M", want: "host" },
    { name: "route hostname wildcard", authority: "x.y.example.com", path: "/s.H/M", want: "host-wild" },
    { name: "wildcard needs a label", authority: "example.com", path: "/s.H/M", want: undefined },
    { name: "malformed path", path: "/s.A/M/x", want: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const m = router.match(c.authority ?? "gw", c.path, c.headers ?? {});
      assert.equal(m.route?.name, c.want);
      if (c.want === undefined) assert.equal(m.action, NO_ROUTE);
    });
  }

  it("chooses the listener by authority and isolates its routes", () => {
    const r = compileRouter([
      listener("any", [route("any", {})]),
      listener("short", [route("short", {})], "*.example.com"),
      listener("long", [route("long", {})], "*.a.example.com"),
      listener("exact", [route("exact", { method: { type: "Exact", service: "only" } })], "x.a.example.com"),
    ]);
    const cases: [string, string, string | undefined][] = [
      ["x.a.example.com", "exact", undefined],
      ["y.a.example.com:443", "long", "long"],
      ["b.example.com", "short", "short"],
      ["example.com", "any", "any"],
      ["10.1.2.3:8080", "any", "any"],
    ];
    for (const [authority, wantListener, wantRoute] of cases) {
      const m = r.match(authority, "/a/b", {});
      assert.equal(m.listener?.listener, wantListener, authority);
      assert.equal(m.route?.name, wantRoute, authority);
    }
    const noAny = compileRouter([listener("only", [route("r", {})], "a.example.com")]);
    const m = noAny.match("b.example.com", "/a/b", {});
    assert.equal(m.listener, undefined);
    assert.equal(m.action.kind === "direct" && m.action.grpcStatus, 12);
  });

  it("the (host, path) memo never changes the decision, also once full", () => {
    const r = new CompiledRouter([listener("any", routes)]);
    const l = r.compiled[0]!;
    const hosts = ["gw", "h.example.com", "x.y.example.com", "example.com"];
    const paths = ["/s.A/M", "/s.A/Other", "/s.Rx/M12", "/any.S/Only", "/S.CI/GET", "/z/z", "/s.H/M", "/bad"];
    const headerSets = [{}, { "x-v": "two" }, { "x-r": "aab" }, { "x-v": "one", "x-r": ["a", "b"] }];
    for (let round = 0; round < 2; round++) {
      for (const h of hosts) {
        for (const p of paths) {
          for (const hs of headerSets) {
            assert.equal(
              r.match(h, p, hs).route,
              firstMatch(l, h, p, hs)?.route,
              `${h} ${p} ${JSON.stringify(hs)}`,
            );
          }
        }
      }
    }
    for (let i = 0; i <= ROUTER_MEMO_LIMIT; i++) r.match(`h${i}`, "/s.A/M", {});
    assert.ok(r.memoSize <= ROUTER_MEMO_LIMIT);
    assert.equal(r.match("gw", "/s.A/M", { "x-v": "two" }).route?.name, "hdr");
    for (let i = 0; i <= ROUTER_MEMO_LIMIT; i++) r.match("gw", `/s${i}.X/Only`, {});
    assert.ok(r.memoSize <= ROUTER_MEMO_LIMIT);
    assert.equal(r.match("gw", "/s.A/M", { "x-v": "one" }).route?.name, "exact");
    assert.equal(r.match("h.example.com", "/s.H/M", {}).route?.name, "host");
  });

  it("agrees with a plain scan in table order on random tables (header lookups by value included)", () => {
    let x = 7;
    const rand = (n: number): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
    const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)] as T;
    const services = ["s.A", "s.B"];
    const methods = ["M", "N"];
    for (let table = 0; table < 40; table++) {
      const rs: IrRoute[] = [];
      for (let i = 0; i < 40; i++) {
        const match: Partial<IrMatch> = {};
        const m = rand(6);
        if (m === 0) match.method = { type: "Exact", service: pick(services), method: pick(methods) };
        else if (m === 1) match.method = { type: "Exact", service: pick(services) };
        else if (m === 2) match.method = { type: "RegularExpression", service: "s\\.[AB]", method: "[MN]" };
        else if (m === 3)
          match.method = { type: "Exact", service: "S.A", method: "m", caseInsensitive: true };
        const headers: IrHeaderMatch[] = [];
        if (rand(4) !== 0) {
          const ci = rand(3) === 0;
          headers.push({
            type: "Exact",
            name: "x-t",
            value: pick(["t0", "t1", "T2", "t0, t1"]),
            caseInsensitive: ci,
          });
        }
        if (rand(3) === 0) headers.push({ type: "RegularExpression", name: "x-t", value: "t[01].*" });
        if (rand(3) === 0) headers.push({ type: "Exact", name: "x-u", value: pick(["u0", "u1"]) });
        match.headers = rand(2) === 0 ? headers : headers.reverse();
        const hostnames = pick([[], [], ["a.example.com"], ["*.example.com"]]);
        rs.push(route(`r${i}`, match, hostnames));
      }
      const r = new CompiledRouter([listener("any", rs)]);
      const l = r.compiled[0]!;
      const plain = (
        host: string,
        path: string,
        hs: Record<string, string | string[]>,
      ): string | undefined => {
        const parts = parseGrpcPath(path);
        if (parts === undefined) return undefined;
        const text = (type: string, ci: boolean | undefined, want: string, got: string): boolean => {
          if (type === "RegularExpression") return new RegExp(`^(?:${want})$`).test(got);
          if (ci) return got.length === want.toLowerCase().length && got.toLowerCase() === want.toLowerCase();
          return got === want;
        };
        for (const c of rs) {
          if (
            c.hostnames.length > 0 &&
            !c.hostnames.some((p) =>
              p.startsWith("*.") ? host.endsWith(p.slice(1)) && host.length > p.length - 1 : p === host,
            )
          )
            continue;
          const mm = c.match.method;
          if (mm?.service !== undefined && !text(mm.type, mm.caseInsensitive, mm.service, parts.service))
            continue;
          if (mm?.method !== undefined && !text(mm.type, mm.caseInsensitive, mm.method, parts.method))
            continue;
          const ok = c.match.headers.every((h) => {
            const v = hs[h.name];
            if (v === undefined) return false;
            return text(h.type, h.caseInsensitive, h.value, typeof v === "string" ? v : v.join(", "));
          });
          if (ok) return c.name;
        }
        return undefined;
      };
      for (let call = 0; call < 300; call++) {
        const host = pick(["gw", "a.example.com", "b.example.com"]);
        const path = pick(["/s.A/M", "/s.A/N", "/s.B/M", "/s.b/m", "/S.a/M", "/x.Y/Z"]);
        const hs: Record<string, string | string[]> = {};
        const t = pick([undefined, "t0", "t1", "T1", "t2", "T2", ["t0", "t1"], "t1x"]);
        if (t !== undefined) hs["x-t"] = t;
        const u = pick([undefined, "u0", "u1"]);
        if (u !== undefined) hs["x-u"] = u;
        const want = plain(host, path, hs);
        const what = `table ${table}: ${host} ${path} ${JSON.stringify(hs)}`;
        assert.equal(r.match(host, path, hs).route?.name, want, what);
        assert.equal(firstMatch(l, host, path, hs)?.route.name, want, what);
      }
    }
  });

  it("regular expressions answer as RE2 does on the string, whatever the characters and length", () => {
    const patterns = [
      ".*",
      ".",
      "..",
      "\\x{FFFD}",
      "[a-z]+",
      "é+",
      "(?i)É+",
      "\\p{Han}+",
      ".{256}",
      ".{257}",
      "a.*z",
    ];
    const values = [
      "",
      "abc",
      "é",
      "éé",
      "ÉÉ",
      "漢字",
      "😀",
      "\ud800",
      "\udc00x",
      "a\u0000z",
      "x".repeat(255),
      "é".repeat(256),
      "漢".repeat(256),
      "y".repeat(257),
      "a".repeat(300),
      `a${"漢".repeat(300)}z`,
    ];
    for (const pattern of patterns) {
      for (const caseInsensitive of [false, true]) {
        const header: IrHeaderMatch = {
          type: "RegularExpression",
          name: "x-r",
          value: pattern,
          caseInsensitive,
        };
        const r = compileRouter([listener("any", [route("re", { headers: [header] })])]);
        const re = new RE2(`^(?:${pattern})$`, caseInsensitive ? "iu" : "u");
        for (const value of values) {
          const want = re.test(value) ? "re" : undefined;
          assert.equal(
            r.match("gw", "/a/b", { "x-r": value }).route?.name,
            want,
            `${pattern} ${value.length}`,
          );
        }
      }
    }
  });
});
