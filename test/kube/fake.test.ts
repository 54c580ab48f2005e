/**
 * The fake API server is as strict as a real one where controllers go wrong; each case is a request a real
 * server refuses, with its status code.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { KubeApiError, KubeClient } from "../../src/kube/client.js";
import { loadKubeConfig } from "../../src/kube/config.js";
import { Cluster } from "./support.js";

describe("the fake API server's strictness", { timeout: 60_000 }, () => {
  let cluster: Cluster;
  let client: KubeClient;
  before(async () => {
    cluster = await Cluster.start();
    const loaded = loadKubeConfig({ kubeconfig: cluster.kubeconfig });
    client = new KubeClient(loaded.config, loaded.server);
  });
  after(async () => {
    client?.close();
    await cluster?.close();
  });

  const route = "/apis/gateway.networking.k8s.io/v1/namespaces/greeter/grpcroutes/greeter-grpc-route";
  const leases = "/apis/coordination.k8s.io/v1/namespaces/grpcroute-system/leases";
  const condition = {
    type: "Accepted",
    status: "True",
    reason: "Accepted",
    message: "",
    observedGeneration: 1,
  };
  const parent = (c: Record<string, unknown>) => ({
    parents: [
      {
        parentRef: { name: "my-hotel" },
        controllerName: "grpcroute.dev/gateway-controller",
        conditions: [c],
      },
    ],
  });

  async function status(
    method: string,
    path: string,
    body: (cur: Record<string, unknown>) => unknown,
  ): Promise<number> {
    const cur = await client.request<Record<string, unknown>>("GET", path.replace(/\/status$/, ""));
    try {
      await client.request(method, path, { body: body(cur) });
      return 200;
    } catch (err: unknown) {
      if (err instanceof KubeApiError) return err.status;
      throw err;
    }
  }

  test("refuses what a real API server refuses", async () => {
    const cases: {
      name: string;
      method: string;
      path: string;
      body: (cur: Record<string, unknown>) => unknown;
      want: number;
    }[] = [
      {
        name: "a condition without lastTransitionTime",
        method: "PUT",
        path: `${route}/status`,
        body: (cur) => ({ ...cur, status: parent(condition) }),
        want: 422,
      },
      {
        name: "a condition with lastTransitionTime",
        method: "PUT",
        path: `${route}/status`,
        body: (cur) => ({
          ...cur,
          status: parent({ ...condition, lastTransitionTime: "2026-01-01T00:00:00Z" }),
        }),
        want: 200,
      },
      {
        name: "a stale resourceVersion",
        method: "PUT",
        path: `${route}/status`,
        body: (cur) => ({ ...cur, metadata: { ...(cur.metadata as object), resourceVersion: "1" } }),
        want: 409,
      },
      {
        name: "an update without resourceVersion",
        method: "PUT",
        path: route,
        body: (cur) => ({ ...cur, metadata: { name: "greeter-grpc-route", namespace: "greeter" } }),
        want: 422,
      },
      {
        name: "a Lease time with three fractional digits (toISOString)",
        method: "POST",
        path: leases,
        body: () => ({
          metadata: { name: "a" },
          spec: { holderIdentity: "x", renewTime: new Date().toISOString() },
        }),
        want: 400,
      },
      {
        name: "a Lease time with six fractional digits",
        method: "POST",
        path: leases,
        body: () => ({
          metadata: { name: "b" },
          spec: { holderIdentity: "x", renewTime: "2026-01-01T00:00:00.123456Z" },
        }),
        want: 200,
      },
    ];
    for (const c of cases) assert.equal(await status(c.method, c.path, c.body), c.want, c.name);
  });

  test("generation moves with the spec only", async () => {
    const before = cluster.fake.get("GRPCRoute", "greeter", "greeter-grpc-route")!;
    const g0 = Number(before.metadata.generation);
    await client.request("PATCH", route, {
      body: { metadata: { labels: { a: "b" } } },
      contentType: "application/merge-patch+json",
    });
    assert.equal(cluster.fake.get("GRPCRoute", "greeter", "greeter-grpc-route")!.metadata.generation, g0);
    await client.request("PATCH", route, {
      body: { spec: { hostnames: ["a.example.com"] } },
      contentType: "application/merge-patch+json",
    });
    assert.equal(cluster.fake.get("GRPCRoute", "greeter", "greeter-grpc-route")!.metadata.generation, g0 + 1);
  });
});
