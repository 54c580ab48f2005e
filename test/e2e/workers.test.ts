/**
 * `serve --workers N` through the real process: connections spread over the workers, `/metrics` adds up
 * every worker's calls, a reload reaches every worker, a worker that dies is replaced while the others keep
 * serving, and SIGTERM stops them all. `--workers 1` keeps the data plane in the gateway's own process.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ErrorCode, PREFACE, settingsFrame } from "../../src/dataplane/relay/frames.js";
import { Attacker } from "../helpers/attacker.js";
import {
  type Backend,
  closeAll,
  greeterClient,
  type grpc,
  sayHello,
  startBackend,
} from "../helpers/index.js";
import { GatewayProcess, type LogLine, TempDir } from "./support/gateway-process.js";
import { DOC, gatewayYaml, routeYaml, serviceYaml } from "./support/manifests.js";

function config(backend: "a" | "b", ports: { a: number; b: number }): string {
  return (
    gatewayYaml("gw", [{ name: "http", port: 8080 }]) +
    DOC +
    serviceYaml("a", ports.a) +
    DOC +
    serviceYaml("b", ports.b) +
    DOC +
    routeYaml("r", "gw", [{ service: "helloworld.Greeter", backends: { [backend]: 1 } }])
  );
}

/** One call on each of `n` new connections; returns the backend that answered each. */
async function callOnNewConnections(target: string, n: number, clients: grpc.Client[]): Promise<string[]> {
  const fresh = Array.from({ length: n }, () => greeterClient(target));
  clients.push(...fresh);
  const results = await Promise.all(fresh.map((c) => sayHello(c, "w", { timeoutMs: 5000 })));
  return results.map((r) =>
    r.code === 0 ? (r.headers["x-backend"] ?? "?") : `error ${r.code}: ${r.details}`,
  );
}

const isAccess = (l: LogLine): boolean => l.msg === "access";

/** Sum of `grpcroute_calls_total` samples in a Prometheus exposition. */
function callsTotal(metrics: string): number {
  let n = 0;
  for (const line of metrics.split("\n")) {
    if (line.startsWith("grpcroute_calls_total{")) n += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return n;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("serve --workers", { timeout: 120_000 }, () => {
  const dir = new TempDir();
  const clients: grpc.Client[] = [];
  let a: Backend;
  let b: Backend;
  let ports: { a: number; b: number };

  before(async () => {
    a = await startBackend({ name: "a" });
    b = await startBackend({ name: "b" });
    ports = { a: a.port, b: b.port };
  });
  after(async () => {
    closeAll(...clients);
    await a.close();
    await b.close();
    dir.cleanup();
  });

  test("3 workers share the listener, report together, reload together, and one that dies is replaced", async () => {
    const file = dir.write("workers.yaml", config("a", ports));
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
      "--workers",
      "3",
    ]);
    try {
      const started = await gw.waitForMsg("workers started");
      const workers = started.workers as { worker: number; pid: number }[];
      assert.equal(workers.length, 3);
      await gw.ready();
      const target = `127.0.0.1:${gw.localPort(8080)}`;

      // Connections are handed to the workers in turn: 9 connections reach all three.
      const first = await callOnNewConnections(target, 9, clients);
      assert.deepEqual(first, Array(9).fill("a"));
      const access = await waitForCount(gw, isAccess, 9);
      const served = new Set(access.map((l) => l.worker));
      assert.equal(served.size, 3, `workers that served calls: ${[...served].join(", ")}`);

      // /metrics is every worker's calls added up (and the primary's reload counters).
      const metrics = (await gw.get("/metrics")).body;
      assert.equal(callsTotal(metrics), 9, "calls counted over all workers");
      assert.match(metrics, /^grpcroute_config_version 1$/m);

      // A reload reaches every worker: new connections, wherever they land, take the new route.
      let from = gw.lines.length;
      dir.write("workers.yaml", config("b", ports));
      await gw.waitFor(
        (l) => l.msg === "configuration applied" && Number(l.version) >= 2,
        "the reload",
        20_000,
        from,
      );
      assert.deepEqual(await callOnNewConnections(target, 9, clients), Array(9).fill("b"));

      // A worker that dies is replaced and given the current table; calls keep working throughout.
      from = gw.lines.length;
      const victim = workers[0]!;
      process.kill(victim.pid, "SIGKILL");
      await gw.waitFor((l) => l.msg?.startsWith("worker exited") === true, "the worker's exit", 20_000, from);
      const replaced = await gw.waitForMsg("worker started", from);
      assert.notEqual(replaced.pid, victim.pid);
      assert.equal(replaced.version, 2);
      assert.deepEqual(await callOnNewConnections(target, 9, clients), Array(9).fill("b"));
      assert.equal((await gw.get("/readyz")).status, 200);

      // SIGTERM stops the gateway and every worker.
      const pids = [...workers.slice(1).map((w) => w.pid), Number(replaced.pid)];
      const exit = await gw.stop();
      assert.equal(exit.code, 0, gw.dump());
      for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} still running`);
    } finally {
      await gw.stop();
    }
  });

  for (const workers of ["1", "2"]) {
    test(`--h2-* limits reach the data plane (--workers ${workers})`, { timeout: 60_000 }, async () => {
      const file = dir.write(`limits-${workers}.yaml`, config("a", ports));
      const gw = new GatewayProcess([
        "-f",
        file,
        "--admin",
        "127.0.0.1:0",
        "--port-map",
        "8080=0",
        "--workers",
        workers,
        "--h2-idle-timeout",
        "300",
      ]);
      try {
        await gw.ready();
        // Connections go to the workers in turn: four reach both. Each completes its handshake, opens no
        // stream, and must be closed by the idle timeout given on the command line (the default is minutes).
        const idle = await Promise.all(
          Array.from({ length: 4 }, () => Attacker.open(gw.localPort(8080), false)),
        );
        await Promise.all(
          idle.map((a) => a.send(Buffer.concat([PREFACE, settingsFrame([]), settingsFrame([], true)]))),
        );
        await Promise.all(idle.map((a) => a.closedWithin(10_000, "--h2-idle-timeout 300")));
        for (const a of idle) assert.equal(a.goawayCode(), ErrorCode.NO_ERROR);
      } finally {
        await gw.stop();
      }
    });
  }

  test("--workers 1 serves from the gateway's own process", async () => {
    const file = dir.write("one.yaml", config("a", ports));
    const gw = new GatewayProcess([
      "-f",
      file,
      "--admin",
      "127.0.0.1:0",
      "--port-map",
      "8080=0",
      "--workers",
      "1",
    ]);
    try {
      await gw.ready();
      assert.deepEqual(await callOnNewConnections(`127.0.0.1:${gw.localPort(8080)}`, 2, clients), ["a", "a"]);
      const [line] = await waitForCount(gw, isAccess, 2);
      assert.equal(line?.worker, undefined);
      assert.equal(
        gw.lines.some((l) => l.msg === "workers started"),
        false,
      );
      assert.equal(callsTotal((await gw.get("/metrics")).body), 2);
    } finally {
      await gw.stop();
    }
  });
});

/** Waits until `n` lines match; returns them. */
async function waitForCount(
  gw: GatewayProcess,
  pred: (l: LogLine) => boolean,
  n: number,
): Promise<LogLine[]> {
  await gw.waitFor(() => gw.lines.filter(pred).length >= n, `${n} matching lines`);
  return gw.lines.filter(pred);
}
