/**
 * `grpcroute controller` and the AWS controller's TargetGroupPolicy, against the fake API server (which serves
 * the AWS CRD with its status default and checks `status.conditions` as that CRD does) with real grpc-js
 * backends on 127.0.0.1 and 127.0.0.2 and an HTTP health server beside each:
 * - with `--lattice` a policy applied through the API server gets `status.conditions` through `/status`, its
 *   health check takes the endpoint whose health path fails out of the pick, and a spec change is written
 *   once (a 409 re-read and retried, the unchanged condition's lastTransitionTime kept);
 * - without `--lattice` the kind is not read at all (the AWS controller owns it in a real cluster);
 * - with `--lattice` and the CRD missing the controller serves, and reads the kind once the CRD appears.
 * The requests made are checked against deploy/'s TargetGroupPolicy rules at the end.
 *
 * VPC Lattice's shortest interval is 5 s and its smallest unhealthy threshold 2, and the controller runs as a
 * process (the file-mode test, test/lattice/health-checks.test.ts, shortens the table's interval in process):
 * the failing endpoint is out after its second check, one interval (5 s) after the policy applies. The test
 * waits on the controller's log line for it, never on time.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { callGreeter } from "../../examples/call.mjs";
import type { GatewayProcess } from "../e2e/support/gateway-process.js";
import {
  type Backend,
  closeAll,
  greeterClient,
  type grpc,
  sayHello,
  startBackend,
} from "../helpers/index.js";
import { type HealthServer, healthPair } from "../lattice/health-servers.js";
import type { RequestRecord } from "./fake/apiserver.js";
import type { Obj } from "./fake/store.js";
import { checkRbac, isLatticeRule } from "./rbac.js";
import { Cluster, ourConditions } from "./support.js";

const AWS = "application-networking.k8s.aws/gateway-api-controller";
const DOMAIN = "application-networking.k8s.aws/lattice-assigned-domain-name";
const AWS_GROUP = "application-networking.k8s.aws";
const seen: RequestRecord[] = [];

/** A Lattice GatewayClass, Gateway (HTTPS 8443) and route in greeter sending calls to Service `tg`. */
function latticeObjects(): Obj[] {
  return [
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: "amazon-vpc-lattice" },
      spec: { controllerName: AWS },
    },
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "lattice", namespace: "greeter" },
      spec: {
        gatewayClassName: "amazon-vpc-lattice",
        listeners: [{ name: "https", protocol: "HTTPS", port: 8443 }],
      },
    },
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GRPCRoute",
      metadata: { name: "tg-route", namespace: "greeter" },
      spec: {
        parentRefs: [{ name: "lattice", sectionName: "https" }],
        rules: [{ backendRefs: [{ name: "tg", port: 50051 }] }],
      },
    },
  ];
}

/** Service `tg` (port 50051) with one EndpointSlice per endpoint. */
function tgService(endpoints: { name: string; address: string; port: number }[]): Obj[] {
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "tg", namespace: "greeter" },
      spec: { ports: [{ name: "grpc", port: 50051 }] },
    },
    ...endpoints.map((e) => ({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: e.name, namespace: "greeter", labels: { "kubernetes.io/service-name": "tg" } },
      addressType: "IPv4",
      ports: [{ name: "grpc", port: e.port }],
      endpoints: [{ addresses: [e.address], conditions: { ready: true } }],
    })),
  ];
}

function targetGroupPolicy(service: string, healthPort: number, healthyThresholdCount = 2): Obj {
  return {
    apiVersion: `${AWS_GROUP}/v1alpha1`,
    kind: "TargetGroupPolicy",
    metadata: { name: service, namespace: "greeter" },
    spec: {
      targetRef: { group: "", kind: "Service", name: service },
      healthCheck: {
        enabled: true,
        protocolVersion: "HTTP1",
        path: "/healthz",
        port: healthPort,
        statusMatch: "200-299",
        intervalSeconds: 5,
        timeoutSeconds: 2,
        healthyThresholdCount,
        unhealthyThresholdCount: 2,
      },
    },
  };
}

/** The policy's conditions by type. */
function conditions(o: Obj | undefined): Record<string, Record<string, unknown>> {
  const list = ((o?.status as { conditions?: Record<string, unknown>[] } | undefined)?.conditions ??
    []) as Record<string, unknown>[];
  return Object.fromEntries(list.map((c) => [String(c.type), c]));
}

