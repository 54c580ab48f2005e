/**
 * TargetGroupPolicy health checks end to end on the Lattice profile: two real grpc-js greeter backends (on
 * 127.0.0.1 and 127.0.0.2) each beside an HTTP health server on one shared port (the policy's
 * `healthCheck.port`), manifests read and translated, an in-process data plane, and a grpc-js client over TLS
 * on the route's assigned domain name. When one endpoint's health path answers 503 every call goes to the
 * other; when it answers 200 again calls reach it again. Run once with HTTP/1.1 checks and once with HTTP/2
 * (h2c) checks, as `protocolVersion` says.
 *
 * VPC Lattice's shortest interval is 5 s, and a change needs two checks in a row (its smallest thresholds):
 * the translated table's interval is shortened to 100 ms so the test waits a fraction of a second, not 20 s.
 * Tests wait on the data plane's endpoint events, never on time.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { after, before, describe, test } from "node:test";
import { parseText } from "../../src/api/parse.js";
import { Dataplane } from "../../src/dataplane/index.js";
import type { EndpointEvent } from "../../src/dataplane/relay/endpoint-group.js";
import { routeAuthorities } from "../../src/lattice/domains.js";
import { translate } from "../../src/translate/translator.js";
import {
  type Backend,
  closeAll,
  greeterClient,
  grpc,
  onceWithin,
  sayHello,
  startBackend,
} from "../helpers/index.js";
import { type HealthServer, healthPair } from "./health-servers.js";

function manifests(ports: { a: number; b: number; health: number }, version: "HTTP1" | "HTTP2"): string {
  const slice = (name: string, address: string, port: number) => `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}
  labels: {kubernetes.io/service-name: greeter}
addressType: IPv4
ports: [{name: grpc, port: ${port}}]
endpoints: [{addresses: ["${address}"], conditions: {ready: true}}]`;
  return `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: my-hotel}
spec:
  gatewayClassName: amazon-vpc-lattice
  listeners: [{name: https, protocol: HTTPS, port: 443}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: greeter}
spec:
  parentRefs: [{name: my-hotel, sectionName: https}]
  rules:
    - matches: [{method: {service: helloworld.Greeter}}]
      backendRefs: [{name: greeter, port: 50051}]
---
apiVersion: v1
kind: Service
metadata: {name: greeter}
spec:
  ports: [{name: grpc, port: 50051}]
---${slice("greeter-a", "127.0.0.1", ports.a)}
---${slice("greeter-b", "127.0.0.2", ports.b)}
---
apiVersion: application-networking.k8s.aws/v1alpha1
kind: TargetGroupPolicy
metadata: {name: greeter}
spec:
  targetRef: {group: "", kind: Service, name: greeter}
  healthCheck:
    enabled: true
    protocolVersion: ${version}
    path: /healthz
    port: ${ports.health}
    statusMatch: "200-299"
    intervalSeconds: 5
    timeoutSeconds: 2
    healthyThresholdCount: 2
    unhealthyThresholdCount: 2
`;
}

for (const version of ["HTTP1", "HTTP2"] as const) {
  describe(`TargetGroupPolicy ${version} health checks through the relay`, { timeout: 120_000 }, () => {
    let a: Backend;
    let b: Backend;
    let health: { a: HealthServer; b: HealthServer; port: number };
    let dataplane: Dataplane;
    let client: grpc.Client;
    const events: EndpointEvent[] = [];
    const emitter = new EventEmitter();

    before(async () => {
      [a, b] = await Promise.all([
        startBackend({ name: "a", host: "127.0.0.1" }),
        startBackend({ name: "b", host: "127.0.0.2" }),
      ]);
      health = await healthPair(version === "HTTP1" ? 1 : 2);
      const loaded = parseText(manifests({ a: a.port, b: b.port, health: health.port }, version), "m.yaml");
      assert.deepEqual(
        loaded.issues.filter((i) => i.severity === "error"),
        [],
      );
      const result = translate(loaded.resources, {});
      const accepted = result.status.targetGroupPolicies.get("default/greeter")?.conditions[0];
      assert.equal(accepted?.status, "True", accepted?.message);
      const cluster = result.table.clusters["service/default/greeter/port/50051"];
      const hc = cluster?.policy?.healthCheck;
      assert.ok(hc?.http !== undefined, "the cluster has the policy's HTTP health check");
      assert.equal(hc.intervalMs, 5000);
      // See the file comment: Lattice's 5 s minimum would make this test wait 20 s.
      hc.intervalMs = 100;
      let generated: ((pem: string) => void) | undefined;
      const cert = new Promise<string>((resolve) => {
        generated = resolve;
      });
      dataplane = new Dataplane({
        address: "127.0.0.1",
        portMap: new Map([[443, 0]]),
        onEndpointEvent: (e) => {
          events.push(e);
          emitter.emit("event", e);
        },
        onCertificateGenerated: (_l, _names, pem) => generated?.(pem),
      });
      await dataplane.apply(result.table);
      const route = loaded.resources.grpcRoutes[0];
      assert.ok(route !== undefined);
      const authority = routeAuthorities(route)[0] ?? "";
      client = greeterClient(`127.0.0.1:${dataplane.boundPorts().get(443)}`, {
        authority,
        tls: { rootCert: await cert, servername: authority },
      });
    });

    after(async () => {
      closeAll(client);
      await dataplane?.close(0);
      await Promise.all([a?.close(), b?.close()]);
      health?.a.server.close();
      health?.b.server.close();
    });

    async function next(kind: EndpointEvent["kind"], endpoint: string): Promise<EndpointEvent> {
      const from = events.length;
      for (;;) {
        const e = events.slice(from).find((x) => x.kind === kind && x.endpoint === endpoint);
        if (e !== undefined) return e;
        await onceWithin(emitter, "event", `a "${kind}" event for ${endpoint}`);
      }
    }

    async function servedBy(n: number): Promise<string[]> {
      const out: string[] = [];
      for (let i = 0; i < n; i++) {
        const r = await sayHello(client, "lattice");
        assert.equal(r.code, grpc.status.OK, r.details);
        out.push(/from (\w+)/.exec(r.reply?.message ?? "")?.[1] ?? "");
      }
      return out;
    }

    test("both endpoints are checked on the policy's port and path, and both serve", async () => {
      await onceWithin(health.a, "check", "a health check of endpoint a");
      if (health.b.seen.length === 0) await onceWithin(health.b, "check", "a health check of endpoint b");
      for (const s of [health.a, health.b]) {
        const first = s.seen[0];
        assert.equal(first?.path, "/healthz");
        assert.equal(first?.version, version === "HTTP1" ? "1.1" : "2.0");
        // Lattice closes the connection after each check; so do we.
        if (version === "HTTP1") assert.equal(first?.connection, "close");
      }
      assert.deepEqual(new Set(await servedBy(4)), new Set(["a", "b"]));
    });

    test("an endpoint whose health path answers 503 leaves the pick; every call goes to the other", async () => {
      const bAddress = `127.0.0.2:${b.port}`;
      const out = next("unhealthy", bAddress);
      health.b.status = 503;
      const e = await out;
      assert.match(
        e.reason,
        /2 HTTP health check\(s\) failed in a row, the last: HTTP 503 \(passing: 200-299\)/,
      );
      const during = await servedBy(6);
      assert.deepEqual(during, ["a", "a", "a", "a", "a", "a"], "no call reaches the unhealthy endpoint");
      const stats = dataplane.stats().endpointHealth ?? [];
      assert.deepEqual(stats.map((s) => [s.endpoint, s.healthy]).sort(), [
        [`127.0.0.1:${a.port}`, true],
        [bAddress, false],
      ]);
    });

    test("once it answers 200 again for healthyThreshold checks, calls reach it again", async () => {
      const back = next("healthy", `127.0.0.2:${b.port}`);
      health.b.status = 200;
      const e = await back;
      assert.match(e.reason, /2 HTTP health check\(s\) passed in a row/);
      assert.ok((await servedBy(6)).includes("b"), "a call reaches the recovered endpoint");
    });
  });
}
