import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  decodeText,
  frame,
  helloMessage,
  helloRequest,
  http1Request,
  pb,
  unpb,
  webFetch,
  webH2,
  webHttp1,
} from "../helpers/grpc-web.js";
import {
  type Backend,
  backend,
  cluster,
  forward,
  greeterClient,
  listener,
  route,
  sayHello,
  startBackend,
  startGateway,
  type TestGateway,
  table,
} from "../helpers/index.js";
import { makeCa, makeLeaf, type Pem } from "../helpers/tls.js";

const HELLO = "/helloworld.Greeter/SayHello";
const STREAM = "/grpcroute.test.Tester/ServerStream";
const CORS = {
  allowOrigins: ["https://app.example.com", "https://*.example.org"],
  allowMethods: ["POST"],
  allowHeaders: ["content-type", "x-grpc-web", "x-user-agent"],
  exposeHeaders: ["x-backend"],
  maxAgeSeconds: 600,
  allowCredentials: false,
  source: "TrafficPolicy default/web",
};

type Transport = "fetch" | "http1" | "h2";
const call = (t: Transport, target: string, path: string, msg: Buffer, text: boolean, pieces?: Buffer[]) =>
  t === "fetch"
    ? webFetch(target, path, msg, { text })
    : t === "http1"
      ? webHttp1(target, path, msg, pieces === undefined ? { text } : { text, pieces })
      : webH2(target, path, msg, pieces === undefined ? { text } : { text, pieces });

