/**
 * `/readyz` answers 503 (and why) until every listener is bound and the first configuration is applied,
 * then 200. Here the listener's port is taken when the gateway starts with --watch; once it is moved to a
 * free port the gateway becomes ready.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:net";
import { after, describe, test } from "node:test";
import { type Backend, closeAll, greeterClient, sayHello, startBackend } from "../helpers/index.js";
import { GatewayProcess, TempDir } from "./support/gateway-process.js";
import { DOC, gatewayYaml, routeYaml, serviceYaml } from "./support/manifests.js";

describe("readiness", { timeout: 120_000 }, () => {
  const dir = new TempDir();
  let backend: Backend | undefined;
  after(async () => {
    await backend?.close();
    dir.cleanup();
  });

  test("/readyz is 503 with the reason while a listener cannot bind, 200 once a configuration applies", async () => {
    backend = await startBackend({ name: "a" });
    const busy = createServer();
    busy.listen(0, "127.0.0.1");
    await once(busy, "listening");
    const busyPort = (busy.address() as { port: number }).port;
    const manifests = (port: number) =>
      gatewayYaml("gw", [{ name: "http", port }]) +
      DOC +
      serviceYaml("a", backend!.port) +
      DOC +
      routeYaml("r", "gw", [{ backends: { a: 1 } }]);
    const file = dir.write("ready.yaml", manifests(8080));
    const gw = new GatewayProcess([
      "-f",
      file,
      "--watch",
      "--debounce",
      "20",
      "--address",
      "127.0.0.1",
      "--admin",
      "127.0.0.1:0",
      "--port-map",
      `8080=${busyPort}`,
      "--port-map",
      "8081=0",
    ]);
    try {
      const waiting = await gw.waitForMsg(
        "not ready: waiting for a configuration that applies (files are watched)",
      );
      assert.ok(waiting);
      const rejected = gw.lines.find((l) => l.stage === "apply");
      assert.ok(rejected, "the failed apply is logged");
      const before = await gw.get("/readyz");
      assert.equal(before.status, 503);
      assert.match(before.body, /first configuration is not applied/);
      assert.equal((await gw.get("/healthz")).status, 200);

      dir.write("ready.yaml", manifests(8081));
      await gw.ready();
      const afterReady = await gw.get("/readyz");
      assert.equal(afterReady.status, 200, afterReady.body);
      const client = greeterClient(`127.0.0.1:${gw.localPort(8081)}`);
      const r = await sayHello(client, "ready", { timeoutMs: 5000 });
      assert.equal(r.code, 0, r.details);
      closeAll(client);
    } finally {
      busy.close();
      await gw.stop();
    }
  });

  test("unreadable input at start: a clear message and exit 2, no stack trace", async () => {
    const gw = new GatewayProcess(["-f", `${dir.path}/missing.yaml`, "--admin", "127.0.0.1:0"]);
    const exit = await gw.exited;
    assert.equal(exit.code, 2);
    assert.match(gw.stderr, /^grpcroute serve: cannot read the input: .*missing\.yaml/m);
    assert.doesNotMatch(gw.stderr, /\n\s+at /, "no stack trace");
  });

  test("bad flags: a clear message and exit 2", async () => {
    const gw = new GatewayProcess(["-f", "x.yaml", "--port-map", "80"]);
    const exit = await gw.exited;
    assert.equal(exit.code, 2);
    assert.match(gw.stderr, /--port-map "80": expected LISTENER_PORT=LOCAL_PORT/);
  });
});
