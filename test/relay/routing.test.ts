import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { generateCertificate } from "../../src/util/self-signed.js";
import {
  type Backend,
  closeAll,
  collect,
  greeterClient,
  type grpc,
  OTHER_SERVICE,
  onceWithin,
  otherClient,
  sayHello,
  serverStream,
  startBackend,
  TESTER_SERVICE,
  testerClient,
  unary,
} from "../helpers/index.js";
import { cluster, exact, startRelay, table, testerTable } from "./fixture.js";

type Relay = Awaited<ReturnType<typeof startRelay>>;

describe("relay routing: services, methods, headers, direct answers", { timeout: 120_000 }, () => {
  let a: Backend;
  let b: Backend;
  let relay: Relay;
  before(async () => {
    a = await startBackend({ name: "a" });
    b = await startBackend({ name: "b" });
    const ca = cluster("a", [a.address]);
    const cb = cluster("b", [b.address]);
    relay = await startRelay(
      table(
        [
          {
            routes: [
              {
                name: "lattice-style",
                match: exact(OTHER_SERVICE, "Unary", [{ type: "Exact", name: "x-direct", value: "404" }]),
                direct: { httpStatus: 404, message: "not here" },
              },
              {
                name: "header",
                match: exact(TESTER_SERVICE, undefined, [
                  { type: "RegularExpression", name: "x-version", value: "t.o" },
                ]),
                backends: [{ cluster: cb.name }],
              },
              { name: "tester", match: exact(TESTER_SERVICE), backends: [{ cluster: ca.name }] },
              { name: "other", match: exact(OTHER_SERVICE), backends: [{ cluster: cb.name }] },
              {
                name: "greeter-regex",
                match: {
                  method: { type: "RegularExpression", service: "hello.*\\.Greeter", method: "Say.*" },
                  headers: [],
                },
                backends: [{ cluster: ca.name }],
              },
            ],
          },
        ],
        [ca, cb],
      ),
    );
  });
  after(async () => {
    await relay.dp.close(0);
    await a.close();
    await b.close();
  });

  const cases: {
    name: string;
    client: "tester" | "other" | "greeter";
    metadata?: Record<string, string>;
    backend?: string;
    code?: number;
    details?: RegExp;
  }[] = [
    { name: "exact service goes to a", client: "tester", backend: "a" },
    {
      name: "a header regex match wins over the plain service match",
      client: "tester",
      metadata: { "x-version": "two" },
      backend: "b",
    },
    {
      name: "a header value that does not match falls through",
      client: "tester",
      metadata: { "x-version": "three" },
      backend: "a",
    },
    { name: "another service goes to b", client: "other", backend: "b" },
    { name: "a regex service and method match", client: "greeter", backend: "a" },
    {
      name: "a direct HTTP 404 answer reads as UNIMPLEMENTED",
      client: "other",
      metadata: { "x-direct": "404" },
      code: 12,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const target = relay.target();
      const client =
        c.client === "tester"
          ? testerClient(target)
          : c.client === "other"
            ? otherClient(target)
            : greeterClient(target);
      const r =
        c.client === "greeter"
          ? await sayHello(client, "x", c.metadata ? { metadata: c.metadata } : undefined)
          : await unary(client, "Unary", {}, c.metadata ? { metadata: c.metadata } : undefined);
      closeAll(client);
      if (c.backend !== undefined) {
        assert.equal(r.code, 0, r.details);
        assert.equal(r.headers["x-backend"], c.backend);
      } else {
        assert.equal(r.code, c.code);
      }
    });
  }

  it("no route answers UNIMPLEMENTED with a message, as trailers-only", async () => {
    // A generic client call on a path no route knows.
    const client = greeterClient(relay.target());
    const r = await new Promise<{ code: number; details: string }>((resolve) => {
      client.makeUnaryRequest(
        "/unknown.Service/Method",
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.alloc(0),
        (err: grpc.ServiceError | null) => resolve({ code: err?.code ?? 0, details: err?.details ?? "" }),
      );
    });
    closeAll(client);
    assert.equal(r.code, 12);
    assert.equal(r.details, "no route for this call");
    const info = relay.calls.at(-1)!;
    assert.equal(info.grpcStatus, 12);
    assert.equal(info.route, undefined);
    assert.equal(info.gatewayError, "no route for this call");
  });
});

