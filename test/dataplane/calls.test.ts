import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  type Backend,
  backend,
  bidi,
  clientStream,
  closeAll,
  cluster,
  collect,
  forward,
  greeterClient,
  type grpc,
  listener,
  route,
  sayHello,
  serverStream,
  startBackend,
  startGateway,
  type TestGateway,
  table,
  testerClient,
  unary,
} from "../helpers/index.js";

describe("data plane: the four call kinds", { timeout: 120_000 }, () => {
  let a: Backend;
  let gw: TestGateway;
  const clients: grpc.Client[] = [];

  before(async () => {
    a = await startBackend({ name: "a", trailers: { "x-trailer": "kept" } });
    const ca = cluster("a", [a.port]);
    gw = await startGateway(table([listener("http", 80, [route("all", {}, forward([backend(ca)]))])], [ca]));
  });
  after(async () => {
    closeAll(...clients);
    await gw.close();
    await a.close();
  });

  it("unary, with metadata and trailers forwarded", async () => {
    const c = testerClient(gw.target(80), { authority: "svc.example.com" });
    clients.push(c);
    const r = await unary(
      c,
      "Unary",
      { responseSize: 100, payload: Buffer.alloc(50) },
      { metadata: { "x-req": "v" } },
    );
    assert.equal(r.code, 0, r.details);
    assert.equal(r.reply?.backend, "a");
    assert.equal(r.reply?.payload.length, 100);
    assert.equal(r.reply?.metadata["x-req"], "v");
    assert.equal(r.reply?.authority, "svc.example.com");
    assert.equal(r.headers["x-backend"], "a");
    assert.equal(r.trailers["x-trailer"], "kept");
    const g = greeterClient(gw.target(80));
    clients.push(g);
    const h = await sayHello(g, "world");
    assert.equal(h.reply?.message, "Hello world from a");
  });

  it("client streaming", async () => {
    const c = testerClient(gw.target(80));
    clients.push(c);
    const reqs = Array.from({ length: 20 }, () => ({ payload: Buffer.alloc(1000) }));
    const r = await clientStream(c, reqs);
    assert.equal(r.code, 0, r.details);
    assert.equal(r.reply?.receivedMessages, 20);
    assert.equal(r.reply?.receivedBytes, 20_000);
  });

  it("server streaming", async () => {
    const c = testerClient(gw.target(80));
    clients.push(c);
    const r = await collect(serverStream(c, { responseCount: 50, responseSize: 2000 }));
    assert.equal(r.code, 0, r.details);
    assert.equal(r.replies.length, 50);
    assert.deepEqual(
      r.replies.map((x) => x.index),
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  it("bidi", async () => {
    const c = testerClient(gw.target(80));
    clients.push(c);
    const call = bidi(c);
    const done = collect(call);
    for (let i = 0; i < 10; i++) call.write({ responseSize: i });
    call.end();
    const r = await done;
    assert.equal(r.code, 0, r.details);
    assert.equal(r.replies.length, 10);
    assert.equal(r.trailers["x-trailer"], "kept");
  });

  it("errors from the backend pass through with their status and trailers", async () => {
    const c = testerClient(gw.target(80));
    clients.push(c);
    const r = await unary(c, "Unary", { failCode: 9, failMessage: "precondition: ünïcode 100%" });
    assert.equal(r.code, 9);
    assert.equal(r.details, "precondition: ünïcode 100%");
    assert.equal(r.trailers["x-backend"], "a");
  });

  it("reports each call", async () => {
    const c = testerClient(gw.target(80), { authority: "report.example.com:80" });
    clients.push(c);
    const next = gw.nextCall((i) => i.authority === "report.example.com:80");
    await unary(c, "Unary", {});
    const info = await next;
    assert.equal(info?.route, "grpcroute/default/all/rule/0/match/0");
    assert.equal(info?.backend, "service/default/a/port/80");
    assert.equal(info?.endpoint, a.address);
    assert.equal(info?.grpcStatus, 0);
    assert.equal(info?.authority, "report.example.com:80");
    assert.equal(info?.path, "/grpcroute.test.Tester/Unary");
    assert.equal(info?.gateway, "default/gw");
  });
});
