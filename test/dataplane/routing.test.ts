import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import type { IrRoute } from "../../src/ir/routing-table.js";
import {
  type Backend,
  backend,
  closeAll,
  cluster,
  forward,
  greeterClient,
  type grpc,
  invalidBackend,
  listener,
  otherClient,
  route,
  startBackend,
  startGateway,
  type TestGateway,
  table,
  testerClient,
  unary,
} from "../helpers/index.js";

/** Every match kind and precedence case, through real calls: which backend answers, or which code. */
describe("data plane: routing through real calls", { timeout: 120_000 }, () => {
  const names = [
    "exact",
    "service",
    "method",
    "regex",
    "hdr",
    "hdr-regex",
    "host",
    "wild",
    "any",
    "api",
    "first",
    "second",
  ];
  const backends = new Map<string, Backend>();
  let gw: TestGateway;
  const clients: grpc.Client[] = [];

  before(async () => {
    for (const n of names) backends.set(n, await startBackend({ name: n }));
    const cs = new Map(names.map((n) => [n, cluster(n, [backends.get(n)!.port])]));
    const to = (n: string) => forward([backend(cs.get(n)!)]);
    // Table order is precedence order (the translator sorts); the router takes the first match.
    const main: IrRoute[] = [
      route("host", { method: { type: "Exact", service: "grpcroute.test.Tester" } }, to("host"), [
        "h.example.com",
      ]),
      route("wild", { method: { type: "Exact", service: "grpcroute.test.Tester" } }, to("wild"), [
        "*.wild.example.com",
      ]),
      route(
        "hdr",
        {
          method: { type: "Exact", service: "grpcroute.test.Tester", method: "Unary" },
          headers: [{ type: "Exact", name: "x-version", value: "two" }],
        },
        to("hdr"),
      ),
      route(
        "hdr-regex",
        {
          method: { type: "Exact", service: "grpcroute.test.Tester", method: "Unary" },
          headers: [{ type: "RegularExpression", name: "x-color", value: "(red|blue)+" }],
        },
        to("hdr-regex"),
      ),
      route(
        "exact",
        { method: { type: "Exact", service: "grpcroute.test.Tester", method: "Unary" } },
        to("exact"),
      ),
      route(
        "regex",
        { method: { type: "RegularExpression", service: "grpcroute\\.test\\.O.*", method: "Un.ry" } },
        to("regex"),
      ),
      route("method", { method: { type: "Exact", method: "SayHello" } }, to("method")),
      route("service", { method: { type: "Exact", service: "grpcroute.test.Tester" } }, to("service")),
      route("first", { headers: [{ type: "Exact", name: "x-order", value: "1" }] }, to("first")),
      route("second", { headers: [{ type: "Exact", name: "x-order", value: "1" }] }, to("second")),
    ];
    const api = [route("api", {}, to("api"))];
    const anyHost = [
      route("any", { method: { type: "Exact", service: "grpcroute.test.Tester" } }, to("any")),
    ];
    gw = await startGateway(
      table(
        [
          listener("api", 80, api, { hostname: "api.example.com" }),
          listener("main", 80, main, { hostname: "*.example.com" }),
          listener("other", 80, anyHost),
        ],
        [...cs.values()],
      ),
    );
  });
  after(async () => {
    closeAll(...clients);
    await gw.close();
    await Promise.all([...backends.values()].map((b) => b.close()));
  });

  const cases: {
    name: string;
    authority: string;
    client?: "tester" | "other" | "greeter";
    metadata?: Record<string, string | string[]>;
    want: string | number;
  }[] = [
    { name: "exact service and method", authority: "x.example.com", want: "exact" },
    {
      name: "header exact beats plain exact (earlier in table)",
      authority: "x.example.com",
      metadata: { "x-version": "two" },
      want: "hdr",
    },
    {
      name: "header value mismatch falls through",
      authority: "x.example.com",
      metadata: { "x-version": "three" },
      want: "exact",
    },
    {
      name: "header regex",
      authority: "x.example.com",
      metadata: { "x-color": "redblue" },
      want: "hdr-regex",
    },
    {
      name: "header regex is anchored",
      authority: "x.example.com",
      metadata: { "x-color": "green-red" },
      want: "exact",
    },
    { name: "service and method regex", authority: "x.example.com", client: "other", want: "regex" },
    { name: "method-only", authority: "x.example.com", client: "greeter", want: "method" },
    { name: "route hostname exact", authority: "h.example.com", want: "host" },
    { name: "route hostname wildcard", authority: "deep.sub.wild.example.com:8443", want: "wild" },
    {
      name: "exact listener hostname isolates its routes",
      authority: "api.example.com",
      client: "greeter",
      want: "api",
    },
    { name: "no wildcard match falls to the catch-all listener", authority: "example.com", want: "any" },
    {
      name: "catch-all listener has no Greeter route",
      authority: "10.0.0.1:80",
      client: "greeter",
      want: 12,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const opts = { authority: c.authority };
      const client =
        c.client === "greeter"
          ? greeterClient(gw.target(80), opts)
          : c.client === "other"
            ? otherClient(gw.target(80), opts)
            : testerClient(gw.target(80), opts);
      clients.push(client);
      const method = c.client === "greeter" ? "SayHello" : "Unary";
      const req = c.client === "greeter" ? { name: "x" } : {};
      const r = await unary<{ backend?: string }>(
        client,
        method,
        req,
        c.metadata ? { metadata: c.metadata } : {},
      );
      if (typeof c.want === "number") {
        assert.equal(r.code, c.want, r.details);
        assert.match(r.details, /no route/);
      } else {
        assert.equal(r.code, 0, r.details);
        assert.equal(r.headers["x-backend"], c.want);
      }
    });
  }

  it("equal matches: the earlier route in table order wins", async () => {
    const c = testerClient(gw.target(80), { authority: "q.example.com" });
    clients.push(c);
    const next = gw.nextCall((i) => i.authority === "q.example.com");
    const r = await rawUnary(c, "/some.Service/Call", { "x-order": "1" });
    // The backend does not know the method: its own UNIMPLEMENTED proves the call reached it.
    assert.match(r.details, /does not implement/);
    assert.equal(backends.get("first")?.calls.length, 0, "grpc-js rejects unknown methods before handlers");
    const seen = await next;
    assert.equal(seen?.route, "grpcroute/default/first/rule/0/match/0");
    assert.equal(seen?.endpoint, backends.get("first")?.address);
  });
});