describe("relay balancing: weights and invalid backends", { timeout: 120_000 }, () => {
  const backends: Backend[] = [];
  let relay: Relay;
  before(async () => {
    for (const n of ["w70", "w30", "w0", "v"]) backends.push(await startBackend({ name: n }));
    const cs = backends.map((x) => cluster(x.name, [x.address]));
    relay = await startRelay(
      table(
        [
          {
            routes: [
              {
                name: "weights",
                match: exact(TESTER_SERVICE),
                backends: [
                  { cluster: cs[0]!.name, weight: 70 },
                  { cluster: cs[1]!.name, weight: 30 },
                  { cluster: cs[2]!.name, weight: 0 },
                ],
              },
              {
                name: "half-invalid",
                match: exact(OTHER_SERVICE),
                backends: [
                  { cluster: cs[3]!.name },
                  { invalid: { message: "backend default/missing not found" } },
                ],
              },
            ],
          },
        ],
        cs,
      ),
    );
  });
  after(async () => {
    await relay.dp.close(0);
    for (const x of backends) await x.close();
  });

  it("splits by weight (70/30 within 7 points over 400 calls), weight 0 gets nothing", async () => {
    const client = testerClient(relay.target());
    const counts: Record<string, number> = {};
    const n = 400;
    const results = await Promise.all(Array.from({ length: n }, () => unary(client, "Unary", {})));
    closeAll(client);
    for (const r of results) {
      assert.equal(r.code, 0, r.details);
      const k = r.headers["x-backend"] ?? "?";
      counts[k] = (counts[k] ?? 0) + 1;
    }
    assert.equal(counts.w0, undefined);
    assert.ok(Math.abs((counts.w70 ?? 0) / n - 0.7) < 0.07, JSON.stringify(counts));
    assert.ok(Math.abs((counts.w30 ?? 0) / n - 0.3) < 0.07, JSON.stringify(counts));
  });

  it("an invalid backend's share gets UNAVAILABLE with the reason", async () => {
    const client = otherClient(relay.target());
    const results = await Promise.all(Array.from({ length: 200 }, () => unary(client, "Unary", {})));
    closeAll(client);
    const bad = results.filter((r) => r.code === 14);
    const good = results.filter((r) => r.code === 0);
    assert.equal(bad.length + good.length, 200);
    assert.ok(bad.length > 60 && bad.length < 140, `${bad.length} of 200 failed`);
    assert.equal(bad[0]?.details, "backend default/missing not found");
  });

  it("round-robins across the endpoints of a cluster", async () => {
    const c = cluster("two", [backends[0]!.address, backends[1]!.address]);
    const r2 = await startRelay(testerTable(c, "rr"));
    const client = testerClient(r2.target());
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push((await unary(client, "Unary", {})).headers["x-backend"] ?? "?");
    closeAll(client);
    await r2.dp.close(0);
    assert.equal(seen.filter((x) => x === "w70").length, 3, seen.join());
    assert.equal(seen.filter((x) => x === "w30").length, 3, seen.join());
  });
});

