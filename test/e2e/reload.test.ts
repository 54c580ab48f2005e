/**
 * Reloads through the real gateway process: file edits with --watch and SIGHUP, with calls running the whole
 * time (none may fail), an invalid configuration that keeps the last good one serving, and a listener added
 * without disturbing a call in flight on another.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, test } from "node:test";
import {
  type Backend,
  closeAll,
  greeterClient,
  type grpc,
  sayHello,
  startBackend,
} from "../helpers/index.js";
import { GatewayProcess, type LogLine, TempDir } from "./support/gateway-process.js";
import { DOC, gatewayYaml, type ListenerSpec, routeYaml, serviceYaml } from "./support/manifests.js";

/** Runs `workers` call loops until `stop()`; counts successes per backend and collects failures. */
function load(client: grpc.Client, workers: number) {
  let running = true;
  const byBackend = new Map<string, number>();
  const failures: string[] = [];
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const r = await sayHello(client, "load", { timeoutMs: 10_000 });
      if (r.code === 0) {
        const b = r.headers["x-backend"] ?? "?";
        byBackend.set(b, (byBackend.get(b) ?? 0) + 1);
      } else {
        failures.push(`${r.code}: ${r.details}`);
      }
    }
  });
  return {
    byBackend,
    failures,
    total: () => [...byBackend.values()].reduce((a, b) => a + b, 0) + failures.length,
    /** Stops the loops; idempotent. */
    async stop(): Promise<void> {
      running = false;
      await Promise.all(loops);
    },
  };
}

function config(
  weights: { a: number; b: number },
  ports: { a: number; b: number; slow: number },
  listeners: ListenerSpec[],
) {
  return (
    gatewayYaml("gw", listeners) +
    DOC +
    serviceYaml("a", ports.a) +
    DOC +
    serviceYaml("b", ports.b) +
    DOC +
    serviceYaml("slow", ports.slow) +
    DOC +
    routeYaml("r", "gw", [
      // Service and method as well: a method match outranks a header-only one, and this rule must win.
      {
        service: "helloworld.Greeter",
        method: "SayHello",
        headers: { "x-slow": "1" },
        backends: { slow: 1 },
      },
      { service: "helloworld.Greeter", backends: weights },
    ])
  );
}

const applied = (version: number) => (l: LogLine) =>
  l.msg === "configuration applied" && typeof l.version === "number" && l.version >= version;