describe("grpcroute controller --lattice reads TargetGroupPolicy", { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let gw: GatewayProcess;
  let a: Backend;
  let b: Backend;
  let health: { a: HealthServer; b: HealthServer; port: number };
  let client: grpc.Client;

  /** Which backend answered each of `n` calls. */
  async function servedBy(n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await sayHello(client, "lattice");
      assert.equal(r.code, 0, `call ${i}: ${r.details}`);
      out.push(/from (\w+)/.exec(r.reply?.message ?? "")?.[1] ?? "");
    }
    return out;
  }

  before(async () => {
    cluster = await Cluster.start();
    [a, b] = await Promise.all([
      startBackend({ name: "a", host: "127.0.0.1" }),
      startBackend({ name: "b", host: "127.0.0.2" }),
    ]);
    health = await healthPair(1);
    // Endpoint b's health path fails from the start: only the policy's checks can notice it.
    health.b.status = 503;
    for (const o of [
      ...latticeObjects(),
      ...tgService([
        { name: "tg-a", address: "127.0.0.1", port: a.port },
        { name: "tg-b", address: "127.0.0.2", port: b.port },
      ]),
    ])
      cluster.fake.apply(o);
    const certDir = join(cluster.dir.path, "certs");
    gw = cluster.controller(["--lattice", "--cert-dir", certDir]);
    await gw.ready();
    const written = await gw.waitFor(
      (l) => typeof l.msg === "string" && l.msg.startsWith("generated certificate written"),
      "the generated certificate of the Lattice listener",
    );
    const route = await cluster.waitObject(
      "GRPCRoute",
      "greeter",
      "tg-route",
      (o) => (o.metadata.annotations as Record<string, string> | undefined)?.[DOMAIN] !== undefined,
      "the assigned domain annotation",
    );
    const authority = (route.metadata.annotations as Record<string, string>)[DOMAIN]!;
    client = greeterClient(`127.0.0.1:${gw.localPort(8443)}`, {
      authority,
      tls: { rootCert: readFileSync(String(written.path), "utf8"), servername: authority },
    });
  });

  after(async () => {
    seen.push(...(cluster?.fake.requests ?? []));
    if (client !== undefined) closeAll(client);
    await cluster?.close();
    await Promise.all([a?.close(), b?.close()]);
    health?.a.server.close();
    health?.b.server.close();
  });

  test("a policy applied through the API server gets status.conditions through /status", async () => {
    // Without a policy nothing checks the endpoints: both serve.
    const before = new Set<string>();
    for (let i = 0; i < 20 && before.size < 2; i++) for (const x of await servedBy(1)) before.add(x);
    assert.deepEqual([...before].sort(), ["a", "b"], "both endpoints serve without the policy");
    assert.equal(health.a.seen.length + health.b.seen.length, 0, "no health check without the policy");
    const created = cluster.fake.apply(targetGroupPolicy("tg", health.port));
    assert.equal(conditions(created).Accepted?.status, "Unknown", "the CRD's default status");
    const p = await cluster.waitObject(
      "TargetGroupPolicy",
      "greeter",
      "tg",
      (o) => conditions(o).Accepted?.status === "True",
      "an Accepted condition that is True",
    );
    const accepted = conditions(p).Accepted!;
    assert.equal(accepted.reason, "Accepted");
    assert.match(String(accepted.message), /health check HTTP1 GET \/healthz on port \d+/);
    assert.equal(accepted.observedGeneration, p.metadata.generation);
    assert.match(String(accepted.lastTransitionTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.notEqual(accepted.lastTransitionTime, "1970-01-01T00:00:00Z", "Unknown -> True is a transition");
    assert.deepEqual(
      Object.keys(conditions(p)),
      ["Accepted"],
      "the default condition is replaced, not added to",
    );
    assert.equal((p.status as Record<string, unknown>).ancestors, undefined, "no ancestors");
    await cluster.waitRequest(
      (r) =>
        r.verb === "update" &&
        r.resource === "targetgrouppolicies" &&
        r.subresource === "status" &&
        r.status === 200,
      "a PUT of the TargetGroupPolicy's /status",
    );
    // The route's parent entry is the AWS controller's, as for any Lattice-profile route.
    assert.equal(
      ourConditions(cluster.fake.get("GRPCRoute", "greeter", "tg-route"), AWS).Accepted?.status,
      "True",
    );
  });

  test("its health check takes the endpoint whose health path fails out of the pick", async () => {
    const bAddress = `127.0.0.2:${b.port}`;
    const line = await gw.waitFor(
      (l) => l.msg === "endpoint unhealthy: out of the pick" && l.endpoint === bAddress,
      `endpoint ${bAddress} out of the pick after two failed checks, 5 s apart`,
      30_000,
    );
    assert.match(String(line.reason), /2 HTTP health check\(s\) failed in a row, the last: HTTP 503/);
    assert.equal(health.b.seen[0]?.path, "/healthz");
    assert.deepEqual(await servedBy(6), ["a", "a", "a", "a", "a", "a"], "no call reaches endpoint b");
  });

  test("a spec change is written once: a 409 is re-read and retried, lastTransitionTime kept", async () => {
    const before = conditions(cluster.fake.get("TargetGroupPolicy", "greeter", "tg")).Accepted!;
    const from = gw.lines.length;
    cluster.fake.conflictNextWrite(1);
    const generation = Number(
      cluster.fake.apply(targetGroupPolicy("tg", health.port, 3)).metadata.generation,
    );
    assert.equal(generation, 2);
    const p = await cluster.waitObject(
      "TargetGroupPolicy",
      "greeter",
      "tg",
      (o) => conditions(o).Accepted?.observedGeneration === 2,
      "the Accepted condition at generation 2",
    );
    assert.equal(conditions(p).Accepted?.lastTransitionTime, before.lastTransitionTime);
    await gw.waitFor(
      (l) => l.msg === "status written" && Number(l.conflicts) > 0 && l.failed === 0,
      "a status pass with a conflict and no failure",
      20_000,
      from,
    );
    // A change that leaves the policy's status as it is writes nothing to it.
    const fromRequests = cluster.fake.requests.length;
    const fromLines = gw.lines.length;
    cluster.fake.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "unrelated" } });
    await gw.waitFor(
      (l) => l.msg === "status unchanged" || l.msg === "status written",
      "the status pass after an unrelated change",
      20_000,
      fromLines,
    );
    assert.deepEqual(
      cluster.fake
        .writes(fromRequests)
        .filter((r) => r.resource === "targetgrouppolicies")
        .map((r) => r.path),
      [],
      "no write of an unchanged TargetGroupPolicy status",
    );
  });
});