describe("relay filters: header modifiers and mirrors", { timeout: 120_000 }, () => {
  let main: Backend;
  let mirror: Backend;
  let relay: Relay;
  before(async () => {
    main = await startBackend({ name: "main", headers: { "x-drop": "1", "x-keep": "1" } });
    mirror = await startBackend({ name: "mirror" });
    const cm = cluster("main", [main.address]);
    const cmi = cluster("mirror", [mirror.address]);
    const down = cluster("down", ["127.0.0.1:1"]);
    relay = await startRelay(
      table(
        [
          {
            routes: [
              {
                name: "filters",
                match: exact(TESTER_SERVICE),
                requestHeaders: {
                  set: [{ name: "x-set", value: "rule" }],
                  add: [{ name: "x-add", value: "added" }],
                  remove: ["x-remove"],
                },
                responseHeaders: { set: [{ name: "x-resp", value: "yes" }], add: [], remove: ["x-drop"] },
                backends: [
                  {
                    cluster: cm.name,
                    requestHeaders: {
                      set: [{ name: "x-backend-filter", value: "main" }],
                      add: [],
                      remove: [],
                    },
                  },
                ],
                mirrors: [{ cluster: cmi.name, numerator: 100, denominator: 100 }],
              },
              {
                name: "mirror-down",
                match: exact(OTHER_SERVICE),
                backends: [{ cluster: cm.name }],
                mirrors: [{ cluster: down.name, numerator: 1, denominator: 1 }],
              },
            ],
          },
        ],
        [cm, cmi, down],
      ),
    );
  });
  after(async () => {
    await relay.dp.close(0);
    await main.close();
    await mirror.close();
  });

  it("request headers: set replaces, add appends, remove drops; backendRef filters apply", async () => {
    const client = testerClient(relay.target());
    const r = await unary(
      client,
      "Unary",
      {},
      {
        metadata: { "x-set": "client", "x-add": "client", "x-remove": "bye", "x-other": "kept" },
      },
    );
    closeAll(client);
    assert.equal(r.code, 0, r.details);
    const md = r.reply!.metadata;
    assert.equal(md["x-set"], "rule");
    assert.equal(md["x-add"], "client, added");
    assert.equal(md["x-remove"], undefined);
    assert.equal(md["x-other"], "kept");
    assert.equal(md["x-backend-filter"], "main");
    assert.equal(md.te, undefined, "grpc-js does not expose te, but it must not break the call");
    assert.equal(r.headers["x-resp"], "yes");
    assert.equal(r.headers["x-drop"], undefined);
    assert.equal(r.headers["x-keep"], "1");
  });

  it("mirrors a copy of the call (request body included) to the mirror backend", async () => {
    const before = mirror.calls.length;
    const client = testerClient(relay.target());
    const seen = onceWithin(mirror, "call", "the mirror backend to see the copy");
    const r = await unary(client, "Unary", { payload: Buffer.alloc(3000, 1) });
    closeAll(client);
    assert.equal(r.code, 0, r.details);
    assert.equal(r.reply?.backend, "main");
    await seen;
    assert.equal(mirror.calls.length, before + 1);
    assert.equal(mirror.calls[before]?.path, `/${TESTER_SERVICE}/Unary`);
    assert.equal(mirror.calls[before]?.bytes, 3000);
  });

  it("a mirror that cannot connect never fails or delays the call", async () => {
    const client = otherClient(relay.target());
    const r = await unary(client, "Unary", {});
    closeAll(client);
    assert.equal(r.code, 0, r.details);
    assert.equal(r.reply?.backend, "main");
  });
});

