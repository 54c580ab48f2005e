/**
 * An edit that an API server would refuse does not take a serving route down: the gateway process keeps the
 * route's previous version serving, and says so in its log, on `/status` and in the reload metric. A fixed
 * version then applies, and deleting the route removes it.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Backend, closeAll, greeterClient, sayHello, startBackend } from "../helpers/index.js";
import { GatewayProcess, type LogLine, TempDir } from "./support/gateway-process.js";
import { DOC, gatewayYaml, routeYaml, serviceYaml } from "./support/manifests.js";

const OK = 0;
const UNIMPLEMENTED = 12;
const KEPT = "object rejected; its previous version keeps serving";
const applied = (l: LogLine) => l.msg === "configuration applied";

interface StatusDoc {
  kind: string;
  items: { kind: string; metadata: { name: string } }[];
  issues: Record<string, unknown>[];
}

describe("an invalid edit of a serving object", { timeout: 90_000 }, () => {
  const dir = new TempDir();
  let a: Backend;
  let b: Backend;

  before(async () => {
    a = await startBackend({ name: "a" });
    b = await startBackend({ name: "b" });
  });
  after(async () => {
    await a.close();
    await b.close();
    dir.cleanup();
  });

  test("keeps the previous version serving; a fixed version applies; a deletion deletes", async () => {
    const route = (weight: number, backend: "a" | "b") =>
      routeYaml("r", "gw", [{ service: "helloworld.Greeter", backends: { [backend]: weight } }]);
    dir.write(
      "gw.yaml",
      gatewayYaml("gw", [{ name: "http", port: 8080 }]) +
        DOC +
        serviceYaml("a", a.port) +
        DOC +
        serviceYaml("b", b.port),
    );
    const file = dir.write("route.yaml", route(1, "a"));
    const gw = new GatewayProcess([
      "-f",
      dir.path,
      "--watch",
      "--debounce",
      "20",
      "--workers",
      "1",
      "--admin",
      "127.0.0.1:0",
      "--port-map",
      "8080=0",
    ]);
    await gw.ready();
    const client = greeterClient(`127.0.0.1:${gw.localPort(8080)}`);
    try {
      const first = await sayHello(client, "first", { timeoutMs: 5000 });
      assert.equal(first.code, OK, first.details);
      assert.equal(first.headers["x-backend"], "a");

      // The edit: weight -1 is refused (backendRefs[].weight has a minimum of 0).
      let from = gw.lines.length;
      dir.write("route.yaml", route(-1, "b"));
      const appliedKept = await gw.waitFor(
        applied,
        "the configuration applied with the kept route",
        20_000,
        from,
      );
      const during = await sayHello(client, "during", { timeoutMs: 5000 });
      assert.equal(during.code, OK, `the previous version still routes: ${during.details}`);
      assert.equal(during.headers["x-backend"], "a", "the previous version, not the rejected one");

      assert.deepEqual(appliedKept.keptPrevious, ["GRPCRoute default/r"]);
      assert.ok(
        !gw.lines.slice(from).some((l) => l.msg === "object rejected"),
        "the kept route is not reported as dropped",
      );

      const kept = await gw.waitFor(
        (l) => l.msg === KEPT,
        "the log line saying the previous version is kept",
        20_000,
        from,
      );
      assert.equal(kept.level, "warn");
      assert.equal(kept.file, file);
      assert.equal(kept.object, "GRPCRoute default/r");
      assert.equal(kept.field, "spec.rules[0].backendRefs[0].weight");
      assert.match(String(kept.reason), /Invalid value: -1: must be greater than or equal to 0/);
      assert.match(String(kept.previous), /route\.yaml \(document 0, line 1\)/);
      const status = JSON.parse((await gw.get("/status")).body) as StatusDoc;
      assert.equal(status.kind, "List");
      assert.ok(status.items.some((i) => i.kind === "GRPCRoute" && i.metadata.name === "r"));
      assert.deepEqual(status.issues, [
        {
          severity: "error",
          file,
          document: 0,
          line: 1,
          object: "GRPCRoute default/r",
          field: "spec.rules[0].backendRefs[0].weight",
          reason: "Invalid value: -1: must be greater than or equal to 0",
          result: "kept_previous",
          previous: `${file} (document 0, line 1)`,
        },
      ]);
      let metrics = (await gw.get("/metrics")).body;
      assert.match(metrics, /grpcroute_config_reloads_total\{result="kept_previous"\} 1\n/);
      assert.match(metrics, /grpcroute_config_reloads_total\{result="success"\} 1\n/);
      assert.match(metrics, /grpcroute_config_kept_previous_objects 1\n/);

      // Fixed: the new version (to b) applies.
      from = gw.lines.length;
      dir.write("route.yaml", route(1, "b"));
      const fixed = await gw.waitFor(applied, "the fixed route applied", 20_000, from);
      assert.equal(fixed.keptPrevious, undefined);
      const afterFix = await sayHello(client, "fixed", { timeoutMs: 5000 });
      assert.equal(afterFix.code, OK, afterFix.details);
      assert.equal(afterFix.headers["x-backend"], "b", "the fixed version routes");
      assert.deepEqual((JSON.parse((await gw.get("/status")).body) as StatusDoc).issues, []);
      metrics = (await gw.get("/metrics")).body;
      assert.match(metrics, /grpcroute_config_kept_previous_objects 0\n/);
      assert.match(metrics, /grpcroute_config_reloads_total\{result="success"\} 2\n/);

      // Deleted: the route is gone.
      from = gw.lines.length;
      dir.remove("route.yaml");
      await gw.waitFor(applied, "the configuration without the route applied", 20_000, from);
      const gone = await sayHello(client, "gone", { timeoutMs: 5000 });
      assert.equal(gone.code, UNIMPLEMENTED, `no route after the deletion: ${gone.details}`);
    } finally {
      closeAll(client);
      await gw.stop();
    }
  });
});
