import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LocalEvent } from "../../src/dataplane/types.js";
import {
  type Backend,
  backend,
  cluster,
  forward,
  listener,
  route,
  startBackend,
  startGateway,
  type TestGateway,
  table,
  within,
} from "../helpers/index.js";
import { describe as describeSymbol, listServices, reflect } from "../helpers/reflection-client.js";

const REFLECTION_PATH = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

/**
 * The gateway answers reflection per listener and host: grpcurl `list` / `describe` through a real
 * reflection client, with backends serving `@grpc/reflection`.
 */
describe("reflection answered by the gateway", { timeout: 60_000 }, () => {
  let greeter: Backend; // helloworld.Greeter, with reflection
  let tester: Backend; // Tester, Other and Greeter, with reflection
  let plain: Backend; // Tester, without reflection
  let gw: TestGateway;
  const events: LocalEvent[] = [];

  before(async () => {
    greeter = await startBackend({ name: "greeter", services: ["Greeter"], reflection: true });
    tester = await startBackend({
      name: "tester",
      services: ["Tester", "Other", "Greeter"],
      reflection: true,
    });
    plain = await startBackend({ name: "plain", services: ["Tester"] });
    const cg = cluster("greeter", [greeter.port]);
    const ct = cluster("tester", [tester.port]);
    const cp = cluster("plain", [plain.port]);
    const t = table(
      [
        // Two backends behind one listener: an exact service, and a pattern that accepts only Tester.
        listener(
          "a",
          8080,
          [
            route(
              "greet",
              { method: { type: "Exact", service: "helloworld.Greeter" } },
              forward([backend(cg)]),
            ),
            route(
              "tests",
              { method: { type: "RegularExpression", service: "grpcroute\\.test\\.T.*" } },
              forward([backend(ct)]),
            ),
          ],
          { hostname: "a.example.com" },
        ),
        // A catch-all route to a backend without reflection, after an exact one.
        listener(
          "b",
          8080,
          [
            route(
              "greet-b",
              { method: { type: "Exact", service: "helloworld.Greeter" } },
              forward([backend(cg)]),
            ),
            route("all-b", {}, forward([backend(cp)])),
          ],
          { hostname: "b.example.com" },
        ),
        // A route that takes the reflection service itself: calls to it are relayed to the backend.
        listener(
          "c",
          8080,
          [
            route(
              "refl",
              { method: { type: "Exact", service: "grpc.reflection.v1.ServerReflection" } },
              forward([backend(ct)]),
            ),
          ],
          { hostname: "c.example.com" },
        ),
      ],
      [cg, ct, cp],
    );
    gw = await startGateway(t, { onLocalEvent: (e) => events.push(e) });
  });

  after(async () => {
    await gw?.close();
    await Promise.all([greeter?.close(), tester?.close(), plain?.close()]);
  });

  const reflectionCalls = (b: Backend): number => b.reflectionCalls();

  it("lists the services of both backends that the listener routes, and only those", async () => {
    const list = await within(
      listServices(gw.target(8080), "a.example.com"),
      "grpcurl list on a.example.com",
    );
    assert.deepEqual(list, ["grpcroute.test.Tester", "helloworld.Greeter"]);
  });

  it("answers v1alpha the same way", async () => {
    const list = await within(
      listServices(gw.target(8080), "a.example.com", "v1alpha"),
      "grpcurl list over v1alpha",
    );
    assert.deepEqual(list, ["grpcroute.test.Tester", "helloworld.Greeter"]);
  });

  const cases: { symbol: string; from?: () => Backend; defines?: string; notFound?: boolean }[] = [
    { symbol: "helloworld.Greeter", from: () => greeter, defines: "helloworld.Greeter.SayHello" },
    { symbol: "helloworld.Greeter.SayHello", from: () => greeter, defines: "helloworld.HelloRequest" },
    { symbol: "grpcroute.test.Tester", from: () => tester, defines: "grpcroute.test.Tester.Bidi" },
    { symbol: "grpcroute.test.Request", defines: "grpcroute.test.Request" },
    // Other is served by the tester backend, but no route of the listener reaches it.
    { symbol: "grpcroute.test.Other", notFound: true },
    { symbol: "no.such.Symbol", notFound: true },
  ];
  for (const c of cases) {
    it(`describe ${c.symbol}`, async () => {
      const before = c.from === undefined ? 0 : reflectionCalls(c.from());
      const other = c.from === undefined ? undefined : c.from() === greeter ? tester : greeter;
      const otherBefore = other === undefined ? 0 : reflectionCalls(other);
      const r = await within(
        describeSymbol(gw.target(8080), c.symbol, "a.example.com"),
        `describe ${c.symbol}`,
      );
      if (c.notFound === true) {
        assert.ok("error" in r, `describe ${c.symbol} should be NOT_FOUND, got ${JSON.stringify(r)}`);
        assert.equal(r.error.errorCode, 5);
        return;
      }
      assert.ok(!("error" in r), `describe ${c.symbol}: ${JSON.stringify(r)}`);
      assert.ok(r.symbols.includes(c.defines!), `${c.symbol}: files define ${r.symbols.join(", ")}`);
      if (c.from !== undefined) {
        // Asked of the backend a call to the service goes to, never of the other one.
        assert.equal(reflectionCalls(c.from()) - before, 1, `${c.symbol} is asked of its backend`);
        assert.equal(
          reflectionCalls(other!) - otherBefore,
          0,
          `${c.symbol} must not be asked of the other backend`,
        );
      }
    });
  }

  it("answers several requests on one stream, in order", async () => {
    const rs = await within(
      reflect(
        gw.target(8080),
        [
          { listServices: "" },
          { fileContainingSymbol: "helloworld.Greeter" },
          { fileByFilename: "helloworld.proto" },
        ],
        {
          authority: "a.example.com",
        },
      ),
      "three reflection answers",
    );
    assert.equal(rs.length, 3);
    assert.ok(rs[0]!.listServicesResponse !== undefined);
    assert.ok(rs[1]!.fileDescriptorResponse !== undefined);
    assert.ok(rs[2]!.fileDescriptorResponse !== undefined, JSON.stringify(rs[2]));
  });

  it("leaves a backend without reflection out, and says so", async () => {
    const list = await within(
      listServices(gw.target(8080), "b.example.com"),
      "grpcurl list on b.example.com",
    );
    assert.deepEqual(list, ["helloworld.Greeter"]);
    const said = events.find(
      (e) => e.kind === "no-reflection" && e.backend === "service/default/plain/port/80",
    );
    assert.ok(said !== undefined, `an event names the backend without reflection: ${JSON.stringify(events)}`);
    assert.match(said.reason, /no reflection service/);
  });

  it("relays reflection when a route of the listener takes the reflection service", async () => {
    const before = reflectionCalls(tester);
    const seen = gw.nextCall((i) => i.path === REFLECTION_PATH && i.authority === "c.example.com");
    const list = await within(
      listServices(gw.target(8080), "c.example.com"),
      "grpcurl list on c.example.com",
    );
    // The tester backend's own answer: everything it serves, Other included.
    assert.ok(list.includes("grpcroute.test.Other"), list.join(", "));
    assert.equal(reflectionCalls(tester) - before, 1);
    const info = await seen;
    assert.equal(info.backend, "service/default/tester/port/80");
  });

  it("reports the calls it answers", async () => {
    const seen = gw.nextCall((i) => i.path === REFLECTION_PATH && i.authority === "a.example.com");
    await listServices(gw.target(8080), "a.example.com");
    const info = await seen;
    assert.equal(info.grpcStatus, 0);
    assert.equal(info.backend, undefined);
    assert.match(info.gatewayError ?? "", /reflection/);
  });
});
