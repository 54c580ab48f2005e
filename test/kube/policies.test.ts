/**
 * `grpcroute controller` and the policy kinds, against the fake API server with real backends: a
 * TrafficPolicy applied through the API server changes how calls are served and gets `status.ancestors`; a
 * BackendTLSPolicy with a ConfigMap CA makes calls to a TLS backend work, ConfigMaps being read only in its
 * namespace; CRDs that are not installed leave the controller serving and are picked up when they appear;
 * BackendTLSPolicy served only as v1alpha3 is read and written there. The requests made are checked against
 * deploy/'s RBAC rules for these kinds at the end (controller.test.ts checks the others).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { callGreeter } from "../../examples/call.mjs";
import type { GatewayProcess } from "../e2e/support/gateway-process.js";
import { type Backend, makeCa, makeLeaf, startBackend } from "../helpers/index.js";
import type { RequestRecord } from "./fake/apiserver.js";
import type { Obj } from "./fake/store.js";
import { backendTLSPolicy, hangingBackend, route, service, trafficPolicy } from "./policy-objects.js";
import { checkRbac, isPolicyRule } from "./rbac.js";
import { Cluster } from "./support.js";

const OURS = "grpcroute.dev/gateway-controller";
const seen: RequestRecord[] = [];

type Ancestor = {
  ancestorRef: Record<string, unknown>;
  controllerName: string;
  conditions: Record<string, unknown>[];
};

/** Our ancestor entry's conditions by type (the first entry of ours). */
function ourAncestor(o: Obj | undefined): Record<string, Record<string, unknown>> {
  const list = ((o?.status as { ancestors?: Ancestor[] } | undefined)?.ancestors ?? []).filter(
    (a) => a.controllerName === OURS,
  );
  return Object.fromEntries((list[0]?.conditions ?? []).map((c) => [String(c.type), c]));
}

/** Backends and a controller on a cluster; `follows` calls until an outcome comes (see controller.test.ts). */
class Scenario {
  gw!: GatewayProcess;
  constructor(readonly cluster: Cluster) {}

  call(to: string, timeoutMs = 5000) {
    return callGreeter({
      target: `127.0.0.1:${this.gw.localPort(8080)}`,
      method: "SayHello",
      metadata: { "x-to": to },
      timeoutMs,
    });
  }

  /** Calls until `ok(result)`; between tries waits for another applied configuration (20 s at most). */
  async follows(
    to: string,
    ok: (r: Awaited<ReturnType<Scenario["call"]>>) => boolean,
    what: string,
  ): Promise<Awaited<ReturnType<Scenario["call"]>>> {
    for (;;) {
      const from = this.gw.lines.length;
      const r = await this.call(to);
      if (ok(r)) return r;
      await this.gw.waitFor(
        (l) => l.msg === "configuration applied",
        `a configuration under which x-to: ${to} ${what} (last call: ${r.codeName} ${r.details ?? ""})`,
        20_000,
        from,
      );
    }
  }
}

