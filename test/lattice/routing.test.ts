/**
 * The Lattice profile's routing decisions for the AWS GRPCRoute page's example, without sockets: the example folder is
 * read and translated, and the compiled router is asked which rule serves each call. The end-to-end test
 * (`e2e.test.ts`) makes the same calls over TLS through the data plane.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadPaths } from "../../src/api/parse.js";
import type { ResourceSet } from "../../src/api/types.js";
import { compileRouters, type RequestHeaders, type Router } from "../../src/dataplane/router.js";
import { routeAuthorities } from "../../src/lattice/domains.js";
import { translate } from "../../src/translate/translator.js";
import type { TranslateOptions } from "../../src/translate/types.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/lattice/", import.meta.url));
const PORT_50051 = "service/default/greeter-grpc-server/port/50051";
const PORT_443 = "service/default/greeter-grpc-server/port/443";

interface Case {
  name: string;
  authority: "assigned" | "custom" | string;
  path: string;
  headers?: RequestHeaders;
  /** Cluster of the chosen backend, or the HTTP status of a direct answer. */
  want: string | number;
}

function decide(router: Router, authority: string, c: Case): string | number | undefined {
  const m = router.match(authority, c.path, c.headers ?? {});
  if (m.action.kind === "forward") return m.action.backends[0]?.cluster;
  return m.action.httpStatus ?? `grpc ${m.action.grpcStatus}`;
}

describe("Lattice routing of the AWS GRPCRoute page's example", () => {
  let resources: ResourceSet;
  before(async () => {
    const loaded = await loadPaths([EXAMPLE]);
    assert.deepEqual(
      loaded.issues.filter((i) => i.severity === "error"),
      [],
    );
    resources = loaded.resources;
  });

  function routerFor(
    opts: TranslateOptions = {},
    edit?: (r: ResourceSet) => ResourceSet,
  ): {
    router: Router;
    names: string[];
  } {
    const input = edit ? edit(resources) : resources;
    const { table } = translate(input, opts);
    const router = compileRouters(table.listeners).get(443);
    assert.ok(router, "a router for listener port 443");
    const route = input.grpcRoutes[0];
    assert.ok(route);
    return { router, names: routeAuthorities(route, opts.lattice?.domainSuffix) };
  }

  const cases: Case[] = [
    {
      name: "SayHello reaches the SayHello rule (port 443)",
      authority: "assigned",
      path: "/helloworld.Greeter/SayHello",
      want: PORT_443,
    },
    {
      name: "the header rule comes first (priority 1) and takes any method (port 50051)",
      authority: "assigned",
      path: "/helloworld.Greeter/SayHello",
      headers: { testkey1: "testValue1" },
      want: PORT_50051,
    },
    {
      name: "header-only match: every method of every service",
      authority: "assigned",
      path: "/other.Service/Anything",
      headers: { testkey1: "testValue1" },
      want: PORT_50051,
    },
    {
      name: "header values compare without case (Lattice caseSensitive false)",
      authority: "assigned",
      path: "/x.Y/Z",
      headers: { testkey1: "TESTVALUE1" },
      want: PORT_50051,
    },
    {
      name: "method matching is case-insensitive by default",
      authority: "assigned",
      path: "/helloworld.greeter/sayhello",
      want: PORT_443,
    },
    {
      name: "an unknown authority gets 404 (the route answers only on its own names)",
      authority: "greeter.example.com",
      path: "/helloworld.Greeter/SayHello",
      want: 404,
    },
    {
      name: "no rule matches: 404",
      authority: "assigned",
      path: "/helloworld.Greeter/SayGoodbye",
      want: 404,
    },
    {
      name: "authority with a port",
      authority: "assigned:443",
      path: "/helloworld.Greeter/SayHello",
      want: PORT_443,
    },
  ];

  for (const c of cases) {
    test(c.name, () => {
      const { router, names } = routerFor();
      const authority = c.authority.startsWith("assigned")
        ? c.authority.replace("assigned", names[0] ?? "")
        : c.authority;
      assert.equal(decide(router, authority, c), c.want);
    });
  }

  test("case-sensitive switch: globally, per Gateway and per route (the route wins)", () => {
    const lower: Case = { name: "", authority: "", path: "/helloworld.greeter/sayhello", want: 404 };
    const withAnn =
      (target: "gateway" | "route", value: string) =>
      (r: ResourceSet): ResourceSet => {
        const clone = structuredClone(r);
        const obj = target === "gateway" ? clone.gateways[0] : clone.grpcRoutes[0];
        assert.ok(obj);
        obj.metadata.annotations = {
          ...obj.metadata.annotations,
          "grpcroute.dev/lattice-method-match": value,
        };
        return clone;
      };
    const global = routerFor({ lattice: { methodCase: "sensitive" } });
    assert.equal(decide(global.router, global.names[0] ?? "", lower), 404);
    const gw = routerFor({}, withAnn("gateway", "case-sensitive"));
    assert.equal(decide(gw.router, gw.names[0] ?? "", lower), 404);
    const route = routerFor({ lattice: { methodCase: "sensitive" } }, withAnn("route", "case-insensitive"));
    assert.equal(decide(route.router, route.names[0] ?? "", lower), PORT_443);
  });

  test("a priority annotation reorders the rules: rule 1 at priority 1 wins over the header rule", () => {
    const { router, names } = routerFor({}, (r) => {
      const clone = structuredClone(r);
      const route = clone.grpcRoutes[0];
      assert.ok(route);
      route.metadata.annotations = { "application-networking.k8s.aws/rule-1-priority": "1" };
      return clone;
    });
    const c: Case = {
      name: "",
      authority: "",
      path: "/helloworld.Greeter/SayHello",
      headers: { testkey1: "testValue1" },
      want: PORT_443,
    };
    assert.equal(decide(router, names[0] ?? "", c), PORT_443);
    // Other methods still take the header rule, now at priority 2.
    assert.equal(decide(router, names[0] ?? "", { ...c, path: "/helloworld.Greeter/Other" }), PORT_50051);
  });

  test("the custom domain (hostnames[0]) answers as well as the assigned name", () => {
    const { router, names } = routerFor({}, (r) => {
      const clone = structuredClone(r);
      const route = clone.grpcRoutes[0];
      assert.ok(route);
      route.spec.hostnames = ["greeter.example.com"];
      return clone;
    });
    assert.equal(names[1], "greeter.example.com");
    const c: Case = { name: "", authority: "", path: "/helloworld.Greeter/SayHello", want: PORT_443 };
    assert.equal(decide(router, "greeter.example.com", c), PORT_443);
    assert.equal(decide(router, names[0] ?? "", c), PORT_443);
  });

  test("a listener hostname does not hide the assigned domain: Lattice routes by the service's names", () => {
    const { router, names } = routerFor({}, (r) => {
      const clone = structuredClone(r);
      const gateway = clone.gateways[0];
      const route = clone.grpcRoutes[0];
      assert.ok(gateway && route);
      for (const l of gateway.spec.listeners) l.hostname = "*.example.com";
      route.spec.hostnames = ["greeter.example.com"];
      return clone;
    });
    const c: Case = { name: "", authority: "", path: "/helloworld.Greeter/SayHello", want: PORT_443 };
    assert.equal(decide(router, names[0] ?? "", c), PORT_443);
    assert.equal(decide(router, "greeter.example.com", c), PORT_443);
    assert.equal(decide(router, "other.example.com", c), 404);
  });
});
