import assert from "node:assert/strict";
import { hostname } from "node:os";
import { after, describe, test } from "node:test";
import { FakeSource, fakeDeps, gateway, memoryLogger, snapshot } from "../../test/e2e/support/fakes.js";
import { gatewayAddresses, type RunningGateway, type StartFailure, startGateway } from "./gateway.js";
import { parseServeArgs, type ServeOptions } from "./options.js";

function options(extra: string[] = []): ServeOptions {
  const p = parseServeArgs(["-f", "x.yaml", "--admin", "127.0.0.1:0", ...extra]);
  assert.equal(p.kind, "ok");
  return (p as { options: ServeOptions }).options;
}

function started(g: RunningGateway | StartFailure): RunningGateway {
  if (!("runner" in g)) assert.fail(`gateway did not start: ${g.message}`);
  return g;
}

async function get(g: RunningGateway, path: string): Promise<{ status: number; body: string; type: string }> {
  const res = await fetch(`http://127.0.0.1:${g.admin.port}${path}`);
  return { status: res.status, body: await res.text(), type: res.headers.get("content-type") ?? "" };
}

/** Resolves once the runner processed a snapshot of this version. */
function processed(g: RunningGateway, version: number): Promise<void> {
  return new Promise((resolve) => {
    const off = g.runner.onOutcome((o) => {
      if (o.version === version) {
        off();
        resolve();
      }
    });
  });
}

const running: RunningGateway[] = [];
after(async () => {
  for (const g of running) await g.stop();
});

describe("gateway start-up", { timeout: 120_000 }, () => {
  test("the first configuration is applied, logged with its bound ports, and served by the admin endpoints", async () => {
    const source = new FakeSource([
      snapshot(1, [gateway("gw", [{ name: "tls", port: 443, protocol: "HTTPS" }])]),
    ]);
    const deps = fakeDeps(source);
    const mem = memoryLogger();
    const g = started(await startGateway(options(), deps, { log: mem.log }));
    running.push(g);

    const ready = mem.lines().find((l) => l.msg === "gateway ready");
    assert.ok(ready, "a gateway ready line");
    assert.equal(ready.admin, `127.0.0.1:${g.admin.port}`);
    assert.deepEqual(ready.listeners, [
      { name: "gateway/default/gw/listener/tls", protocol: "HTTPS", port: 443, localPort: 40443 },
    ]);

    const cases: { path: string; status: number; has: string[]; hasNot?: string[] }[] = [
      { path: "/healthz", status: 200, has: ["ok"] },
      { path: "/readyz", status: 200, has: ["ready"] },
      { path: "/config", status: 200, has: ['"port": 443', "CERT", "[redacted]"], hasNot: ["SECRET-KEY"] },
      { path: "/status", status: 200, has: ['"kind":"List"', "default/gw"] },
      {
        path: "/metrics",
        status: 200,
        has: [
          "grpcroute_config_version 1",
          'grpcroute_config_reloads_total{result="success"} 1',
          "grpcroute_active_calls 3",
          "grpcroute_upstream_sessions 2",
        ],
      },
      { path: "/nope", status: 404, has: ["not found"] },
    ];
    for (const c of cases) {
      const res = await get(g, c.path);
      assert.equal(res.status, c.status, c.path);
      for (const s of c.has) assert.ok(res.body.includes(s), `${c.path} has ${s}:\n${res.body}`);
      for (const s of c.hasNot ?? []) assert.ok(!res.body.includes(s), `${c.path} must not have ${s}`);
    }
    const post = await fetch(`http://127.0.0.1:${g.admin.port}/config`, { method: "POST" });
    assert.equal(post.status, 405);
  });

  test("input that cannot be read at start fails with exit 2 and names the file", async () => {
    const fatal = [
      {
        severity: "error" as const,
        origin: { file: "bad.yaml", index: 3 },
        path: "",
        message: "YAML syntax error",
      },
    ];
    const source = new FakeSource([snapshot(1, [], fatal)]);
    const mem = memoryLogger();
    const r = await startGateway(options(), fakeDeps(source), { log: mem.log });
    assert.ok(!("runner" in r));
    assert.equal(r.code, 2);
    assert.match(r.message, /bad\.yaml \(document 3\): YAML syntax error/);
  });

  test("a first configuration that cannot be bound fails with exit 1 without --watch", async () => {
    const source = new FakeSource([snapshot(1, [gateway("gw", [{ name: "h", port: 8080 }])])]);
    const deps = fakeDeps(source);
    const wrapped = {
      ...deps,
      createDataplane: (...args: Parameters<typeof deps.createDataplane>) => {
        const dp = deps.createDataplane(...args);
        deps.dataplane().busyPorts.add(8080);
        return dp;
      },
    };
    const r = await startGateway(options(), wrapped, { log: memoryLogger().log });
    assert.ok(!("runner" in r));
    assert.equal(r.code, 1);
    assert.match(r.message, /EADDRINUSE/);
  });

  test("with --watch a first configuration that cannot be bound leaves the gateway running, not ready, until one applies", async () => {
    const source = new FakeSource([snapshot(1, [gateway("gw", [{ name: "h", port: 8080 }])])]);
    const deps = fakeDeps(source);
    const wrapped = {
      ...deps,
      createDataplane: (...args: Parameters<typeof deps.createDataplane>) => {
        const dp = deps.createDataplane(...args);
        deps.dataplane().busyPorts.add(8080);
        return dp;
      },
    };
    const mem = memoryLogger();
    const g = started(await startGateway(options(["--watch"]), wrapped, { log: mem.log }));
    running.push(g);
    const before = await get(g, "/readyz");
    assert.equal(before.status, 503);
    assert.match(before.body, /first configuration is not applied/);
    assert.equal((await get(g, "/config")).status, 503);

    const done = processed(g, 2);
    source.emit?.(snapshot(2, [gateway("gw", [{ name: "h", port: 8081 }])]));
    await done;
    assert.equal((await get(g, "/readyz")).status, 200);
    assert.ok(mem.lines().some((l) => l.msg === "gateway ready"));
  });
});