describe("relay listeners: authority choice and TLS", { timeout: 120_000 }, () => {
  const bs: Record<string, Backend> = {};
  let relay: Relay;
  let certA: { certPem: string; keyPem: string };
  let certB: { certPem: string; keyPem: string };
  let upCa = "";
  before(async () => {
    for (const n of ["exact", "wild", "any", "tlsA", "tlsB"]) bs[n] = await startBackend({ name: n });
    certA = await generateCertificate(["a.example.com"]);
    certB = await generateCertificate(["b.example.com"]);
    const upCert = await generateCertificate(["backend.internal"]);
    bs.tlsUp = await startBackend({ name: "tlsUp", tls: upCert });
    const c = (n: string, tls = false) => cluster(n, [bs[n]!.address], tls);
    // The TLS backend's certificate names backend.internal: the cluster's serverName, checked with the CA.
    const cs = [
      c("exact"),
      c("wild"),
      c("any"),
      c("tlsA"),
      c("tlsB"),
      { ...c("tlsUp", true), serverName: "backend.internal" },
    ];
    const fwd = (n: string) => [
      { name: n, match: exact(TESTER_SERVICE), backends: [{ cluster: `service/default/${n}/port/50051` }] },
    ];
    upCa = upCert.certPem;
    relay = await startRelay(
      table(
        [
          { name: "any", routes: fwd("any") },
          { name: "wild", hostname: "*.example.com", routes: fwd("wild") },
          { name: "exact", hostname: "a.example.com", routes: fwd("exact") },
          { name: "tls-a", port: 8443, hostname: "a.example.com", tls: certA, routes: fwd("tlsA") },
          { name: "tls-b", port: 8443, hostname: "b.example.com", tls: certB, routes: fwd("tlsB") },
          { name: "tls-up", port: 9000, routes: fwd("tlsUp") },
        ],
        cs,
      ),
      {},
      { ca: upCa },
    );
  });
  after(async () => {
    await relay.dp.close(0);
    for (const b of Object.values(bs)) await b.close();
  });

  const authorities = [
    { authority: "a.example.com:8080", backend: "exact" },
    { authority: "x.a.example.com", backend: "wild" },
    { authority: "B.Example.Com", backend: "wild" },
    { authority: "example.com", backend: "any" },
    { authority: "10.0.0.1:80", backend: "any" },
  ];
  for (const c of authorities) {
    it(`:authority ${c.authority} picks the ${c.backend} listener`, async () => {
      const client = testerClient(relay.target(), { authority: c.authority });
      const r = await unary(client, "Unary", {});
      closeAll(client);
      assert.equal(r.code, 0, r.details);
      assert.equal(r.reply?.backend, c.backend);
      assert.equal(r.reply?.authority, c.authority);
    });
  }

  for (const c of [
    { sni: "a.example.com", backend: "tlsA" },
    { sni: "b.example.com", backend: "tlsB" },
  ]) {
    it(`TLS: SNI ${c.sni} gets its listener's certificate and routes`, async () => {
      const cert = c.backend === "tlsA" ? certA : certB;
      const client = testerClient(relay.target(8443), {
        tls: { rootCert: cert.certPem, servername: c.sni },
        authority: c.sni,
      });
      const r = await unary(client, "Unary", {});
      closeAll(client);
      assert.equal(r.code, 0, r.details);
      assert.equal(r.reply?.backend, c.backend);
    });
  }

  it("TLS upstream: the relay speaks h2 over TLS to a TLS backend", async () => {
    const client = testerClient(relay.target(9000));
    const r = await unary(client, "Unary", { payload: Buffer.alloc(100) });
    closeAll(client);
    assert.equal(r.code, 0, r.details);
    assert.equal(r.reply?.backend, "tlsUp");
  });
});

describe("relay operations: reload and drain", { timeout: 120_000 }, () => {
  it("reloads while calls run: zero failed calls, calls in flight keep their configuration", async () => {
    const one = await startBackend({ name: "one" });
    const two = await startBackend({ name: "two" });
    const c1 = cluster("one", [one.address]);
    const c2 = cluster("two", [two.address]);
    const t = (c: typeof c1, v: number) =>
      table(
        [{ routes: [{ name: "r", match: exact(TESTER_SERVICE), backends: [{ cluster: c.name }] }] }],
        [c1, c2],
        v,
      );
    const relay = await startRelay(t(c1, 1));
    const client = testerClient(relay.target());
    const long = serverStream(client, { responseCount: 5, responseSize: 10, intervalMs: 30 });
    const longDone = collect(long);
    await onceWithin(long, "data", "the first reply of the long call");
    const calls: Promise<{ code: number }>[] = [];
    for (let v = 2; v < 40; v++) {
      await relay.dp.apply(t(v % 2 === 0 ? c2 : c1, v));
      calls.push(unary(client, "Unary", {}));
    }
    const results = await Promise.all(calls);
    assert.deepEqual(
      results.filter((r) => r.code !== 0),
      [],
    );
    const l = await longDone;
    assert.equal(l.code, 0, l.details);
    assert.ok(l.replies.every((x) => x.backend === "one"));
    await relay.dp.apply(t(c2, 100));
    assert.equal((await unary(client, "Unary", {})).reply?.backend, "two");
    closeAll(client);
    await relay.dp.close(0);
    await one.close();
    await two.close();
  });

  it("close(grace) lets calls in flight finish, then stops", async () => {
    const be = await startBackend({ name: "slow" });
    const c = cluster("slow", [be.address]);
    const relay = await startRelay(testerTable(c));
    const client = testerClient(relay.target());
    const seen = onceWithin(be, "call", "the backend to see the call");
    const pending = unary(client, "Unary", { delayMs: 200 });
    await seen;
    const closed = relay.dp.close(5000);
    const r = await pending;
    await closed;
    assert.equal(r.code, 0, r.details);
    assert.equal(relay.dp.stats().activeCalls, 0);
    const again = await unary(client, "Unary", {}, { timeoutMs: 500 });
    assert.notEqual(again.code, 0);
    closeAll(client);
    await be.close();
  });
});