describe("grpcroute controller without --lattice", { timeout: 120_000 }, () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await Cluster.start();
    for (const o of [...latticeObjects(), ...tgService([{ name: "tg-a", address: "127.0.0.1", port: 1 }])])
      cluster.fake.apply(o);
    cluster.fake.apply(targetGroupPolicy("tg", 8081));
  });

  after(async () => {
    seen.push(...(cluster?.fake.requests ?? []));
    await cluster?.close();
  });

  test("does not read TargetGroupPolicy: it is the AWS controller's", async () => {
    const gw = cluster.controller();
    await gw.ready();
    await cluster.waitObject(
      "GRPCRoute",
      "greeter",
      "greeter-grpc-route",
      (o) => ourConditions(o).Accepted !== undefined,
      "our route's status",
    );
    const asked = cluster.fake.requests.filter((r) => r.path.includes(AWS_GROUP)).map((r) => r.path);
    assert.deepEqual(asked, [], "no discovery, list, watch or write of the AWS controller's group");
    assert.deepEqual(
      conditions(cluster.fake.get("TargetGroupPolicy", "greeter", "tg")).Accepted?.reason,
      "NotReconciled",
      "the CRD's default status stays",
    );
    assert.ok(!gw.lines.some((l) => l.kind === "TargetGroupPolicy"), "no line about the kind");
    await gw.stop();
  });
});

describe("grpcroute controller --lattice when the TargetGroupPolicy CRD is missing", {
  timeout: 120_000,
}, () => {
  let cluster: Cluster;
  let gw: GatewayProcess;

  before(async () => {
    cluster = await Cluster.start({ absent: ["TargetGroupPolicy"] });
    gw = cluster.controller(["--lattice"]);
    await gw.ready();
  });

  after(async () => {
    seen.push(...(cluster?.fake.requests ?? []));
    await cluster?.close();
  });

  test("it serves, with one GW_ERR_KUBE_NOT_SERVED line, and reads the kind once the CRD appears", async () => {
    const r = await callGreeter({ target: `127.0.0.1:${gw.localPort(8080)}`, method: "SayHello" });
    assert.equal(r.codeName, "OK", JSON.stringify(r));
    assert.equal((await gw.get("/readyz")).status, 200);
    const lines = gw.lines.filter((l) => l.code === "GW_ERR_KUBE_NOT_SERVED");
    assert.deepEqual(
      lines.map((l) => l.kind),
      ["TargetGroupPolicy"],
    );
    assert.ok(!gw.dump().includes("    at "), "no stack trace");

    cluster.fake.installCrd("TargetGroupPolicy");
    cluster.fake.apply(targetGroupPolicy("greeter-grpc-server", 8081));
    await gw.waitFor(
      (l) => l.kind === "TargetGroupPolicy" && /serves it now/.test(String(l.msg)),
      "the line saying TargetGroupPolicy is read",
    );
    const p = await cluster.waitObject(
      "TargetGroupPolicy",
      "greeter",
      "greeter-grpc-server",
      (o) => conditions(o).Accepted?.observedGeneration === 1,
      "our Accepted condition",
    );
    // The Service exists but only a standard-profile Gateway uses it.
    assert.equal(conditions(p).Accepted?.reason, "Invalid");
    assert.match(String(conditions(p).Accepted?.message), /standard profile/);
  });
});

describe("deploy/ RBAC for TargetGroupPolicy", () => {
  test("allows every request made here, and each TargetGroupPolicy rule is used", () => {
    checkRbac(
      seen.filter((r) => r.user === "grpcroute"),
      isLatticeRule,
    );
  });
});
