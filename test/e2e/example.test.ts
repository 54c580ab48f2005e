/**
 * The bundled example (examples/greeter) through the real gateway process: its manifests as shipped, with
 * only the backend ports rewritten to test backends on ephemeral ports. Also checks the access-log line of a
 * call and every admin endpoint.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { callGreeter } from "../../examples/call.mjs";
import { type Greeter, startGreeter } from "../../examples/greeter-server.mjs";
import { GatewayProcess, ROOT, TempDir } from "./support/gateway-process.js";

const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(":") + 1));

// In the gateway's own process, and in two worker processes behind shared sockets.
for (const workers of ["1", "2"] as const) {
  describe(`bundled greeter example through grpcroute serve --workers ${workers}`, {
    timeout: 120_000,
  }, () => {
    const dir = new TempDir();
    let port50051: Greeter;
    let port443: Greeter;
    let gw: GatewayProcess;
    let target: string;

    before(async () => {
      port50051 = await startGreeter({ name: "greeter-grpc-server:50051", port: 0 });
      port443 = await startGreeter({ name: "greeter-grpc-server:443", port: 0 });
      const src = join(ROOT, "examples", "greeter");
      for (const name of readdirSync(src)) {
        const text = readFileSync(join(src, name), "utf8")
          .replaceAll("50151", String(portOf(port50051.address)))
          .replaceAll("50152", String(portOf(port443.address)));
        dir.write(name, text);
      }
      gw = new GatewayProcess([
        "-f",
        dir.path,
        "--admin",
        "127.0.0.1:0",
        "--port-map",
        "8080=0",
        "--workers",
        workers,
      ]);
      await gw.ready();
      target = `127.0.0.1:${gw.localPort(8080)}`;
    });

    after(async () => {
      await gw?.stop();
      await port50051?.close();
      await port443?.close();
      dir.cleanup();
    });

    test("each call reaches the backend its rule names, or gets UNIMPLEMENTED", async () => {
      const cases: {
        name: string;
        method: "SayHello" | "SayHelloAgain";
        metadata: Record<string, string>;
        want: { codeName: string; backend?: string };
      }[] = [
        {
          name: "method rule",
          method: "SayHello",
          metadata: {},
          want: { codeName: "OK", backend: "greeter-grpc-server:443" },
        },
        {
          name: "header rule",
          method: "SayHelloAgain",
          metadata: { testkey1: "testValue1" },
          want: { codeName: "OK", backend: "greeter-grpc-server:50051" },
        },
        {
          name: "a method match outranks a header match",
          method: "SayHello",
          metadata: { testkey1: "testValue1" },
          want: { codeName: "OK", backend: "greeter-grpc-server:443" },
        },
        { name: "no rule", method: "SayHelloAgain", metadata: {}, want: { codeName: "UNIMPLEMENTED" } },
        {
          name: "header value differs",
          method: "SayHelloAgain",
          metadata: { testkey1: "other" },
          want: { codeName: "UNIMPLEMENTED" },
        },
      ];
      for (const c of cases) {
        const r = await callGreeter({ target, method: c.method, metadata: c.metadata, name: "e2e" });
        assert.equal(r.codeName, c.want.codeName, `${c.name}: ${r.details ?? ""}`);
        if (c.want.backend !== undefined) {
          assert.equal(r.backend, c.want.backend, c.name);
          assert.match(
            r.message ?? "",
            new RegExp(`^Hello(?: again)?, e2e! \\(from ${c.want.backend} at `),
            c.name,
          );
        }
      }
    });

    test("a call writes one access-log line with listener, route, rule, backend, endpoint, status and duration", async () => {
      const from = gw.lines.length;
      const r = await callGreeter({ target, method: "SayHello", name: "log", authority: "greeter.local" });
      assert.equal(r.codeName, "OK");
      const line = await gw.waitFor(
        (l) => l.msg === "access" && l.authority === "greeter.local",
        "the access line",
        10_000,
        from,
      );
      assert.equal(line.level, "info");
      assert.equal(typeof line.time, "string");
      assert.equal(line.gateway, "greeter/my-hotel");
      assert.equal(line.listener, "http");
      assert.equal(line.path, "/helloworld.Greeter/SayHello");
      assert.equal(line.route, "greeter/greeter-grpc-route");
      assert.equal(line.rule, 1);
      assert.equal(line.backend, "service/greeter/greeter-grpc-server/port/443");
      assert.equal(line.endpoint, port443.address);
      assert.equal(line.grpcStatus, 0);
      assert.equal(line.grpcCode, "OK");
      assert.equal(typeof line.durationMs, "number");
      assert.ok((line.durationMs as number) >= 0);

      const unimplemented = await callGreeter({
        target,
        method: "SayHelloAgain",
        authority: "nowhere.local",
      });
      assert.equal(unimplemented.codeName, "UNIMPLEMENTED");
      const miss = await gw.waitFor(
        (l) => l.msg === "access" && l.authority === "nowhere.local",
        "the no-route access line",
        10_000,
        from,
      );
      assert.equal(miss.grpcCode, "UNIMPLEMENTED");
      assert.equal(miss.route, undefined);
    });

    test("admin endpoints: health, readiness, the routing table, status and metrics", async () => {
      await callGreeter({ target, method: "SayHello" });
      const health = await gw.get("/healthz");
      assert.equal(health.status, 200);
      const ready = await gw.get("/readyz");
      assert.equal(ready.status, 200, ready.body);

      const config = await gw.get("/config");
      assert.equal(config.status, 200);
      const table = JSON.parse(config.body) as {
        listeners: { name: string; port: number }[];
        clusters: object;
      };
      assert.deepEqual(
        table.listeners.map((l) => [l.name, l.port]),
        [["gateway/greeter/my-hotel/listener/http", 8080]],
      );
      assert.deepEqual(Object.keys(table.clusters).sort(), [
        "service/greeter/greeter-grpc-server/port/443",
        "service/greeter/greeter-grpc-server/port/50051",
      ]);

      const status = await gw.get("/status");
      assert.equal(status.status, 200);
      const list = JSON.parse(status.body) as {
        kind: string;
        items: { kind: string; metadata: { name: string }; status: Record<string, unknown> }[];
      };
      assert.equal(list.kind, "List");
      const route = list.items.find((i) => i.kind === "GRPCRoute");
      assert.equal(route?.metadata.name, "greeter-grpc-route");
      const parents = (route?.status.parents ?? []) as { conditions: { type: string; status: string }[] }[];
      const conditions = parents[0]?.conditions;
      assert.ok(conditions?.some((c) => c.type === "Accepted" && c.status === "True"));

      const metrics = await gw.get("/metrics");
      assert.equal(metrics.status, 200);
      const labels =
        'gateway="greeter/my-hotel",route="greeter/greeter-grpc-route",rule="1",backend="service/greeter/greeter-grpc-server/port/443"';
      const m = new RegExp(
        `grpcroute_calls_total\\{${labels.replaceAll(".", "\\.")},protocol="grpc",grpc_code="OK"\\} (\\d+)`,
      ).exec(metrics.body);
      assert.ok(m, `a call counter with the route's labels:\n${metrics.body}`);
      assert.ok(Number(m[1]) >= 1);
      assert.match(
        metrics.body,
        /grpcroute_calls_total\{gateway="greeter\/my-hotel",route="",rule="",backend="",protocol="grpc",grpc_code="UNIMPLEMENTED"\} \d+/,
      );
      assert.match(metrics.body, /grpcroute_call_duration_seconds_bucket\{/);
      assert.match(metrics.body, /grpcroute_active_calls \d+/);
      assert.match(metrics.body, /grpcroute_upstream_sessions \d+/);
      assert.match(metrics.body, /grpcroute_config_version 1/);
      assert.match(metrics.body, /grpcroute_config_reloads_total\{result="success"\} 1/);
    });
  });
}
