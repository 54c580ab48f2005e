/**
 * `grpcroute controller` as a process against the fake API server (TLS, bearer token), with real greeter
 * backends and grpc-js clients: routing after the first sync, changes of routes, EndpointSlices and
 * ReferenceGrants, status content, no writes when nothing changed, every fault hook, a TLS listener from a
 * Secret. The requests it made are checked against deploy/'s RBAC in rbac.test.ts's way at the end.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { callGreeter } from "../../examples/call.mjs";
import { generateCertificate } from "../../src/util/self-signed.js";
import type { GatewayProcess } from "../e2e/support/gateway-process.js";
import type { RequestRecord } from "./fake/apiserver.js";
import { checkRbac, isLatticeRule, isPolicyRule } from "./rbac.js";
import { Cluster, ourConditions } from "./support.js";

const OURS = "grpcroute.dev/gateway-controller";

/** Every request the controllers made in this file, checked against deploy/'s RBAC at the end. */
const seen: RequestRecord[] = [];

describe("grpcroute controller against an API server", { timeout: 240_000 }, () => {
  let cluster: Cluster;
  let gw: GatewayProcess;
  let target: string;

  /** Runs `change` and resolves once the controller applied a configuration after it. */
  async function applied(change: () => void, what: string): Promise<void> {
    const from = gw.lines.length;
    change();
    await gw.waitFor(
      (l) => l.msg === "configuration applied",
      `the configuration after ${what}`,
      20_000,
      from,
    );
  }

  const call = (method: "SayHello" | "SayHelloAgain", metadata: Record<string, string> = {}) =>
    callGreeter({ target, method, metadata });

  /**
   * Calls until one reaches `want` (a backend name, or a status code name); between tries it waits for the
   * controller to apply another configuration (a snapshot still in flight when the change arrived may be
   * applied first). Fails when no configuration comes for 20 s.
   */
  async function follows(method: "SayHello" | "SayHelloAgain", want: string, why: string): Promise<void> {
    for (;;) {
      const from = gw.lines.length;
      const r = await call(method);
      if (r.backend === want || (r.backend === undefined && r.codeName === want)) return;
      await gw.waitFor(
        (l) => l.msg === "configuration applied",
        `a configuration under which ${method} reaches ${want} (${why}; last call: ${r.backend ?? r.codeName})`,
        20_000,
        from,
      );
    }
  }

  before(async () => {
    cluster = await Cluster.start();
    gw = cluster.controller();
    await gw.ready();
    target = `127.0.0.1:${gw.localPort(8080)}`;
  });

  after(async () => {
    seen.push(...(cluster?.fake.requests ?? []));
    await cluster?.close();
  });

  test("routes calls after the first sync, and /readyz is 200", async () => {
    const r1 = await call("SayHello");
    assert.equal(r1.backend, "greeter-grpc-server:443", JSON.stringify(r1));
    const r2 = await call("SayHelloAgain", { testkey1: "testValue1" });
    assert.equal(r2.backend, "greeter-grpc-server:50051", JSON.stringify(r2));
    const r3 = await call("SayHelloAgain");
    assert.equal(r3.codeName, "UNIMPLEMENTED");
    assert.equal((await gw.get("/readyz")).status, 200);
  });

  test("writes route, Gateway and GatewayClass status through /status", async () => {
    const route = await cluster.waitObject(
      "GRPCRoute",
      "greeter",
      "greeter-grpc-route",
      (o) => ourConditions(o).Accepted?.status === "True",
      "our parent entry Accepted",
    );
    const c = ourConditions(route);
    assert.equal(c.ResolvedRefs?.status, "True");
    for (const cond of Object.values(c)) {
      assert.equal(cond.observedGeneration, route.metadata.generation);
      assert.match(String(cond.lastTransitionTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    const gateway = await cluster.waitObject(
      "Gateway",
      "greeter",
      "my-hotel",
      (o) => o.status !== undefined,
      "a status",
    );
    const st = gateway.status as {
      addresses: unknown[];
      listeners: { conditions: { type: string; status: string }[] }[];
    };
    assert.deepEqual(st.addresses, [{ type: "IPAddress", value: "127.0.0.1" }]);
    assert.equal(st.listeners[0]?.conditions.find((x) => x.type === "Programmed")?.status, "True");
    const cls = await cluster.waitObject(
      "GatewayClass",
      "",
      "grpcroute",
      (o) => o.status !== undefined,
      "a status",
    );
    const types = ((cls.status as { conditions: { type: string; status: string }[] }).conditions ?? []).map(
      (x) => `${x.type}=${x.status}`,
    );
    assert.deepEqual(types, ["Accepted=True", "SupportedVersion=True"]);
    const statusWrites = cluster.fake.requests.filter(
      (r) => r.verb === "update" && r.subresource === "status",
    );
    assert.ok(statusWrites.length >= 3, "status goes through the /status subresource");
    assert.ok(
      cluster.fake.requests.every(
        (r) => !(r.verb === "update" && r.subresource === "" && r.resource === "grpcroutes"),
      ),
    );
  });

  test("writes nothing when nothing changed", async () => {
    const before = cluster.fake.requests.length;
    const from = gw.lines.length;
    // A change the translation reads (a Namespace label) but that changes no status.
    cluster.fake.apply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "greeter", labels: { team: "a" } },
    });
    await gw.waitFor(
      (l) => l.msg === "status unchanged",
      "a status pass that found nothing to write",
      20_000,
      from,
    );
    assert.deepEqual(cluster.fake.writes(before), [], "no write after a change that changes no status");
  });

  test("a route update is followed by new calls, with observedGeneration", async () => {
    const route = structuredClone(cluster.fake.get("GRPCRoute", "greeter", "greeter-grpc-route")!);
    const spec = route.spec as { rules: { backendRefs: { port: number }[] }[] };
    spec.rules[1]!.backendRefs[0]!.port = 50051;
    await applied(() => cluster.fake.apply(route), "the route update");
    await follows("SayHello", "greeter-grpc-server:50051", "after the change");
    const updated = await cluster.waitObject(
      "GRPCRoute",
      "greeter",
      "greeter-grpc-route",
      (o) => ourConditions(o).Accepted?.observedGeneration === 2,
      "observedGeneration 2",
    );
    assert.equal(updated.metadata.generation, 2);
  });

  test("keeps other controllers' parent entries", async () => {
    const cur = cluster.fake.get("GRPCRoute", "greeter", "greeter-grpc-route")!;
    const foreign = {
      parentRef: { group: "gateway.networking.k8s.io", kind: "Gateway", name: "theirs" },
      controllerName: "example.com/other-controller",
      conditions: [
        {
          type: "Accepted",
          status: "True",
          reason: "Accepted",
          message: "",
          lastTransitionTime: "2024-01-01T00:00:00Z",
          observedGeneration: 2,
        },
      ],
    };
    const parents = (cur.status as { parents: unknown[] }).parents;
    cluster.fake.store.update(
      cluster.fake.def("GRPCRoute"),
      "greeter",
      "greeter-grpc-route",
      { ...cur, status: { parents: [foreign, ...parents] } },
      "status",
    );
    // A spec change makes us write again: the foreign entry must survive it.
    const route = structuredClone(cluster.fake.get("GRPCRoute", "greeter", "greeter-grpc-route")!);
    (route.spec as { rules: { backendRefs: { port: number }[] }[] }).rules[1]!.backendRefs[0]!.port = 443;
    await applied(() => cluster.fake.apply(route), "the route update");
    const after = await cluster.waitObject(
      "GRPCRoute",
      "greeter",
      "greeter-grpc-route",
      (o) => ourConditions(o).Accepted?.observedGeneration === 3,
      "our entry at generation 3",
    );
    const names = (after.status as { parents: { controllerName: string }[] }).parents.map(
      (p) => p.controllerName,
    );
    assert.deepEqual(names, ["example.com/other-controller", OURS]);
  });

  test("EndpointSlice updates and deletes are followed", async () => {
    const slice = structuredClone(cluster.fake.get("EndpointSlice", "greeter", "greeter-grpc-server-local")!);
    const ports = slice.ports as { name: string; port: number }[];
    ports.find((p) => p.name === "grpc-alt")!.port = cluster.portOf(cluster.c);
    await applied(() => cluster.fake.apply(slice), "the EndpointSlice update");
    await follows("SayHello", "greeter-c", "after the change");
    await applied(
      () => cluster.fake.remove("EndpointSlice", "greeter", "greeter-grpc-server-local"),
      "the delete",
    );
    await follows("SayHello", "UNAVAILABLE", "after the change");
    ports.find((p) => p.name === "grpc-alt")!.port = cluster.portOf(cluster.b);
    delete slice.metadata.resourceVersion;
    await applied(() => cluster.fake.apply(slice), "the slice coming back");
    await follows("SayHello", "greeter-grpc-server:443", "after the change");
  });

  test("routes are added and deleted; a ReferenceGrant admits a cross-namespace backend", async () => {
    cluster.fake.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "team-b" } });
    const route = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GRPCRoute",
      metadata: { name: "again", namespace: "team-b" },
      spec: {
        parentRefs: [{ name: "my-hotel", namespace: "greeter" }],
        rules: [
          {
            matches: [{ method: { service: "helloworld.Greeter", method: "SayHelloAgain" } }],
            backendRefs: [{ name: "greeter-grpc-server", namespace: "greeter", port: 443 }],
          },
        ],
      },
    };
    // The listener allows routes from its own namespace only: admit team-b first.
    const gateway = structuredClone(cluster.fake.get("Gateway", "greeter", "my-hotel")!);
    const listeners = (gateway.spec as { listeners: Record<string, unknown>[] }).listeners;
    listeners[0]!.allowedRoutes = { namespaces: { from: "All" }, kinds: [{ kind: "GRPCRoute" }] };
    await applied(() => cluster.fake.apply(gateway), "the Gateway update");
    await applied(() => cluster.fake.apply(route), "the new route");
    await follows("SayHelloAgain", "UNAVAILABLE", "no ReferenceGrant yet");
    const denied = await cluster.waitObject(
      "GRPCRoute",
      "team-b",
      "again",
      (o) => ourConditions(o).ResolvedRefs !== undefined,
      "status",
    );
    assert.equal(ourConditions(denied).ResolvedRefs?.reason, "RefNotPermitted");

    const grant = {
      apiVersion: "gateway.networking.k8s.io/v1beta1",
      kind: "ReferenceGrant",
      metadata: { name: "from-team-b", namespace: "greeter" },
      spec: {
        from: [{ group: "gateway.networking.k8s.io", kind: "GRPCRoute", namespace: "team-b" }],
        to: [{ group: "", kind: "Service" }],
      },
    };
    await applied(() => cluster.fake.apply(grant), "the ReferenceGrant");
    await follows("SayHelloAgain", "greeter-grpc-server:443", "after the change");
    await cluster.waitObject(
      "GRPCRoute",
      "team-b",
      "again",
      (o) => ourConditions(o).ResolvedRefs?.status === "True",
      "ResolvedRefs True",
    );

    await applied(
      () => cluster.fake.remove("ReferenceGrant", "greeter", "from-team-b"),
      "the grant's delete",
    );
    await follows("SayHelloAgain", "UNAVAILABLE", "after the change");
    await applied(() => cluster.fake.remove("GRPCRoute", "team-b", "again"), "the route's delete");
    await follows("SayHelloAgain", "UNIMPLEMENTED", "after the change");
  });

  test("fault: dropped watches reconnect and see later changes", async () => {
    const from = cluster.fake.requests.length;
    assert.ok(cluster.fake.dropWatches() > 0);
    await cluster.waitRequest(
      (r) => r.verb === "watch" && r.resource === "grpcroutes",
      "a new GRPCRoute watch",
      from,
    );
    await toggleRoute("after dropped watches");
  });

  test("fault: 410 Gone lists again and sees later changes", async () => {
    const from = cluster.fake.requests.length;
    cluster.fake.expireWatches(1);
    await cluster.waitRequest(
      (r) => r.verb === "list" && r.resource === "grpcroutes",
      "a new GRPCRoute list",
      from,
    );
    await toggleRoute("after 410 Gone");
  });

  test("fault: 503 for a while; calls keep working, changes after it apply", async () => {
    const from = cluster.fake.requests.length;
    cluster.fake.unavailable(3000);
    await cluster.waitRequest((r) => r.status === 503, "a 503 answer", from);
    assert.equal((await call("SayHello")).codeName, "OK", "calls do not depend on the API server");
    await gw.waitFor(
      (l) => l.code === "GW_ERR_KUBE_API" || l.code === "GW_ERR_KUBE_UNREACHABLE",
      "the failed request's log line",
    );
    await toggleRoute("after the API server came back");
  });

  test("fault: a conflict on the next write is re-read and retried", async () => {
    const from = gw.lines.length;
    cluster.fake.conflictNextWrite(1);
    await toggleRoute("with a conflicting write");
    const line = await gw.waitFor(
      (l) => l.msg === "status written" && Number(l.conflicts) > 0,
      "a pass with a conflict",
      20_000,
      from,
    );
    assert.equal(line.failed, 0);
  });

  test("an HTTPS listener serves the certificate of a Secret", async () => {
    const cert = await generateCertificate(["secure.example.com"]);
    cluster.fake.apply({
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/tls",
      metadata: { name: "secure-cert", namespace: "greeter" },
      data: {
        "tls.crt": Buffer.from(cert.certPem).toString("base64"),
        "tls.key": Buffer.from(cert.keyPem).toString("base64"),
      },
    });
    const gateway = structuredClone(cluster.fake.get("Gateway", "greeter", "my-hotel")!);
    (gateway.spec as { listeners: unknown[] }).listeners.push({
      name: "https",
      protocol: "HTTPS",
      port: 8443,
      hostname: "secure.example.com",
      tls: { mode: "Terminate", certificateRefs: [{ name: "secure-cert" }] },
      allowedRoutes: { kinds: [{ kind: "GRPCRoute" }] },
    });
    cluster.fake.apply({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GRPCRoute",
      metadata: { name: "secure", namespace: "greeter" },
      spec: {
        parentRefs: [{ name: "my-hotel", sectionName: "https" }],
        hostnames: ["secure.example.com"],
        rules: [{ backendRefs: [{ name: "greeter-grpc-server", port: 443 }] }],
      },
    });
    const from = gw.lines.length;
    cluster.fake.apply(gateway);
    await gw.waitFor(
      (l) => l.msg === "configuration applied" && JSON.stringify(l.listeners).includes('"port":8443'),
      "a configuration with the HTTPS listener",
      20_000,
      from,
    );
    const tlsTarget = `127.0.0.1:${gw.localPort(8443)}`;
    const r = await callGreeter({
      target: tlsTarget,
      method: "SayHello",
      authority: "secure.example.com",
      caPem: cert.certPem,
    });
    assert.equal(r.codeName, "OK", JSON.stringify(r));
  });

  /** Flips rule 1's port between 443 and 50051 and checks calls follow. */
  async function toggleRoute(when: string): Promise<void> {
    const route = structuredClone(cluster.fake.get("GRPCRoute", "greeter", "greeter-grpc-route")!);
    const ref = (route.spec as { rules: { backendRefs: { port: number }[] }[] }).rules[1]!.backendRefs[0]!;
    ref.port = ref.port === 443 ? 50051 : 443;
    const want = ref.port === 443 ? "greeter-grpc-server:443" : "greeter-grpc-server:50051";
    await applied(() => cluster.fake.apply(route), `the route change ${when}`);
    await follows("SayHello", want, `calls follow the route ${when}`);
    const gen = cluster.fake.get("GRPCRoute", "greeter", "greeter-grpc-route")!.metadata.generation;
    await cluster.waitObject(
      "GRPCRoute",
      "greeter",
      "greeter-grpc-route",
      (o) => ourConditions(o).Accepted?.observedGeneration === gen,
      `status at generation ${String(gen)} ${when}`,
    );
  }
});

