/**
 * BackendTLSPolicy end to end: manifests translated, then served by the relay to real grpc-js backends that
 * serve TLS with certificates of a CA made for the test. The policy's CA (a ConfigMap), hostname (SNI and
 * name check) and subjectAltNames decide whether the handshake passes; a policy without a valid CA fails
 * the calls instead of speaking cleartext; a kubernetes.io/h2c port stays cleartext.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createSecureServer, type Http2SecureServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { createSecureContext } from "node:tls";
import { parseText } from "../../src/api/parse.js";
import { translate } from "../../src/translate/translator.js";
import {
  type Backend,
  closeAll,
  grpc,
  grpcFrame,
  makeCa,
  makeLeaf,
  type Pem,
  startBackend,
  startGateway,
  type TestGateway,
  testerClient,
  unary,
} from "../helpers/index.js";

/** A Service, its EndpointSlice on 127.0.0.1 and a rule routing `x-to: <name>` to it. */
function service(name: string, port: number, appProtocol?: string): string {
  return `
apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec:
  ports: [{name: grpc, port: 443${appProtocol === undefined ? "" : `, appProtocol: ${appProtocol}`}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
ports: [{name: grpc, port: ${port}}]
endpoints: [{addresses: [127.0.0.1]}]
`;
}

