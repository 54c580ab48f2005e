import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { GatewayError } from "../../src/util/errors.js";
import { generateCertificate } from "../../src/util/self-signed.js";
import {
  type Backend,
  backend,
  closeAll,
  cluster,
  forward,
  type grpc,
  listener,
  route,
  startBackend,
  startGateway,
  type TestGateway,
  table,
  testerClient,
  unary,
} from "../helpers/index.js";

describe("data plane: TLS listeners and TLS upstreams", { timeout: 120_000 }, () => {
  let a: Backend;
  let b: Backend;
  let secure: Backend;
  let gw: TestGateway;
  let certA: { certPem: string; keyPem: string };
  let certB: { certPem: string; keyPem: string };
  let generated: { listener: string; names: string[]; certPem: string }[];
  const clients: grpc.Client[] = [];

  before(async () => {
    certA = await generateCertificate(["a.example.com"]);
    certB = await generateCertificate(["*.b.example.com"]);
    const backendCert = await generateCertificate(["backend.internal"]);
    a = await startBackend({ name: "a" });
    b = await startBackend({ name: "b" });
    secure = await startBackend({ name: "secure", tls: backendCert });
    const ca = cluster("a", [a.port]);
    const cb = cluster("b", [b.port]);
    const cs = cluster("secure", [secure.port], { tls: true, serverName: "backend.internal" });
    generated = [];
    gw = await startGateway(
      table(
        [
          listener("a", 443, [route("a", {}, forward([backend(ca)]))], {
            protocol: "HTTPS",
            hostname: "a.example.com",
            tls: { certificates: [{ ...certA, source: "default/a-cert" }] },
          }),
          listener("b", 443, [route("b", {}, forward([backend(cb)]))], {
            protocol: "HTTPS",
            hostname: "*.b.example.com",
            tls: { certificates: [{ ...certB, source: "default/b-cert" }] },
          }),
          listener("gen", 8443, [route("gen", {}, forward([backend(cs)]))], {
            protocol: "HTTPS",
            tls: { certificates: [], generate: { dnsNames: ["svc.lattice.example", "custom.example.com"] } },
          }),
        ],
        [ca, cb, cs],
      ),
      {
        onCertificateGenerated: (l, names, certPem) => generated.push({ listener: l, names, certPem }),
      },
      { ca: backendCert.certPem },
    );
  });
  after(async () => {
    closeAll(...clients);
    await gw.close();
    await Promise.all([a.close(), b.close(), secure.close()]);
  });

  it("chooses the certificate and the listener by SNI", async () => {
    const cases = [
      { name: "a.example.com", root: () => certA.certPem, want: "a" },
      { name: "x.b.example.com", root: () => certB.certPem, want: "b" },
    ];
    for (const c of cases) {
      const client = testerClient(gw.target(443), {
        tls: { rootCert: c.root(), servername: c.name },
        authority: c.name,
      });
      clients.push(client);
      const r = await unary(client, "Unary", {});
      assert.equal(r.code, 0, `${c.name}: ${r.details}`);
      assert.equal(r.reply?.backend, c.want);
    }
  });

  it("a client that does not trust the served certificate fails the handshake", async () => {
    const client = testerClient(gw.target(443), {
      tls: { rootCert: certB.certPem, servername: "a.example.com" },
      authority: "a.example.com",
    });
    clients.push(client);
    const r = await unary(client, "Unary", {}, { timeoutMs: 3000 });
    assert.equal(r.code, 14);
  });

  it("generates a certificate for listeners that ask for one, reports it, and calls TLS upstreams", async () => {
    assert.equal(generated.length, 1);
    const g = generated[0]!;
    assert.equal(g.listener, "gateway/default/gw/listener/gen");
    const san = new X509Certificate(g.certPem).subjectAltName ?? "";
    assert.match(san, /svc\.lattice\.example/);
    assert.match(san, /custom\.example\.com/);
    const client = testerClient(gw.target(8443), {
      tls: { rootCert: g.certPem, servername: "custom.example.com" },
      authority: "custom.example.com",
    });
    clients.push(client);
    const r = await unary(client, "Unary", {});
    assert.equal(r.code, 0, r.details);
    assert.equal(r.reply?.backend, "secure");
  });

  it("keeps a generated certificate across applies", async () => {
    const t = table(
      [
        listener("gen", 8443, [], {
          protocol: "HTTPS",
          tls: { certificates: [], generate: { dnsNames: ["custom.example.com", "svc.lattice.example"] } },
        }),
      ],
      [],
      2,
    );
    await gw.dp.apply(t);
    assert.equal(generated.length, 1, "the same names reuse the certificate and report nothing new");
  });

  it("a certificate that cannot be loaded rejects apply with GW_ERR_TLS and keeps the old table", async () => {
    const before = gw.dp.version();
    const bad = table(
      [
        listener("broken", 443, [], {
          protocol: "HTTPS",
          tls: { certificates: [{ certPem: "not a pem", keyPem: "nor this", source: "default/broken" }] },
        }),
      ],
      [],
      9,
    );
    await assert.rejects(gw.dp.apply(bad), (e: unknown) => {
      assert.ok(GatewayError.is(e));
      assert.equal(e.code, "GW_ERR_TLS");
      assert.match(e.message, /listener gateway\/default\/gw\/listener\/broken: certificate default\/broken/);
      return true;
    });
    assert.equal(gw.dp.version(), before);
  });
});