describe("grpcroute controller reads policies from the API server", { timeout: 240_000 }, () => {
  let cluster: Cluster;
  let s: Scenario;
  const backends: Backend[] = [];
  const hanging: { close(): void }[] = [];
  let caPem = "";

  before(async () => {
    cluster = await Cluster.start();
    const ca = await makeCa();
    caPem = ca.certPem;
    const leaf = await makeLeaf(ca, { dns: ["greeter.internal"] });
    const slow = await hangingBackend();
    hanging.push(slow);
    const secure = await startBackend({ name: "secure", tls: leaf });
    backends.push(secure);
    for (const o of [
      ...service("slow", slow.port),
      ...service("secure", secure.port),
      route(["slow", "secure"]),
    ])
      cluster.fake.apply(o);
    s = new Scenario(cluster);
    s.gw = cluster.controller();
    await s.gw.ready();
  });

  after(async () => {
    seen.push(...(cluster?.fake.requests ?? []));
    for (const b of backends) b.kill();
    for (const h of hanging) h.close();
    await cluster?.close();
  });

  test("a TrafficPolicy's timeouts.request ends a hanging backend's call with DEADLINE_EXCEEDED", async () => {
    const before = await s.call("slow", 1500);
    assert.equal(before.codeName, "DEADLINE_EXCEEDED");
    assert.doesNotMatch(
      String(before.details),
      /timeouts\.request/,
      "without the policy, the client's deadline",
    );
    cluster.fake.apply(trafficPolicy("slow-timeout", "500ms"));
    const r = await s.follows(
      "slow",
      (x) => x.codeName === "DEADLINE_EXCEEDED" && /timeouts\.request/.test(String(x.details)),
      "ends at the policy's deadline",
    );
    assert.match(
      String(r.details),
      /deadline exceeded \(timeouts\.request 500 ms of TrafficPolicy greeter\/slow-timeout/,
    );
  });

  test("the TrafficPolicy's status.ancestors names the Gateway, through /status", async () => {
    const p = await cluster.waitObject(
      "TrafficPolicy",
      "greeter",
      "slow-timeout",
      (o) => ourAncestor(o).Accepted?.status === "True",
      "our ancestor entry Accepted",
    );
    const ours = (p.status as { ancestors: Ancestor[] }).ancestors.find((a) => a.controllerName === OURS)!;
    assert.deepEqual(ours.ancestorRef, {
      group: "gateway.networking.k8s.io",
      kind: "Gateway",
      namespace: "greeter",
      name: "my-hotel",
    });
    const accepted = ourAncestor(p).Accepted!;
    assert.equal(accepted.observedGeneration, p.metadata.generation);
    assert.match(String(accepted.lastTransitionTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // The store's change is seen before the request is logged: wait for the log entry.
    await cluster.waitRequest(
      (r) => r.verb === "update" && r.resource === "trafficpolicies" && r.subresource === "status",
      "a PUT of a TrafficPolicy's /status",
    );
  });

  test("other controllers' ancestor entries are kept; a conflict is re-read and retried", async () => {
    const cur = cluster.fake.get("TrafficPolicy", "greeter", "slow-timeout")!;
    const foreign = {
      ancestorRef: {
        group: "gateway.networking.k8s.io",
        kind: "Gateway",
        namespace: "greeter",
        name: "theirs",
      },
      controllerName: "example.com/other-controller",
      conditions: [
        {
          type: "Accepted",
          status: "True",
          reason: "Accepted",
          message: "",
          lastTransitionTime: "2024-01-01T00:00:00Z",
          observedGeneration: 1,
        },
      ],
    };
    const ancestors = (cur.status as { ancestors: unknown[] }).ancestors;
    cluster.fake.store.update(
      cluster.fake.def("TrafficPolicy"),
      "greeter",
      "slow-timeout",
      { ...cur, status: { ancestors: [foreign, ...ancestors] } },
      "status",
    );
    const before = ourAncestor(cluster.fake.get("TrafficPolicy", "greeter", "slow-timeout")).Accepted!;
    const from = s.gw.lines.length;
    cluster.fake.conflictNextWrite(1);
    cluster.fake.apply(trafficPolicy("slow-timeout", "400ms"));
    const after = await cluster.waitObject(
      "TrafficPolicy",
      "greeter",
      "slow-timeout",
      (o) => ourAncestor(o).Accepted?.observedGeneration === 2,
      "our entry at generation 2",
    );
    const names = (after.status as { ancestors: Ancestor[] }).ancestors.map((a) => a.controllerName);
    assert.deepEqual(names, ["example.com/other-controller", OURS]);
    assert.equal(
      ourAncestor(after).Accepted?.lastTransitionTime,
      before.lastTransitionTime,
      "Accepted stayed True: its lastTransitionTime is kept",
    );
    const line = await s.gw.waitFor(
      (l) => l.msg === "status written" && Number(l.conflicts) > 0,
      "a status pass with a conflict",
      20_000,
      from,
    );
    assert.equal(line.failed, 0);
  });

  test("a BackendTLSPolicy and a ConfigMap CA make calls to a TLS backend work", async () => {
    const before = await s.call("secure");
    assert.notEqual(before.codeName, "OK", "cleartext to a TLS backend fails");
    assert.ok(
      !cluster.fake.requests.some((r) => r.resource === "configmaps"),
      "no ConfigMap is read while no BackendTLSPolicy names one",
    );
    cluster.fake.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "elsewhere" } });
    for (const ns of ["greeter", "elsewhere"]) {
      cluster.fake.apply({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "greeter-ca", namespace: ns },
        data: { "ca.crt": caPem },
      });
    }
    cluster.fake.apply(backendTLSPolicy("gateway.networking.k8s.io/v1"));
    const r = await s.follows("secure", (x) => x.codeName === "OK", "is answered over TLS");
    assert.equal(r.backend, "secure");
    const p = await cluster.waitObject(
      "BackendTLSPolicy",
      "greeter",
      "secure",
      (o) => ourAncestor(o).ResolvedRefs?.status === "True",
      "our ancestor entry with ResolvedRefs True",
    );
    assert.equal(ourAncestor(p).Accepted?.status, "True");
    const cmRequests = cluster.fake.requests.filter((r) => r.resource === "configmaps");
    assert.ok(cmRequests.length > 0);
    assert.deepEqual(
      [...new Set(cmRequests.map((r) => `${r.verb} ${r.namespace}`))].sort(),
      ["list greeter", "watch greeter"],
      "ConfigMaps are read in the BackendTLSPolicy's namespace only",
    );

    // A spec change whose status write conflicts once.
    const from = s.gw.lines.length;
    cluster.fake.conflictNextWrite(1);
    cluster.fake.apply(
      backendTLSPolicy("gateway.networking.k8s.io/v1", {
        subjectAltNames: [{ type: "Hostname", hostname: "greeter.internal" }],
      }),
    );
    await cluster.waitObject(
      "BackendTLSPolicy",
      "greeter",
      "secure",
      (o) => ourAncestor(o).Accepted?.observedGeneration === 2,
      "our entry at generation 2",
    );
    await s.gw.waitFor(
      (l) => l.msg === "status written" && Number(l.conflicts) > 0,
      "a status pass with a conflict",
      20_000,
      from,
    );
    assert.equal((await s.call("secure")).codeName, "OK");
  });

  test("without the BackendTLSPolicy, its ConfigMaps are no longer read and calls fail closed", async () => {
    const from = s.gw.lines.length;
    cluster.fake.remove("BackendTLSPolicy", "greeter", "secure");
    await s.gw.waitFor(
      (l) => l.msg === "no longer read in this namespace" && l.kind === "ConfigMap",
      "the ConfigMap watch of greeter stopped",
      20_000,
      from,
    );
    await s.follows("secure", (x) => x.codeName !== "OK", "fails without TLS");
  });

  test("a namespace whose ConfigMaps cannot be read does not hold other changes back", async () => {
    cluster.fake.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "locked" } });
    cluster.fake.forbid = (r) => r.resource === "configmaps" && r.namespace === "locked";
    try {
      const from = s.gw.lines.length;
      const locked = backendTLSPolicy("gateway.networking.k8s.io/v1");
      locked.metadata.namespace = "locked";
      cluster.fake.apply(locked);
      await s.gw.waitFor(
        (l) => l.code === "GW_ERR_KUBE_FORBIDDEN" && l.kind === "ConfigMap",
        "the 403 on ConfigMaps in namespace locked",
        20_000,
        from,
      );
      const generation = Number(
        cluster.fake.apply(trafficPolicy("slow-timeout", "600ms")).metadata.generation,
      );
      await cluster.waitObject(
        "TrafficPolicy",
        "greeter",
        "slow-timeout",
        (o) => ourAncestor(o).Accepted?.observedGeneration === generation,
        `status at generation ${generation}, written after a configuration that holds the change`,
      );
      const r = await s.follows(
        "slow",
        (x) => /timeouts\.request 600 ms/.test(String(x.details)),
        "ends at the changed deadline",
      );
      assert.equal(r.codeName, "DEADLINE_EXCEEDED");
    } finally {
      cluster.fake.forbid = undefined;
    }
  });
});