/** A node:http2 TLS server that records the SNI and ALPN of each connection and answers every call OK. */
async function sniServer(
  cert: Pem,
): Promise<{ server: Http2SecureServer; port: number; seen: { servername: string; alpn: string }[] }> {
  const seen: { servername: string; alpn: string }[] = [];
  const ctx = createSecureContext({ cert: cert.certPem, key: cert.keyPem });
  const server = createSecureServer({
    SNICallback: (_name, cb) => cb(null, ctx),
    ALPNProtocols: ["h2"],
  });
  server.on("stream", (s) => {
    const sock = s.session?.socket as { servername?: string; alpnProtocol?: string } | undefined;
    seen.push({ servername: String(sock?.servername ?? ""), alpn: String(sock?.alpnProtocol ?? "") });
    s.on("data", () => {});
    s.on("end", () => {
      s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
      s.end(grpcFrame(Buffer.alloc(0)));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port, seen };
}

function policy(name: string, service: string, validation: string): string {
  return `
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: ${name}}
spec:
  targetRefs: [{group: "", kind: Service, name: ${service}}]
  validation:
${validation
  .trim()
  .split("\n")
  .map((l) => `    ${l}`)
  .join("\n")}
`;
}

function configMap(name: string, pem: string): string {
  return `
apiVersion: v1
kind: ConfigMap
metadata: {name: ${name}}
data:
  ca.crt: |
${pem
  .trim()
  .split("\n")
  .map((l) => `    ${l}`)
  .join("\n")}
`;
}

describe("BackendTLSPolicy: TLS to backends", { timeout: 120_000 }, () => {
  let ca: Pem;
  let otherCa: Pem;
  const backends: Backend[] = [];
  let gw: TestGateway;
  let client: grpc.Client;
  const names = [
    "ok",
    "wrong-name",
    "san-uri",
    "san-uri-other",
    "other-ca",
    "no-ca",
    "cleartext",
    "system",
    "sni",
  ] as const;
  let sni: Awaited<ReturnType<typeof sniServer>>;

  before(async () => {
    ca = await makeCa();
    otherCa = await makeCa("another CA");
    const leaf = await makeLeaf(ca, {
      dns: ["greeter.internal"],
      uris: ["spiffe://test/ns/default/sa/greeter"],
    });
    const start = async (name: string, tls: Pem | undefined) => {
      const b = await startBackend(tls === undefined ? { name } : { name, tls });
      backends.push(b);
      return b;
    };
    const port: Record<string, number> = {};
    for (const n of names) {
      if (n !== "sni") port[n] = (await start(n, n === "cleartext" ? undefined : leaf)).port;
    }
    sni = await sniServer(leaf);
    port.sni = sni.port;
    const manifests = [
      `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: grpcroute
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules:
${names
  .map(
    (n) => `    - matches: [{headers: [{name: x-to, value: ${n}}]}]
      backendRefs: [{name: ${n}, port: 443}]`,
  )
  .join("\n")}
`,
      configMap("ca", ca.certPem),
      configMap("other-ca", otherCa.certPem),
      ...names.map((n) => service(n, port[n]!, n === "cleartext" ? "kubernetes.io/h2c" : undefined)),
      policy(
        "ok",
        "ok",
        `caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}]\nhostname: greeter.internal`,
      ),
      policy(
        "wrong-name",
        "wrong-name",
        `caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}]\nhostname: other.internal`,
      ),
      policy(
        "san-uri",
        "san-uri",
        `caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}]\nhostname: other.internal\nsubjectAltNames: [{type: URI, uri: "spiffe://test/ns/default/sa/greeter"}]`,
      ),
      policy(
        "san-uri-other",
        "san-uri-other",
        `caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}]\nhostname: greeter.internal\nsubjectAltNames: [{type: URI, uri: "spiffe://test/ns/default/sa/other"}]`,
      ),
      policy(
        "other-ca",
        "other-ca",
        `caCertificateRefs: [{group: "", kind: ConfigMap, name: other-ca}]\nhostname: greeter.internal`,
      ),
      policy(
        "no-ca",
        "no-ca",
        `caCertificateRefs: [{group: "", kind: ConfigMap, name: missing}]\nhostname: greeter.internal`,
      ),
      policy("cleartext", "cleartext", `wellKnownCACertificates: System\nhostname: greeter.internal`),
      policy("system", "system", `wellKnownCACertificates: System\nhostname: greeter.internal`),
      policy(
        "sni",
        "sni",
        `caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}]\nhostname: greeter.internal`,
      ),
    ].join("\n---\n");
    const loaded = parseText(manifests, "tls.yaml");
    assert.deepEqual(
      loaded.issues.filter((i) => i.severity === "error"),
      [],
    );
    const { table, status } = translate(loaded.resources);
    const accepted = status.backendTLSPolicies.get("default/ok")?.ancestors[0]?.conditions[0];
    assert.equal(accepted?.reason, "Accepted");
    gw = await startGateway(table);
    client = testerClient(gw.target(80));
  });
  after(async () => {
    closeAll(client);
    await gw.close();
    await Promise.all(backends.map((b) => b.close()));
    sni.server.close();
  });

  const call = (to: string) => unary(client, "Unary", {}, { metadata: { "x-to": to } });

  it("passes or fails the handshake as the policy says", async () => {
    const cases: { to: string; ok: boolean; why?: RegExp }[] = [
      { to: "ok", ok: true },
      { to: "wrong-name", ok: false, why: /other\.internal/ },
      { to: "san-uri", ok: true },
      { to: "san-uri-other", ok: false, why: /subjectAltNames of BackendTLSPolicy default\/san-uri-other/ },
      { to: "other-ca", ok: false, why: /certificate/ },
      { to: "system", ok: false, why: /certificate/ },
    ];
    for (const c of cases) {
      const r = await call(c.to);
      if (c.ok) {
        assert.equal(r.code, grpc.status.OK, `${c.to}: ${r.details}`);
        assert.equal(r.reply?.backend, c.to);
      } else {
        assert.equal(r.code, grpc.status.UNAVAILABLE, `${c.to}: ${r.details}`);
        assert.match(r.details, c.why!, c.to);
      }
    }
  });

  it("the backend is reached with the policy's hostname as SNI, and ALPN h2", async () => {
    const r = await call("sni");
    assert.equal(r.code, grpc.status.OK, r.details);
    assert.deepEqual(sni.seen.at(-1), { servername: "greeter.internal", alpn: "h2" });
  });

  it("a policy without a valid CA fails the calls, never in cleartext", async () => {
    const before = backends.find((b) => b.name === "no-ca")!.calls.length;
    const r = await call("no-ca");
    assert.equal(r.code, grpc.status.UNAVAILABLE);
    assert.match(r.details, /BackendTLSPolicy default\/no-ca has no valid CA certificate/);
    assert.equal(backends.find((b) => b.name === "no-ca")!.calls.length, before, "the backend saw nothing");
  });

  it("a kubernetes.io/h2c port stays cleartext", async () => {
    const r = await call("cleartext");
    assert.equal(r.code, grpc.status.OK, r.details);
    assert.equal(r.reply?.backend, "cleartext");
  });
});