describe("grpcroute controller replicas with --leader-elect", { timeout: 240_000 }, () => {
  let cluster: Cluster;
  // Short enough for a test, long enough that a loaded 2-core machine does not lose a Lease by accident.
  const LEASE_S = 6;
  const fast = [
    "--leader-elect",
    "--lease-duration",
    String(LEASE_S),
    "--renew-deadline",
    "4",
    "--retry-period",
    "1",
  ];

  before(async () => {
    cluster = await Cluster.start();
  });

  after(async () => {
    seen.push(...(cluster?.fake.requests ?? []));
    await cluster?.close();
  });

  test("one leader writes status, every replica serves; the other takes over when the leader dies", async () => {
    const one = cluster.controller(fast);
    const two = cluster.controller(fast);
    await Promise.all([one.ready(), two.ready()]);
    const leaderLine = (p: GatewayProcess) => p.lines.some((l) => l.msg === "became leader");
    const first = await Promise.race([
      one.waitForMsg("became leader").then(() => one),
      two.waitForMsg("became leader").then(() => two),
    ]);
    const other = first === one ? two : one;
    for (const p of [one, two]) {
      const r = await callGreeter({ target: `127.0.0.1:${p.localPort(8080)}`, method: "SayHello" });
      assert.equal(r.backend, "greeter-grpc-server:443", "every replica serves from its own watch");
    }
    await cluster.waitObject(
      "GRPCRoute",
      "greeter",
      "greeter-grpc-route",
      (o) => ourConditions(o).Accepted !== undefined,
      "status from the leader",
    );
    assert.ok(!leaderLine(other), "only one leader");
    const lease = cluster.fake.get("Lease", "grpcroute-system", "grpcroute-leader");
    assert.match(
      String((lease?.spec as { renewTime?: string } | undefined)?.renewTime),
      /\.\d{6}Z$/,
      "MicroTime",
    );

    // The leader dies without releasing: the other takes over within about the lease duration.
    const died = performance.now();
    first.child.kill("SIGKILL");
    await other.waitForMsg("became leader", 0, 15_000);
    const tookOver = performance.now() - died;
    assert.ok(tookOver < LEASE_S * 1000 + 2 * 1000 + 2000, `took over in ${Math.round(tookOver)} ms`);
    const route = structuredClone(cluster.fake.get("GRPCRoute", "greeter", "greeter-grpc-route")!);
    (route.spec as { rules: { backendRefs: { weight?: number }[] }[] }).rules[0]!.backendRefs[0]!.weight = 20;
    cluster.fake.apply(route);
    const gen = cluster.fake.get("GRPCRoute", "greeter", "greeter-grpc-route")!.metadata.generation;
    await cluster.waitObject(
      "GRPCRoute",
      "greeter",
      "greeter-grpc-route",
      (o) => ourConditions(o).Accepted?.observedGeneration === gen,
      "status written by the new leader",
    );
  });

  test("on SIGTERM the leader releases the Lease and another replica takes it at once", async () => {
    // The leader is whoever the Lease names now.
    const lease = cluster.fake.get("Lease", "grpcroute-system", "grpcroute-leader");
    const holder = (lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
    const leader = cluster.procs.find(
      (p) =>
        p.child.exitCode === null && p.lines.some((l) => l.msg === "became leader" && l.identity === holder),
    )!;
    assert.ok(leader !== undefined, `no running replica holds the Lease (holder ${String(holder)})`);
    const next = cluster.controller(fast);
    await next.ready();
    const stopped = leader.stop();
    // The release: the Lease written with no holder (the log line may be cut short by the exit).
    await cluster.waitObject(
      "Lease",
      "grpcroute-system",
      "grpcroute-leader",
      (o) => (o.spec as { holderIdentity?: string }).holderIdentity === "",
      "the Lease released (no holder)",
    );
    const t = performance.now();
    await next.waitForMsg("became leader", 0, 10_000);
    await stopped;
    // Without the release it would wait for the Lease to expire.
    assert.ok(performance.now() - t < LEASE_S * 1000 - 1000, "taken at the next retry, not after expiry");
  });
});

describe("grpcroute controller errors", { timeout: 120_000 }, () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await Cluster.start();
  });
  after(async () => {
    await cluster?.close();
  });

  test("a 403 is one log line with GW_ERR_KUBE_FORBIDDEN naming the resource, and /readyz says why", async () => {
    cluster.fake.forbid = (r) => r.resource === "secrets";
    const p = cluster.controller();
    const line = await p.waitFor((l) => l.code === "GW_ERR_KUBE_FORBIDDEN", "the 403 log line");
    assert.equal(line.kind, "Secret");
    assert.match(String(line.reason), /secrets is forbidden/);
    const ready = await p.get("/readyz");
    assert.equal(ready.status, 503);
    assert.match(ready.body, /Secret: GW_ERR_KUBE_FORBIDDEN/);
    assert.ok(!p.dump().includes("    at "), "no stack trace");
    cluster.fake.forbid = undefined;
    await p.ready();
    assert.equal(
      p.lines.filter((l) => l.code === "GW_ERR_KUBE_FORBIDDEN").length,
      1,
      "one line, not one per retry",
    );
    await p.stop();
  });

  test("an unreachable API server: GW_ERR_KUBE_UNREACHABLE, not ready, no stack trace", async () => {
    const kc = cluster.fake.kubeconfig(cluster.dir.path, "test-token", "closed").replace(/x/, "x");
    const { readFileSync, writeFileSync } = await import("node:fs");
    writeFileSync(kc, readFileSync(kc, "utf8").replace(cluster.fake.url, "https://127.0.0.1:1"));
    const p = cluster.controller(["--kubeconfig", kc]);
    await p.waitFor((l) => l.code === "GW_ERR_KUBE_UNREACHABLE", "the unreachable log line");
    const ready = await p.get("/readyz");
    assert.equal(ready.status, 503);
    assert.match(ready.body, /GW_ERR_KUBE_UNREACHABLE/);
    assert.ok(!p.dump().includes("    at "), "no stack trace");
    await p.stop();
  });

  test("a bad kubeconfig exits 2 with GW_ERR_KUBE_CONFIG and the file", async () => {
    const bad = cluster.dir.write("bad-kubeconfig", "apiVersion: v1\nkind: Config\nclusters: []\n");
    for (const args of [
      ["--kubeconfig", "/nonexistent/kubeconfig"],
      ["--kubeconfig", bad],
      ["--context", "nope"],
    ]) {
      const p = cluster.controller(args);
      const { code } = await p.exited;
      assert.equal(code, 2, p.dump());
      assert.match(p.stderr, /GW_ERR_KUBE_CONFIG/);
      assert.ok(!p.stderr.includes("    at "), `no stack trace: ${p.stderr}`);
    }
  });
});