describe("grpcroute controller when policy CRDs are missing", { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let s: Scenario;
  const hanging: { close(): void }[] = [];

  before(async () => {
    cluster = await Cluster.start({
      absent: ["TrafficPolicy", "BackendTLSPolicy"],
      backendTLSPolicy: "v1alpha3",
    });
    const slow = await hangingBackend();
    hanging.push(slow);
    for (const o of [...service("slow", slow.port), route(["slow"])]) cluster.fake.apply(o);
    s = new Scenario(cluster);
    s.gw = cluster.controller();
    await s.gw.ready();
  });

  after(async () => {
    seen.push(...(cluster?.fake.requests ?? []));
    for (const h of hanging) h.close();
    await cluster?.close();
  });

  test("it serves, with one GW_ERR_KUBE_NOT_SERVED line per missing kind, while discovery is asked again", async () => {
    const r = await callGreeter({ target: `127.0.0.1:${s.gw.localPort(8080)}`, method: "SayHello" });
    assert.equal(r.backend, "greeter-grpc-server:443", JSON.stringify(r));
    assert.equal((await s.gw.get("/readyz")).status, 200);
    // Two more discovery requests for TrafficPolicy after the first: it is re-checked, not logged again.
    const first = cluster.fake.requests.findIndex((x) => x.path === "/apis/grpcroute.dev/v1alpha1");
    assert.ok(first >= 0, "discovery asked for grpcroute.dev/v1alpha1");
    let n = 0;
    await cluster.waitRequest(
      (x) => x.path === "/apis/grpcroute.dev/v1alpha1" && ++n >= 2,
      "two more discovery requests for grpcroute.dev/v1alpha1",
      first + 1,
    );
    const lines = s.gw.lines.filter((l) => l.code === "GW_ERR_KUBE_NOT_SERVED");
    assert.deepEqual(lines.map((l) => l.kind).sort(), ["BackendTLSPolicy", "TrafficPolicy"]);
    assert.ok(!s.gw.dump().includes("    at "), "no stack trace");
  });

  test("a CRD installed later is picked up: TrafficPolicy gets status and routes", async () => {
    cluster.fake.installCrd("TrafficPolicy");
    cluster.fake.apply(trafficPolicy("slow-timeout", "300ms"));
    await s.gw.waitFor(
      (l) => l.kind === "TrafficPolicy" && /serves it now/.test(String(l.msg)),
      "the line saying TrafficPolicy is read",
    );
    // Status is written after the configuration that holds the policy was applied.
    await cluster.waitObject(
      "TrafficPolicy",
      "greeter",
      "slow-timeout",
      (o) => ourAncestor(o).Accepted?.status === "True",
      "our ancestor entry Accepted",
    );
    const r = await s.call("slow");
    assert.equal(r.codeName, "DEADLINE_EXCEEDED");
    assert.match(String(r.details), /timeouts\.request 300 ms/, `${JSON.stringify(r)}\n${s.gw.dump()}`);
  });

  test("BackendTLSPolicy served only as v1alpha3 is read and written there", async () => {
    cluster.fake.installCrd("BackendTLSPolicy");
    cluster.fake.apply({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "greeter-ca", namespace: "greeter" },
      data: { "ca.crt": (await makeCa()).certPem },
    });
    cluster.fake.apply(backendTLSPolicy("gateway.networking.k8s.io/v1alpha3"));
    await cluster.waitObject(
      "BackendTLSPolicy",
      "greeter",
      "secure",
      (o) => ourAncestor(o).Accepted !== undefined,
      "our ancestor entry",
    );
    const write = await cluster.waitRequest(
      (r) => r.resource === "backendtlspolicies" && r.verb === "update" && r.subresource === "status",
      "a PUT of the BackendTLSPolicy's /status",
    );
    assert.match(write.path, /^\/apis\/gateway\.networking\.k8s\.io\/v1alpha3\//);
    assert.ok(
      cluster.fake.requests.some(
        (r) =>
          r.verb === "list" &&
          r.path.startsWith("/apis/gateway.networking.k8s.io/v1alpha3/backendtlspolicies"),
      ),
    );
  });

  test("a CRD removed while running: read as empty again, calls keep being served", async () => {
    const from = s.gw.lines.length;
    cluster.fake.removeCrd("TrafficPolicy");
    await s.gw.waitFor(
      (l) => l.code === "GW_ERR_KUBE_NOT_SERVED" && l.kind === "TrafficPolicy",
      "the line saying TrafficPolicy is no longer served",
      20_000,
      from,
    );
    const r = await callGreeter({ target: `127.0.0.1:${s.gw.localPort(8080)}`, method: "SayHello" });
    assert.equal(r.codeName, "OK");
    // The policy is gone with its CRD: the slow backend's calls are no longer cut by it.
    const slow = await s.follows(
      "slow",
      (x) => x.codeName === "DEADLINE_EXCEEDED" && !/timeouts\.request/.test(String(x.details)),
      "is no longer cut by the policy",
    );
    assert.equal(slow.codeName, "DEADLINE_EXCEEDED");
  });
});

describe("deploy/ RBAC for the policy kinds", () => {
  test("allows every request made here, and each policy rule is used", () => {
    checkRbac(
      seen.filter((r) => r.user === "grpcroute"),
      isPolicyRule,
    );
  });
});
