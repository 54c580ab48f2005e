/**
 * Why the controller has its own list-and-watch loop (src/kube/reflector.ts) instead of
 * @kubernetes/client-node's informer: run against the fake API server, the informer asks for no bookmarks,
 * and after a watch connection breaks it reports an error and stops for good until restarted by hand. If a later release fixes
 * both, this test fails: reconsider the choice then.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CustomObjectsApi, KubeConfig, makeInformer } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.js";
import { kindEntry, specOf } from "../../src/kube/kinds.js";
import { Reflector } from "../../src/kube/reflector.js";
import { Cluster } from "./support.js";

describe("@kubernetes/client-node's informer (the reasons it is not used)", { timeout: 60_000 }, () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await Cluster.start();
  });
  after(async () => {
    await cluster?.close();
  });

  test("it requests no bookmarks, and stops after a dropped watch", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const api = kc.makeApiClient(CustomObjectsApi);
    const path = "/apis/gateway.networking.k8s.io/v1/grpcroutes";
    const informer = makeInformer(
      kc,
      path,
      () =>
        api.listClusterCustomObject({
          group: "gateway.networking.k8s.io",
          version: "v1",
          plural: "grpcroutes",
        }) as never,
    );
    const errors: unknown[] = [];
    informer.on("error", (e) => errors.push(e));
    await informer.start();
    const watch = await cluster.waitRequest(
      (r) => r.verb === "watch" && r.resource === "grpcroutes",
      "the informer's watch",
    );
    assert.ok(!watch.path.includes("allowWatchBookmarks"), `bookmarks requested: ${watch.path}`);

    // Our reflector on another kind, side by side, as the yardstick: it must come back after the fault.
    const ours = new AbortController();
    const spec = specOf(kindEntry("GatewayClass")!, "v1");
    const reflector = new Reflector(new KubeClient(kc, cluster.fake.url), spec, {
      changed: () => {},
      error: () => {},
      listed: () => {},
    });
    const running = reflector.run(ours.signal);
    await cluster.waitRequest(
      (r) => r.verb === "watch" && r.resource === "gatewayclasses",
      "the reflector's watch",
    );

    const from = cluster.fake.requests.length;
    cluster.fake.dropWatches();
    await cluster.waitRequest(
      (r) => r.verb === "watch" && r.resource === "gatewayclasses",
      "the reflector watching again after the dropped watch",
      from,
    );
    const informerAfter = cluster.fake.requests.slice(from).filter((r) => r.resource === "grpcroutes");
    assert.deepEqual(informerAfter, [], "the informer came back by itself");
    assert.ok(errors.length > 0, "it reported the error and stopped");
    ours.abort();
    await running;
    await informer.stop();
  });
});