describe("grpcroute controller and Lattice-profile classes", { timeout: 120_000 }, () => {
  let cluster: Cluster;
  const AWS = "application-networking.k8s.aws/gateway-api-controller";
  const DOMAIN = "application-networking.k8s.aws/lattice-assigned-domain-name";

  before(async () => {
    cluster = await Cluster.start();
    cluster.fake.apply({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: "amazon-vpc-lattice" },
      spec: { controllerName: AWS },
    });
    cluster.fake.apply({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "lattice", namespace: "greeter" },
      spec: {
        gatewayClassName: "amazon-vpc-lattice",
        listeners: [{ name: "https", protocol: "HTTPS", port: 8443 }],
      },
    });
    cluster.fake.apply({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GRPCRoute",
      metadata: { name: "lattice-route", namespace: "greeter" },
      spec: {
        parentRefs: [{ name: "lattice", sectionName: "https" }],
        rules: [{ backendRefs: [{ name: "greeter-grpc-server", port: 443 }] }],
      },
    });
  });

  after(async () => {
    seen.push(...(cluster?.fake.requests ?? []));
    await cluster?.close();
  });

  test("without --lattice they are the AWS controller's: no status, not served", async () => {
    const gw = cluster.controller();
    await gw.ready();
    await cluster.waitObject(
      "GRPCRoute",
      "greeter",
      "greeter-grpc-route",
      (o) => ourConditions(o).Accepted !== undefined,
      "our route's status",
    );
    assert.equal(cluster.fake.get("GRPCRoute", "greeter", "lattice-route")?.status, undefined);
    assert.equal(cluster.fake.get("GatewayClass", "", "amazon-vpc-lattice")?.status, undefined);
    assert.ok(!JSON.stringify(gw.lines.find((l) => l.msg === "gateway ready")).includes('"port":8443'));
    await gw.stop();
  });

  test("with --lattice: served, parent entries carry the AWS controller's name, the domain is annotated", async () => {
    const gw = cluster.controller(["--lattice"]);
    await gw.ready();
    const route = await cluster.waitObject(
      "GRPCRoute",
      "greeter",
      "lattice-route",
      (o) =>
        ourConditions(o, AWS).Accepted?.status === "True" &&
        (o.metadata.annotations as Record<string, string> | undefined)?.[DOMAIN] !== undefined,
      "an Accepted entry of the AWS controller and the assigned domain annotation",
    );
    const domain = (route.metadata.annotations as Record<string, string>)[DOMAIN]!;
    assert.match(
      domain,
      /^lattice-route-greeter-[0-9a-f]{17}\.[0-9a-f]{7}\.vpc-lattice-svcs\.us-west-2\.on\.aws$/,
    );
    const cls = await cluster.waitObject(
      "GatewayClass",
      "",
      "amazon-vpc-lattice",
      (o) => o.status !== undefined,
      "status",
    );
    assert.ok(JSON.stringify(cls.status).includes("SupportedVersion"));
    await cluster.waitRequest(
      (r) => r.verb === "patch" && r.resource === "grpcroutes",
      "the annotation's merge patch",
    );
    await gw.stop();
  });
});

describe("deploy/", () => {
  test("kubectl kustomize renders it, and its RBAC allows exactly the requests the controller made", () => {
    // The policy kinds' rules are checked by policies.test.ts, whose scenarios use them, and
    // TargetGroupPolicy's by target-group-policy.test.ts.
    checkRbac(
      seen.filter((r) => r.user === "grpcroute"),
      (rule) => !isPolicyRule(rule) && !isLatticeRule(rule),
    );
  });
});
