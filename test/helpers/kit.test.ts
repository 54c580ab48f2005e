import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { generateCertificate } from "../../src/util/self-signed.js";
import {
  type Backend,
  bidi,
  clientStream,
  closeAll,
  collect,
  greeterClient,
  type grpc,
  sayHello,
  serverStream,
  startBackend,
  testerClient,
  unary,
} from "./index.js";

describe("test kit: backends and clients", { timeout: 120_000 }, () => {
  let plain: Backend;
  let secure: Backend;
  let rootCert: string;
  const clients: grpc.Client[] = [];

  before(async () => {
    const cert = await generateCertificate(["backend.test"]);
    rootCert = cert.certPem;
    plain = await startBackend({ name: "plain", trailers: { "x-extra": "t" } });
    secure = await startBackend({ name: "secure", tls: cert });
  });
  after(async () => {
    closeAll(...clients);
    await Promise.all([plain.close(), secure.close()]);
  });

  it("answers all four call kinds and says which backend served", async () => {
    const c = testerClient(plain.address, { authority: "svc.example.com" });
    clients.push(c);
    const u = await unary(c, "Unary", { responseSize: 10 }, { metadata: { "x-a": ["1", "2"] } });
    assert.equal(u.code, 0);
    assert.equal(u.reply?.backend, "plain");
    assert.equal(u.reply?.payload.length, 10);
    assert.equal(u.headers["x-backend"], "plain");
    assert.equal(u.trailers["x-extra"], "t");
    assert.equal(u.reply?.metadata["x-a"], "1, 2");
    assert.equal(plain.calls.at(-1)?.authority, "svc.example.com");
    assert.equal(plain.calls.at(-1)?.path, "/grpcroute.test.Tester/Unary");

    const cs = await clientStream(c, [{ payload: Buffer.alloc(5) }, { payload: Buffer.alloc(7) }]);
    assert.equal(cs.reply?.receivedBytes, 12);
    assert.equal(cs.reply?.receivedMessages, 2);

    const ss = await collect(serverStream(c, { responseCount: 3, responseSize: 4 }));
    assert.equal(ss.code, 0);
    assert.deepEqual(
      ss.replies.map((r) => r.index),
      [0, 1, 2],
    );

    const b = bidi(c);
    const done = collect(b);
    b.write({ responseSize: 1 });
    b.write({ responseSize: 2 });
    b.end();
    const br = await done;
    assert.equal(br.code, 0);
    assert.equal(br.replies.length, 2);
  });

  it("fails on request and speaks TLS", async () => {
    const c = testerClient(plain.address);
    const t = greeterClient(`127.0.0.1:${secure.port}`, { tls: { rootCert, servername: "backend.test" } });
    clients.push(c, t);
    const f = await unary(c, "Unary", { failCode: 5, failMessage: "nope" });
    assert.equal(f.code, 5);
    assert.equal(f.details, "nope");
    assert.equal(f.trailers["x-backend"], "plain");
    const h = await sayHello(t, "world");
    assert.equal(h.reply?.message, "Hello world from secure");
  });
});
