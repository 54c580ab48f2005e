/**
 * SIGTERM: the gateway stops accepting, lets the call in flight finish, and exits 0.
 * SIGINT does the same (Ctrl-C).
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, describe, test } from "node:test";
import { type Backend, closeAll, greeterClient, sayHello, startBackend } from "../helpers/index.js";
import { GatewayProcess, TempDir } from "./support/gateway-process.js";
import { DOC, gatewayYaml, routeYaml, serviceYaml } from "./support/manifests.js";

describe("drain on SIGTERM and SIGINT", { timeout: 120_000 }, () => {
  const dir = new TempDir();
  const backends: Backend[] = [];
  after(async () => {
    for (const b of backends) await b.close();
    dir.cleanup();
  });

  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    test(`${sig}: a call in flight completes, then the process exits 0`, async () => {
      const slow = await startBackend({ name: `slow-${sig}`, delayMs: 800 });
      backends.push(slow);
      const file = dir.write(
        `drain-${sig}.yaml`,
        gatewayYaml("gw", [{ name: "http", port: 8080 }]) +
          DOC +
          serviceYaml("slow", slow.port) +
          DOC +
          routeYaml("r", "gw", [{ backends: { slow: 1 } }]),
      );
      const gw = new GatewayProcess(["-f", file, "--admin", "127.0.0.1:0", "--port-map", "8080=0"]);
      try {
        await gw.ready();
        const client = greeterClient(`127.0.0.1:${gw.localPort(8080)}`);
        const reached = once(slow, "call", { signal: AbortSignal.timeout(10_000) });
        const inFlight = sayHello(client, "drain", { timeoutMs: 15_000 });
        await reached;
        const from = gw.lines.length;
        gw.signal(sig);
        await gw.waitForMsg("shutting down: draining calls in flight", from);
        // While draining, load balancers are told to stop sending.
        const readyz = await gw.get("/readyz");
        assert.equal(readyz.status, 503);
        assert.match(readyz.body, /shutting down/);
        const result = await inFlight;
        assert.equal(result.code, 0, `the call in flight completes: ${result.details}`);
        assert.equal(result.headers["x-backend"], `slow-${sig}`);
        const exit = await gw.exited;
        assert.deepEqual(exit, { code: 0, signal: null }, gw.dump());
        assert.ok(gw.lines.some((l) => l.msg === "stopped"));
        closeAll(client);
      } finally {
        await gw.stop();
      }
    });
  }

  test("a call longer than --drain-timeout is cut at the deadline and the process still exits 0", async () => {
    const stuck = await startBackend({ name: "stuck", delayMs: 30_000 });
    backends.push(stuck);
    const file = dir.write(
      "drain-deadline.yaml",
      gatewayYaml("gw", [{ name: "http", port: 8080 }]) +
        DOC +
        serviceYaml("stuck", stuck.port) +
        DOC +
        routeYaml("r", "gw", [{ backends: { stuck: 1 } }]),
    );
    const gw = new GatewayProcess([
      "-f",
      file,
      "--admin",
      "127.0.0.1:0",
      "--port-map",
      "8080=0",
      "--drain-timeout",
      "300",
    ]);
    try {
      await gw.ready();
      const client = greeterClient(`127.0.0.1:${gw.localPort(8080)}`);
      const reached = once(stuck, "call", { signal: AbortSignal.timeout(10_000) });
      const inFlight = sayHello(client, "stuck", { timeoutMs: 20_000 });
      await reached;
      const started = performance.now();
      gw.signal("SIGTERM");
      const exit = await gw.exited;
      const tookMs = performance.now() - started;
      assert.deepEqual(exit, { code: 0, signal: null }, gw.dump());
      assert.ok(
        tookMs < 10_000,
        `exited at the drain deadline, not after the call (${Math.round(tookMs)} ms)`,
      );
      const result = await inFlight;
      assert.notEqual(result.code, 0, "the call cut at the deadline fails");
      closeAll(client);
    } finally {
      await gw.stop();
    }
  });
});