describe("gRPC-Web: HTTP/1.1 and HTTP/2, binary and text", { timeout: 120_000 }, () => {
  let a: Backend;
  let failing: Backend;
  let gw: TestGateway;
  let ca: Pem;

  before(async () => {
    a = await startBackend({ name: "a", trailers: { "x-trailer": "kept" } });
    failing = await startBackend({
      name: "f",
      error: { code: 5, message: "no such greeting" },
      trailersOnly: true,
    });
    ca = await makeCa();
    const leaf = await makeLeaf(ca, { dns: ["localhost"] });
    const ca1 = cluster("a", [a.port]);
    const cf = cluster("f", [failing.port]);
    const withCors = route(
      "cors",
      { method: { type: "Exact", service: "helloworld.Greeter" } },
      forward([backend(ca1)]),
    );
    withCors.policy = { cors: CORS };
    const tlsListener = listener("https", 443, [route("all", {}, forward([backend(ca1)]))], {
      protocol: "HTTPS",
      tls: { certificates: [{ ...leaf, source: "test" }] },
    });
    const off = listener("off", 81, [route("all", {}, forward([backend(ca1)]))], { gateway: "off" });
    off.grpcWebDisabled = true;
    gw = await startGateway(
      table(
        [
          listener("http", 80, [
            route(
              "failing",
              { method: { type: "Exact", service: "grpcroute.test.Other" } },
              forward([backend(cf)]),
            ),
            withCors,
            route(
              "all",
              { method: { type: "Exact", service: "grpcroute.test.Tester" } },
              forward([backend(ca1)]),
            ),
          ]),
          off,
          tlsListener,
        ],
        [ca1, cf],
      ),
    );
  });
  after(async () => {
    await gw.close();
    await a.close();
    await failing.close();
  });

  for (const t of ["fetch", "http1", "h2"] as const) {
    for (const text of [false, true]) {
      it(`unary over ${t}, ${text ? "text" : "binary"} mode`, async () => {
        const reported = gw.nextCall((c) => c.path === HELLO && c.protocol === "grpc-web");
        const r = await call(t, gw.target(80), HELLO, helloRequest(`web-${t}`), text);
        assert.equal(r.status, 200);
        assert.equal(
          r.headers["content-type"],
          text ? "application/grpc-web-text+proto" : "application/grpc-web+proto",
        );
        assert.equal(r.body.messages.length, 1);
        assert.equal(helloMessage(r.body.messages[0]), `Hello web-${t} from a`);
        assert.equal(r.body.trailerFrames, 1);
        assert.equal(r.body.trailers["grpc-status"], "0");
        assert.equal(r.body.trailers["x-trailer"], "kept");
        assert.equal(r.headers["x-backend"], "a");
        const info = await reported;
        assert.equal(info.grpcStatus, 0);
        assert.equal(info.protocol, "grpc-web");
      });
    }
  }

  it("plain gRPC on the same port is still gRPC (and reported without protocol grpc-web)", async () => {
    const reported = gw.nextCall((c) => c.path === HELLO);
    const g = greeterClient(gw.target(80));
    const r = await sayHello(g, "plain");
    g.close();
    assert.equal(r.reply?.message, "Hello plain from a");
    assert.equal((await reported).protocol, undefined);
  });

  for (const t of ["fetch", "h2"] as const) {
    it(`a trailers-only error keeps its status in the headers (${t})`, async () => {
      const r = await call(t, gw.target(80), "/grpcroute.test.Other/Unary", frame(pb([])), false);
      assert.equal(r.status, 200);
      assert.equal(r.headers["grpc-status"], "5");
      assert.equal(decodeURIComponent(r.headers["grpc-message"] ?? ""), "no such greeting");
      assert.equal(r.raw.length, 0);
      // A gateway-made answer (no route) too.
      const none = await call(t, gw.target(80), "/nowhere.Svc/M", frame(pb([])), true);
      assert.equal(none.headers["grpc-status"], "12");
      assert.equal(none.raw.length, 0);
    });
  }

  for (const t of ["http1", "h2"] as const) {
    it(`server streaming, text mode, request split mid-quantum (${t})`, async () => {
      const msg = frame(
        pb([
          [2, 10],
          [3, 5],
        ]),
      );
      const b64 = Buffer.from(msg.toString("base64"));
      // Cut inside quanta: 1, 5 and 6 characters in.
      const pieces = [b64.subarray(0, 1), b64.subarray(1, 6), b64.subarray(6, 7), b64.subarray(7)];
      const r = await call(t, gw.target(80), STREAM, msg, true, pieces);
      assert.equal(r.status, 200);
      assert.equal(r.body.messages.length, 5);
      assert.deepEqual(
        r.body.messages.map((m) => unpb(m).get(5)?.[0] ?? 0),
        [0, 1, 2, 3, 4],
      );
      assert.equal(r.body.trailers["grpc-status"], "0");
      // Each message was base64-encoded as it came (padded pieces), and still decodes.
      assert.ok(decodeText(r.raw.toString("latin1")).length > 5 * 5);
    });
  }

  it("a text body that is not base64 in whole quanta is refused", async () => {
    const r = await webH2(gw.target(80), HELLO, Buffer.alloc(0), {
      text: true,
      pieces: [Buffer.from("AAAAB")],
    });
    assert.equal(r.headers["grpc-status"], "13");
    assert.match(r.headers["grpc-message"] ?? "", /base64/);
  });

  it("plain gRPC over HTTP/1.1 gets 505, other HTTP/1.1 requests 415, with a message", async () => {
    const g = await http1Request(gw.target(80), {
      path: HELLO,
      headers: { "content-type": "application/grpc" },
      pieces: [helloRequest("x")],
    });
    assert.equal(g.status, 505);
    assert.match(g.raw.toString(), /gRPC needs HTTP\/2/);
    const other = await http1Request(gw.target(80), { method: "GET", path: "/" });
    assert.equal(other.status, 415);
    assert.match(other.raw.toString(), /gRPC-Web/);
  });

  for (const t of ["http1", "h2"] as const) {
    it(`CORS: preflight answered by the gateway, actual response headers (${t})`, async () => {
      const origin = "https://app.example.com";
      const ask = {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-grpc-web",
      };
      const pre =
        t === "http1"
          ? await http1Request(gw.target(80), { method: "OPTIONS", path: HELLO, headers: ask })
          : await (await import("../helpers/grpc-web.js")).h2Request(
              gw.target(80),
              { ":method": "OPTIONS", ":path": HELLO, ...ask },
              [],
            );
      assert.equal(pre.status, 204);
      assert.equal(pre.headers["access-control-allow-origin"], origin);
      assert.equal(pre.headers["access-control-allow-methods"], "POST");
      assert.equal(pre.headers["access-control-allow-headers"], "content-type, x-grpc-web, x-user-agent");
      assert.equal(pre.headers["access-control-max-age"], "600");
      const r = await call(t, gw.target(80), HELLO, helloRequest("cors"), false);
      assert.equal(r.headers["access-control-allow-origin"], undefined, "no Origin, no CORS headers");
      const withOrigin =
        t === "http1"
          ? await webHttp1(gw.target(80), HELLO, helloRequest("cors"), {
              headers: { origin: "https://x.example.org" },
            })
          : await webH2(gw.target(80), HELLO, helloRequest("cors"), {
              headers: { origin: "https://x.example.org" },
            });
      assert.equal(withOrigin.headers["access-control-allow-origin"], "https://x.example.org");
      assert.equal(
        withOrigin.headers["access-control-expose-headers"],
        "grpc-status, grpc-message, grpc-status-details-bin, x-backend",
      );
      // An origin the policy does not list, and a route without CORS.
      const bad = await http1Request(gw.target(80), {
        method: "OPTIONS",
        path: HELLO,
        headers: { ...ask, origin: "https://evil.example.net" },
      });
      assert.equal(bad.status, 403);
      assert.equal(bad.headers["access-control-allow-origin"], undefined);
      const none = await http1Request(gw.target(80), { method: "OPTIONS", path: STREAM, headers: ask });
      assert.equal(none.status, 403);
      assert.match(none.raw.toString(), /CORS is not enabled/);
    });
  }

  it("a Gateway annotated grpcroute.dev/grpc-web: disabled answers gRPC-Web with 415", async () => {
    for (const t of ["fetch", "h2"] as const) {
      const r = await call(t, gw.target(81), HELLO, helloRequest("off"), false);
      assert.equal(r.status, 415, t);
      assert.match(r.raw.toString(), /gRPC-Web is disabled/);
    }
    const g = greeterClient(gw.target(81));
    const plain = await sayHello(g, "still");
    g.close();
    assert.equal(plain.reply?.message, "Hello still from a");
  });

  it("TLS: ALPN http/1.1 and h2 on one HTTPS listener", async () => {
    const one = await webHttp1(gw.target(443), HELLO, helloRequest("tls1"), { ca: ca.certPem });
    assert.equal(one.alpn, "http/1.1");
    assert.equal(helloMessage(one.body.messages[0]), "Hello tls1 from a");
    const two = await webH2(gw.target(443), HELLO, helloRequest("tls2"), { ca: ca.certPem, text: true });
    assert.equal(two.alpn, "h2");
    assert.equal(helloMessage(two.body.messages[0]), "Hello tls2 from a");
  });
});