describe("reload", { timeout: 120_000 }, () => {
  const dir = new TempDir();
  let a: Backend;
  let b: Backend;
  let slow: Backend;
  let ports: { a: number; b: number; slow: number };
  const http: ListenerSpec[] = [{ name: "http", port: 8080 }];

  before(async () => {
    a = await startBackend({ name: "a" });
    b = await startBackend({ name: "b" });
    slow = await startBackend({ name: "slow", delayMs: 1000 });
    ports = { a: a.port, b: b.port, slow: slow.port };
  });
  after(async () => {
    await a.close();
    await b.close();
    await slow.close();
    dir.cleanup();
  });

  test("--watch: many file edits while calls run, none fails; an invalid edit keeps the last good table; a listener is added and removed without disturbing a call in flight", async () => {
    const file = dir.write("watch.yaml", config({ a: 1, b: 0 }, ports, http));
    const gw = new GatewayProcess([
      "-f",
      file,
      "--watch",
      "--debounce",
      "20",
      "--admin",
      "127.0.0.1:0",
      "--port-map",
      "8080=0",
      "--port-map",
      "9090=0",
    ]);
    const client = greeterClient(`127.0.0.1:${await gw.ready().then(() => gw.localPort(8080))}`);
    const traffic = load(client, 4);
    try {
      let version = Number((await gw.ready()).version);
      const RELOADS = 12;
      for (let i = 0; i < RELOADS; i++) {
        const weights = i % 2 === 0 ? { a: 0, b: 1 } : { a: 1, b: 0 };
        dir.write("watch.yaml", config(weights, ports, http));
        const line = await gw.waitFor(applied(version + 1), `reload ${i + 1} applied`);
        version = Number(line.version);
      }
      // The last edit (i = 11) sends everything to a: the table in use is the new one.
      const settled = await sayHello(client, "after", { timeoutMs: 5000 });
      assert.equal(settled.headers["x-backend"], "a");
      await traffic.stop();
      assert.deepEqual(traffic.failures, [], "no call failed during the reloads");
      assert.ok(traffic.total() >= RELOADS, `calls ran during the reloads (${traffic.total()})`);
      assert.ok((traffic.byBackend.get("b") ?? 0) > 0, "calls reached b while it had the weight");

      // An invalid edit: the old table keeps serving and the log names the file.
      let from = gw.lines.length;
      dir.write("watch.yaml", `${config({ a: 0, b: 1 }, ports, http)}\n  broken: [unclosed\n`);
      const rejected = await gw.waitFor(
        (l) => l.msg === "configuration rejected; the last good configuration keeps serving",
        "the rejection",
        20_000,
        from,
      );
      assert.equal(rejected.level, "error");
      assert.equal(rejected.stage, "read");
      assert.match(String(rejected.reason), /watch\.yaml/);
      assert.equal(rejected.serving, version);
      const still = await sayHello(client, "still", { timeoutMs: 5000 });
      assert.equal(still.code, 0);
      assert.equal(still.headers["x-backend"], "a", "the last good configuration still routes");
      const metrics = await gw.get("/metrics");
      assert.match(metrics.body, /grpcroute_config_reloads_total\{result="failure"\} [1-9]/);

      // A listener added: a slow call in flight on the first listener completes, the new one answers.
      const reached = once(slow, "call", { signal: AbortSignal.timeout(10_000) });
      const inFlight = sayHello(client, "slow", { metadata: { "x-slow": "1" }, timeoutMs: 10_000 });
      await reached;
      from = gw.lines.length;
      dir.write("watch.yaml", config({ a: 1, b: 0 }, ports, [...http, { name: "extra", port: 9090 }]));
      const added = await gw.waitFor(applied(version + 1), "the listener added", 20_000, from);
      assert.deepEqual(added.portsAdded, [9090]);
      const other = greeterClient(`127.0.0.1:${gw.localPort(9090)}`);
      const viaNew = await sayHello(other, "new", { timeoutMs: 5000 });
      assert.equal(viaNew.code, 0, viaNew.details);
      assert.equal(viaNew.headers["x-backend"], "a");
      const slowResult = await inFlight;
      assert.equal(
        slowResult.code,
        0,
        `the call in flight during the reload completes: ${slowResult.details}`,
      );
      assert.equal(slowResult.headers["x-backend"], "slow");
      const viaOld = await sayHello(client, "old", { timeoutMs: 5000 });
      assert.equal(viaOld.code, 0);
      closeAll(other);

      // And removed again: its port closes, the first listener keeps serving.
      from = gw.lines.length;
      dir.write("watch.yaml", config({ a: 1, b: 0 }, ports, http));
      const removed = await gw.waitFor(
        applied(Number(added.version) + 1),
        "the listener removed",
        20_000,
        from,
      );
      assert.deepEqual(removed.portsRemoved, [9090]);
      const afterRemoval = await sayHello(client, "kept", { timeoutMs: 5000 });
      assert.equal(afterRemoval.code, 0, afterRemoval.details);
    } finally {
      await traffic.stop();
      closeAll(client);
      await gw.stop();
    }
  });

  test("SIGHUP re-reads the files without --watch", async () => {
    const file = dir.write("hup.yaml", config({ a: 1, b: 0 }, ports, http));
    const gw = new GatewayProcess(["-f", file, "--admin", "127.0.0.1:0", "--port-map", "8080=0"]);
    const ready = await gw.ready();
    const client = greeterClient(`127.0.0.1:${gw.localPort(8080)}`);
    const traffic = load(client, 2);
    try {
      let version = Number(ready.version);
      for (let i = 0; i < 4; i++) {
        const target = i % 2 === 0 ? "b" : "a";
        dir.write("hup.yaml", config(target === "b" ? { a: 0, b: 1 } : { a: 1, b: 0 }, ports, http));
        const from = gw.lines.length;
        gw.signal("SIGHUP");
        const line = await gw.waitFor(applied(version + 1), `SIGHUP reload ${i + 1}`, 20_000, from);
        version = Number(line.version);
        const r = await sayHello(client, "hup", { timeoutMs: 5000 });
        assert.equal(r.headers["x-backend"], target);
      }
      await traffic.stop();
      assert.deepEqual(traffic.failures, []);
    } finally {
      await traffic.stop();
      closeAll(client);
      await gw.stop();
    }
  });
});