describe("reload", { timeout: 120_000 }, () => {
  test("a bad snapshot keeps the last good configuration and says why; a good one replaces it", async () => {
    const source = new FakeSource([snapshot(1, [gateway("gw", [{ name: "a", port: 80 }])])]);
    const deps = fakeDeps(source);
    const mem = memoryLogger();
    const g = started(await startGateway(options(), deps, { log: mem.log }));
    running.push(g);

    const fatal = [
      {
        severity: "error" as const,
        origin: { file: "routes.yaml", index: 1 },
        ref: { kind: "GRPCRoute", namespace: "default", name: "r" },
        path: "spec",
        message: "not a mapping",
      },
    ];
    let done = processed(g, 2);
    source.emit?.(snapshot(2, [], fatal));
    await done;
    assert.equal(g.runner.table()?.version, 1, "still serving version 1");
    const rejected = mem
      .lines()
      .find((l) => l.msg === "configuration rejected; the last good configuration keeps serving");
    assert.ok(rejected);
    assert.equal(rejected.serving, 1);
    assert.deepEqual(rejected.problems, [
      {
        reason: "not a mapping",
        file: "routes.yaml",
        document: 1,
        object: "GRPCRoute default/r",
        field: "spec",
      },
    ]);
    assert.match((await get(g, "/metrics")).body, /grpcroute_config_reloads_total\{result="failure"\} 1/);
    assert.match((await get(g, "/metrics")).body, /grpcroute_config_last_reload_successful 0/);

    done = processed(g, 3);
    source.emit?.(
      snapshot(3, [
        gateway("gw", [
          { name: "a", port: 80 },
          { name: "b", port: 81 },
        ]),
      ]),
    );
    await done;
    assert.equal(g.runner.table()?.version, 3);
    const applied = mem.lines().filter((l) => l.msg === "configuration applied");
    assert.deepEqual(applied.at(-1)?.portsAdded, [81]);
    assert.equal((await get(g, "/readyz")).status, 200);
  });

  test("snapshots arriving during an apply are coalesced: the newest wins", async () => {
    const source = new FakeSource([snapshot(1, [gateway("gw", [{ name: "a", port: 80 }])])]);
    const deps = fakeDeps(source);
    const g = started(await startGateway(options(), deps, { log: memoryLogger().log }));
    running.push(g);
    const dp = deps.dataplane();
    let open: () => void = () => {};
    dp.gate = new Promise((r) => {
      open = r;
    });
    const done = processed(g, 5);
    for (let v = 2; v <= 5; v++) source.emit?.(snapshot(v, [gateway("gw", [{ name: "a", port: 80 + v }])]));
    open();
    dp.gate = undefined;
    await done;
    assert.deepEqual(
      dp.applied.map((t) => t.version),
      [1, 2, 5],
    );
  });

  test("SIGHUP-style reload asks the source to read again", async () => {
    const source = new FakeSource([snapshot(1, [])]);
    const g = started(await startGateway(options(), fakeDeps(source), { log: memoryLogger().log }));
    running.push(g);
    g.runner.reload();
    assert.equal(source.reloads, 1);
  });
});