/** A unary call on any path with an empty body; the Tester backends accept any method they know only. */
function rawUnary(
  client: grpc.Client,
  path: string,
  metadata: Record<string, string> = {},
): Promise<{ code: number; details: string; backend: string | undefined }> {
  const md = new Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return new Promise((resolve) => {
    let backendName: string | undefined;
    const call = client.makeUnaryRequest(
      path,
      (x: Buffer) => x,
      (x: Buffer) => x,
      Buffer.alloc(0),
      md,
      (err) => resolve({ code: err?.code ?? 0, details: err?.details ?? "", backend: backendName }),
    );
    call.on("metadata", (m) => {
      backendName = m.get("x-backend")[0]?.toString();
    });
  });
}

describe("data plane: gateway-made answers", { timeout: 120_000 }, () => {
  let a: Backend;
  let gw: TestGateway;
  const clients: grpc.Client[] = [];

  before(async () => {
    a = await startBackend({ name: "a" });
    const ca = cluster("a", [a.port]);
    const dead = cluster("dead", []);
    gw = await startGateway(
      table(
        [
          listener("std", 80, [
            route(
              "invalid",
              { method: { type: "Exact", service: "s", method: "Invalid" } },
              forward([invalidBackend("backend not found: default/missing")]),
            ),
            // The translator turns a rule whose weights are all 0 into this answer (a forward action whose
            // weights sum to 0 breaks an IR invariant and is refused by apply()).
            route(
              "zero",
              { method: { type: "Exact", service: "s", method: "Zero" } },
              { kind: "direct", grpcStatus: 14, message: "every backendRef of rule 0 has weight 0" },
            ),
            route(
              "noep",
              { method: { type: "Exact", service: "s", method: "NoEndpoint" } },
              forward([backend(dead)]),
            ),
            route(
              "direct",
              { method: { type: "Exact", service: "s", method: "Direct" } },
              {
                kind: "direct",
                grpcStatus: 7,
                message: "denied here",
              },
            ),
          ]),
          listener(
            "lattice",
            81,
            [
              route(
                "http500",
                { method: { type: "Exact", service: "s", method: "Http500" } },
                {
                  kind: "direct",
                  httpStatus: 500,
                  message: "rule has no valid backend",
                },
              ),
            ],
            { profile: "lattice", noRoute: { kind: "direct", httpStatus: 404, message: "no rule matches" } },
          ),
        ],
        [ca, dead],
      ),
    );
  });
  after(async () => {
    closeAll(...clients);
    await gw.close();
    await a.close();
  });

  const cases: { name: string; port: number; path: string; code: number; message: RegExp }[] = [
    { name: "no route: UNIMPLEMENTED", port: 80, path: "/s/Nothing", code: 12, message: /no route/ },
    {
      name: "invalid backend: UNAVAILABLE",
      port: 80,
      path: "/s/Invalid",
      code: 14,
      message: /backend not found/,
    },
    { name: "all weights zero: UNAVAILABLE", port: 80, path: "/s/Zero", code: 14, message: /weight 0/ },
    {
      name: "no ready endpoint: UNAVAILABLE",
      port: 80,
      path: "/s/NoEndpoint",
      code: 14,
      message: /no ready endpoint/,
    },
    { name: "direct gRPC status", port: 80, path: "/s/Direct", code: 7, message: /denied here/ },
    { name: "Lattice HTTP 404: UNIMPLEMENTED", port: 81, path: "/s/Nothing", code: 12, message: /404/ },
    { name: "Lattice HTTP 500: UNKNOWN", port: 81, path: "/s/Http500", code: 2, message: /500/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const client = testerClient(gw.target(c.port));
      clients.push(client);
      const r = await new Promise<{ code: number; details: string }>((resolve) => {
        client.makeUnaryRequest(
          c.path,
          (x: Buffer) => x,
          (x: Buffer) => x,
          Buffer.alloc(0),
          (err) => resolve({ code: err?.code ?? 0, details: err?.details ?? "" }),
        );
      });
      assert.equal(r.code, c.code, r.details);
      assert.match(r.details, c.message);
    });
  }
});
