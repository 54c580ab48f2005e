import assert from "node:assert/strict";
import { test } from "node:test";
import type { CallInfo } from "../dataplane/types.js";
import { GatewayMetrics } from "./metrics.js";

const call: CallInfo = {
  listener: "gateway/default/gw/listener/http",
  authority: "a.example",
  path: "/helloworld.Greeter/SayHello",
  route: "grpcroute/default/r/rule/2/match/0",
  backend: "service/default/s/port/80",
  grpcStatus: 0,
  httpStatus: 200,
  durationMs: 2.5,
  requestBytes: 1,
  responseBytes: 2,
};
const labels = 'gateway="default/gw",route="default/r",rule="2",backend="service/default/s/port/80"';

/** The sample lines of `name` (without HELP/TYPE), labels in the order written. */
function samples(text: string, name: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

test("call metrics: a counter per status and a duration histogram per route and backend", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.observeCall(call);
  m.observeCall({ ...call, durationMs: 0.2 });
  m.observeCall({ ...call, grpcStatus: 14, durationMs: 120_000 });
  const { route: _r, backend: _b, ...noRoute } = call;
  m.observeCall({ ...noRoute, grpcStatus: 12 });
  m.observeCall({ ...call, protocol: "grpc-web" });
  const text = await m.render();
  assert.deepEqual(samples(text, "grpcroute_calls_total"), [
    `grpcroute_calls_total{${labels},protocol="grpc",grpc_code="OK"} 2`,
    `grpcroute_calls_total{${labels},protocol="grpc",grpc_code="UNAVAILABLE"} 1`,
    'grpcroute_calls_total{gateway="default/gw",route="",rule="",backend="",protocol="grpc",grpc_code="UNIMPLEMENTED"} 1',
    `grpcroute_calls_total{${labels},protocol="grpc-web",grpc_code="OK"} 1`,
  ]);
  assert.match(text, /# TYPE grpcroute_calls_total counter/);
  assert.match(text, /# TYPE grpcroute_call_duration_seconds histogram/);
  const buckets = samples(text, "grpcroute_call_duration_seconds_bucket").filter((l) => l.includes(labels));
  const le = (bound: string) => buckets.find((l) => l.includes(`le="${bound}"`))?.split(" ")[1];
  assert.equal(le("0.0005"), "1", "0.2 ms");
  assert.equal(le("0.0025"), "3", "cumulative: 0.2 ms and twice 2.5 ms (gRPC and gRPC-Web)");
  assert.equal(le("60"), "3", "120 s is above every bound");
  assert.equal(le("+Inf"), "4");
  assert.ok(text.includes(`grpcroute_call_duration_seconds_count{${labels}} 4`));
  assert.ok(text.includes(`grpcroute_call_duration_seconds_sum{${labels}} 120.005`));
});

test("call metrics of several registries add up (worker processes)", async () => {
  const worker1 = new GatewayMetrics({ processMetrics: false });
  const worker2 = new GatewayMetrics({ processMetrics: false });
  worker1.observeCall(call);
  worker2.observeCall(call);
  worker2.observeCall({ ...call, durationMs: 0.1 });
  const primary = new GatewayMetrics({ processMetrics: false });
  primary.configApplied(7);
  primary.gatherFrom(async () => [
    await worker1.registry.getMetricsAsJSON(),
    await worker2.registry.getMetricsAsJSON(),
  ]);
  const text = await primary.render();
  assert.deepEqual(samples(text, "grpcroute_calls_total"), [
    `grpcroute_calls_total{${labels},protocol="grpc",grpc_code="OK"} 3`,
  ]);
  assert.ok(text.includes(`grpcroute_call_duration_seconds_count{${labels}} 3`));
  assert.match(text, /^grpcroute_config_version 7$/m);
});

test("reloads by result: an applied configuration with kept objects counts as kept_previous, not success", async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  const steps: { act: () => void; want: Record<string, string> }[] = [
    { act: () => {}, want: { success: "0", kept_previous: "0", failure: "0", kept: "0", ok: "" } },
    {
      act: () => m.configApplied(1),
      want: { success: "1", kept_previous: "0", failure: "0", kept: "0", ok: "1" },
    },
    {
      act: () => m.configApplied(2, 2),
      want: { success: "1", kept_previous: "1", failure: "0", kept: "2", ok: "1" },
    },
    {
      act: () => m.configFailed(),
      want: { success: "1", kept_previous: "1", failure: "1", kept: "2", ok: "0" },
    },
    {
      act: () => m.configApplied(4),
      want: { success: "2", kept_previous: "1", failure: "1", kept: "0", ok: "1" },
    },
  ];
  for (const [i, s] of steps.entries()) {
    s.act();
    const text = await m.render();
    for (const result of ["success", "kept_previous", "failure"]) {
      const line = samples(text, "grpcroute_config_reloads_total").find((l) => l.includes(`"${result}"`));
      assert.equal(line?.split(" ")[1], s.want[result], `step ${i}: ${result}`);
    }
    assert.equal(
      samples(text, "grpcroute_config_kept_previous_objects")[0]?.split(" ")[1],
      s.want.kept,
      `step ${i}`,
    );
    const ok = samples(text, "grpcroute_config_last_reload_successful")[0]?.split(" ")[1] ?? "";
    if (s.want.ok !== "") assert.equal(ok, s.want.ok, `step ${i}: last reload successful`);
  }
});

test("traffic policy metrics: retries, endpoint health, panic, ejections, retry buffer", async () => {
  const worker = (healthy: boolean) => {
    const m = new GatewayMetrics({
      processMetrics: false,
      stats: () => ({
        activeCalls: 0,
        upstreamSessions: 0,
        retryBufferedBytes: 100,
        endpointHealth: [
          { backend: "service/default/s/port/80", endpoint: "10.0.0.1:80", healthy },
          { backend: "service/default/s/port/80", endpoint: "10.0.0.2:80", healthy: true },
        ],
        panicBackends: healthy ? [] : ["service/default/t/port/80"],
      }),
    });
    m.observeCall({ ...call, attempts: 3 });
    m.observeCall(call);
    m.endpointEvent({
      kind: "ejected",
      backend: "service/default/s/port/80",
      endpoint: "10.0.0.1:80",
      reason: "",
    });
    m.endpointEvent({
      kind: "returned",
      backend: "service/default/s/port/80",
      endpoint: "10.0.0.1:80",
      reason: "",
    });
    return m;
  };
  const one = await worker(true).render();
  assert.deepEqual(samples(one, "grpcroute_retries_total"), [`grpcroute_retries_total{${labels}} 2`]);
  assert.deepEqual(samples(one, "grpcroute_ejections_total"), [
    'grpcroute_ejections_total{backend="service/default/s/port/80"} 1',
  ]);
  assert.deepEqual(samples(one, "grpcroute_retry_buffer_bytes"), ["grpcroute_retry_buffer_bytes 100"]);
  // Two workers: an endpoint is healthy only when every worker sees it healthy; panic when one is in it.
  const a = worker(true);
  const b = worker(false);
  const primary = new GatewayMetrics({ processMetrics: false });
  primary.gatherFrom(async () => [await a.registry.getMetricsAsJSON(), await b.registry.getMetricsAsJSON()]);
  const both = await primary.render();
  assert.deepEqual(samples(both, "grpcroute_endpoint_healthy"), [
    'grpcroute_endpoint_healthy{backend="service/default/s/port/80",endpoint="10.0.0.1:80"} 0',
    'grpcroute_endpoint_healthy{backend="service/default/s/port/80",endpoint="10.0.0.2:80"} 1',
  ]);
  assert.deepEqual(samples(both, "grpcroute_backend_panic"), [
    'grpcroute_backend_panic{backend="service/default/t/port/80"} 1',
  ]);
  assert.deepEqual(samples(both, "grpcroute_retries_total"), [`grpcroute_retries_total{${labels}} 4`]);
});