describe("calls and shutdown", { timeout: 120_000 }, () => {
  test("each call becomes one access line and one count with gateway, route, rule, backend and code", async () => {
    const source = new FakeSource([snapshot(1, [gateway("gw", [{ name: "a", port: 80 }])])]);
    const deps = fakeDeps(source);
    const mem = memoryLogger();
    const g = started(await startGateway(options(), deps, { log: mem.log }));
    running.push(g);
    const info = {
      listener: "gateway/default/gw/listener/a",
      authority: "greeter.example.com",
      path: "/helloworld.Greeter/SayHello",
      route: "grpcroute/default/greeter/rule/1/match/0",
      backend: "service/default/greeter/port/50051",
      endpoint: "127.0.0.1:50151",
      grpcStatus: 0,
      httpStatus: 200,
      durationMs: 1.23456,
      requestBytes: 12,
      responseBytes: 30,
    };
    deps.dataplane().call(info);
    deps.dataplane().call({ ...info, grpcStatus: 14, gatewayError: "no ready endpoint" });
    await mem.until((ls) => ls.filter((l) => l.msg === "access").length >= 2);
    const access = mem.lines().filter((l) => l.msg === "access");
    assert.equal(access.length, 2);
    const { time, ...first } = access[0] ?? {};
    assert.equal(typeof time, "string");
    assert.deepEqual(first, {
      level: "info",
      msg: "access",
      gateway: "default/gw",
      listener: "a",
      authority: "greeter.example.com",
      path: "/helloworld.Greeter/SayHello",
      protocol: "grpc",
      route: "default/greeter",
      rule: 1,
      backend: "service/default/greeter/port/50051",
      endpoint: "127.0.0.1:50151",
      grpcStatus: 0,
      grpcCode: "OK",
      httpStatus: 200,
      durationMs: 1.235,
      requestBytes: 12,
      responseBytes: 30,
    });
    assert.equal(access[1]?.gatewayError, "no ready endpoint");
    const metrics = (await get(g, "/metrics")).body;
    const labels =
      'gateway="default/gw",route="default/greeter",rule="1",backend="service/default/greeter/port/50051"';
    assert.ok(metrics.includes(`grpcroute_calls_total{${labels},protocol="grpc",grpc_code="OK"} 1`), metrics);
    assert.ok(metrics.includes(`grpcroute_calls_total{${labels},protocol="grpc",grpc_code="UNAVAILABLE"} 1`));
    assert.ok(metrics.includes(`grpcroute_call_duration_seconds_count{${labels}} 2`));
  });

  test("stop drains the data plane with the drain timeout and reports not ready while doing so", async () => {
    const source = new FakeSource([snapshot(1, [gateway("gw", [{ name: "a", port: 80 }])])]);
    const deps = fakeDeps(source);
    const mem = memoryLogger();
    const g = started(await startGateway(options(["--drain-timeout", "1234"]), deps, { log: mem.log }));
    const code = await g.stop();
    assert.equal(code, 0);
    assert.equal(await g.exited, 0);
    assert.equal(deps.dataplane().closedWith, 1234);
    assert.deepEqual(g.runner.readiness().reasons, ["shutting down"]);
    assert.ok(mem.lines().some((l) => l.msg === "stopped"));
  });
});

test("Gateway addresses: a specific bind address, else this host's name", { timeout: 120_000 }, () => {
  assert.deepEqual(gatewayAddresses("127.0.0.1"), [{ type: "IPAddress", value: "127.0.0.1" }]);
  assert.deepEqual(gatewayAddresses("::1"), [{ type: "IPAddress", value: "::1" }]);
  assert.deepEqual(gatewayAddresses("gw.example.com"), [{ type: "Hostname", value: "gw.example.com" }]);
  assert.deepEqual(gatewayAddresses("0.0.0.0"), [{ type: "Hostname", value: hostname() }]);
  assert.deepEqual(gatewayAddresses(undefined), [{ type: "Hostname", value: hostname() }]);
});
