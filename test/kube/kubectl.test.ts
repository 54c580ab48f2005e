/**
 * The fake API server is checked against a real client: Debian's kubectl (CI installs it) applies the bundled
 * example and the README's TrafficPolicies to it and reads them back, with the status the controller wrote.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { ROOT } from "../e2e/support/gateway-process.js";
import { Cluster, objects, ourConditions, readmeTrafficPolicies } from "./support.js";

const run = promisify(execFile);

describe("kubectl against the fake API server", { timeout: 120_000 }, () => {
  let cluster: Cluster;
  const kubectl = async (...args: string[]): Promise<string> => {
    try {
      return (await run("kubectl", ["--kubeconfig", cluster.kubeconfig, ...args], { timeout: 60_000 }))
        .stdout;
    } catch (err: unknown) {
      const e = err as { code?: unknown; stderr?: string };
      if (e.code === "ENOENT")
        assert.fail("kubectl is not installed (apt-get install -y kubectl; .ci/run does)");
      assert.fail(`kubectl ${args.join(" ")} failed: ${e.stderr ?? String(err)}`);
    }
  };

  before(async () => {
    cluster = await Cluster.start();
    // Start from an empty greeter namespace: kubectl creates the example's objects.
    for (const kind of ["GRPCRoute", "Gateway", "EndpointSlice", "Service"]) {
      for (const o of cluster.fake.store.list(cluster.fake.def(kind), "greeter", {})) {
        cluster.fake.remove(kind, "greeter", o.metadata.name);
      }
    }
  });

  after(async () => {
    await cluster?.close();
  });

  test("kubectl apply --validate=false -f examples/greeter creates, then leaves unchanged", async () => {
    const first = await kubectl("apply", "--validate=false", "-f", join(ROOT, "examples", "greeter"));
    assert.match(first, /grpcroute\.gateway\.networking\.k8s\.io\/greeter-grpc-route created/);
    assert.match(first, /service\/greeter-grpc-server created/);
    const again = await kubectl("apply", "--validate=false", "-f", join(ROOT, "examples", "greeter"));
    assert.match(again, /greeter-grpc-route unchanged/);
  });

  test("kubectl get grpcroutes -A -o yaml shows the status the controller wrote", async () => {
    const gw = cluster.controller();
    await gw.ready();
    await cluster.waitObject(
      "GRPCRoute",
      "greeter",
      "greeter-grpc-route",
      (o) => ourConditions(o).Accepted !== undefined,
      "status",
    );
    const list = objects(await kubectl("get", "grpcroutes", "-A", "-o", "yaml"))[0] as unknown as {
      kind: string;
      items: Record<string, unknown>[];
    };
    assert.equal(list.kind, "List");
    assert.equal(list.items.length, 1);
    assert.equal(ourConditions(list.items[0] as never).Accepted?.status, "True");
    await gw.stop();
  });

  test("kubectl applies the README's TrafficPolicies and shows the status.ancestors the controller wrote", async () => {
    const file = cluster.dir.write(
      "traffic-policies.yaml",
      readmeTrafficPolicies()
        .map((o) => stringify(o))
        .join("---\n"),
    );
    const out = await kubectl("apply", "--validate=false", "-f", file);
    assert.match(out, /trafficpolicy\.grpcroute\.dev\/greeter created/);
    assert.match(out, /trafficpolicy\.grpcroute\.dev\/greeter-backend created/);
    const gw = cluster.controller();
    await gw.ready();
    // The example's targets are not in the namespace: the status says so, per target.
    await cluster.waitObject(
      "TrafficPolicy",
      "grpcroute-system",
      "greeter",
      (o) => (o.status as { ancestors?: unknown[] } | undefined)?.ancestors !== undefined,
      "status.ancestors",
    );
    const list = objects(await kubectl("get", "trafficpolicies", "-A", "-o", "yaml"))[0] as unknown as {
      items: { metadata: { name: string }; status?: { ancestors?: { controllerName: string }[] } }[];
    };
    const greeter = list.items.find((i) => i.metadata.name === "greeter");
    assert.equal(greeter?.status?.ancestors?.[0]?.controllerName, "grpcroute.dev/gateway-controller");
    await gw.stop();
  });
});
