import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Explanation } from "../../src/dataplane/explain.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURE = "test/dataplane/explain/gateway.yaml";

/** Runs `grpcroute explain` as a child process. */
async function explain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "explain", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const [code] = (await once(child, "close")) as [number];
  return { code, stdout, stderr };
}

describe("grpcroute explain", { timeout: 120_000 }, () => {
  const cases: {
    name: string;
    args: string[];
    code: number;
    check: (e: Explanation) => void;
  }[] = [
    {
      name: "weighted backends with endpoints; the header rule lost",
      args: ["--authority", "greet.example.com:80", "--path", "/helloworld.Greeter/SayHello"],
      code: 0,
      check: (e) => {
        const p = e.ports[0]!;
        assert.equal(p.listener?.listener, "http");
        assert.equal(p.route?.name, "grpcroute/default/greeter/rule/1/match/0");
        assert.deepEqual(
          p.backends.map((b) => [b.cluster, b.weight, b.sharePercent, b.endpoints]),
          [
            ["service/default/greeter/port/50051", 90, 90, ["10.0.0.1:50051", "10.0.0.2:50051"]],
            ["service/default/greeter-canary/port/50051", 10, 10, ["10.0.0.9:50051"]],
          ],
        );
        const lost = p.candidates.find((c) => c.route === "grpcroute/default/greeter/rule/0/match/0");
        assert.match(lost?.reason ?? "", /x-version.*header absent/);
      },
    },
    {
      name: "a header match wins; the broader rule lost on precedence",
      args: ["--authority", "x", "--path", "/helloworld.Greeter/SayHello", "-H", "X-Version=canary"],
      code: 0,
      check: (e) => {
        const p = e.ports[0]!;
        assert.equal(p.route?.name, "grpcroute/default/greeter/rule/0/match/0");
        const lost = p.candidates.find((c) => c.route === "grpcroute/default/greeter/rule/1/match/0");
        assert.match(lost?.reason ?? "", /comes first in precedence order/);
      },
    },
    {
      name: "the exact-hostname listener is chosen and isolates its routes",
      args: ["--authority", "api.example.com", "--path", "/helloworld.Greeter/SayHello"],
      code: 0,
      check: (e) => {
        const p = e.ports[0]!;
        assert.equal(p.listener?.listener, "api");
        assert.equal(p.route?.name, "grpcroute/default/api/rule/0/match/0");
        assert.match(p.otherListeners[0]?.reason ?? "", /more specific/);
        assert.ok(
          p.candidates.filter((c) => c.listener.endsWith("/http")).every((c) => /not chosen/.test(c.reason)),
        );
      },
    },
    {
      name: "a Service without ready endpoints hands its share to the other backendRef",
      args: ["--authority", "x", "--path", "/spare.S/M"],
      code: 0,
      check: (e) => {
        assert.deepEqual(
          e.ports[0]!.backends.map((b) => [b.cluster, b.failover, b.answer]),
          [
            ["service/default/idle/port/50051", "no ready endpoint", undefined],
            ["service/default/greeter/port/50051", undefined, undefined],
          ],
        );
      },
    },
    {
      name: "no route: the UNIMPLEMENTED answer, each candidate says why",
      args: ["--authority", "x", "--path", "/a.B/C"],
      code: 1,
      check: (e) => {
        const p = e.ports[0]!;
        assert.equal(p.route, null);
        assert.equal(p.answer?.grpcStatus, 12);
        assert.ok(p.candidates.some((c) => /does not accept \/a\.B\/C/.test(c.reason)));
      },
    },
    {
      name: "a malformed path matches no route",
      args: ["--authority", "x", "--path", "not-a-grpc-path"],
      code: 1,
      check: (e) => {
        assert.equal(e.pathValid, false);
        assert.equal(e.ports[0]?.answer?.grpcStatus, 12);
      },
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = await explain(["-f", FIXTURE, ...c.args, "-o", "json"]);
      assert.equal(r.code, c.code, r.stderr);
      c.check(JSON.parse(r.stdout) as Explanation);
    });
  }

  it("prints text for people", async () => {
    const r = await explain(["-f", FIXTURE, "--authority", "x", "--path", "/helloworld.Greeter/SayHello"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /listener: http of gateway default\/gw/);
    assert.match(r.stdout, /route: grpcroute\/default\/greeter\/rule\/1\/match\/0/);
    assert.match(r.stdout, /weight 90 \(90% of calls\): endpoints 10\.0\.0\.1:50051, 10\.0\.0\.2:50051/);
    assert.match(r.stdout, /other candidates:/);
    const spare = await explain(["-f", FIXTURE, "--authority", "x", "--path", "/spare.S/M"]);
    assert.match(
      spare.stdout,
      /idle\/port\/50051 weight 1 \(50% of calls\): no endpoints\n\s+its share goes to the other backendRefs: no ready endpoint/,
    );
  });

  it("shows the traffic policies in effect: the rule's timeouts and retries, each backend's", async () => {
    const args = ["-f", FIXTURE, "-f", "test/dataplane/explain/policies.yaml"];
    const call = ["--authority", "greet.example.com", "--path", "/helloworld.Greeter/SayHello"];
    const json = await explain([...args, ...call, "-o", "json"]);
    assert.equal(json.code, 0, json.stderr);
    const p = (JSON.parse(json.stdout) as Explanation).ports[0]!;
    assert.deepEqual(p.policy, {
      timeouts: { request: "30s", streamIdle: "5m", source: "TrafficPolicy default/gateway-timeouts" },
      retry: {
        attempts: 3,
        on: ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
        perTryTimeout: "1s",
        backoff: "25ms doubling to 250ms",
        maxBufferedBytes: 65536,
        budgetPercent: 20,
        source: "TrafficPolicy default/greeter-retry",
      },
    });
    const [greeter, canary] = p.backends;
    assert.equal(greeter?.policy?.connectTimeout?.value, "2s");
    assert.match(greeter?.policy?.healthCheck?.summary ?? "", /Check of "helloworld.Greeter" every 5s/);
    assert.match(greeter?.policy?.outlierDetection?.summary ?? "", /after 3 UNAVAILABLE answers/);
    assert.equal(canary?.policy?.tls?.source, "BackendTLSPolicy default/canary-tls");
    assert.equal(canary?.tls, true);
    const text = await explain([...args, ...call]);
    assert.match(
      text.stdout,
      /traffic policy:\n {4}timeouts: request 30s .*TrafficPolicy default\/gateway-timeouts/,
    );
    assert.match(text.stdout, /retry: 3 attempts in all on UNAVAILABLE, RESOURCE_EXHAUSTED/);
    assert.match(text.stdout, /TLS \(ALPN h2\), SNI canary\.example\.com, trusting the system's CAs/);
    const none = await explain(["-f", FIXTURE, ...call, "-o", "json"]);
    assert.equal((JSON.parse(none.stdout) as Explanation).ports[0]?.policy, null);
  });

  const errors: { name: string; args: string[]; message: RegExp }[] = [
    { name: "no file", args: ["--authority", "x", "--path", "/a/b"], message: /-f PATH is required/ },
    { name: "no path", args: ["-f", FIXTURE, "--authority", "x"], message: /--path/ },
    {
      name: "bad header",
      args: ["-f", FIXTURE, "--authority", "x", "--path", "/a/b", "-H", "novalue"],
      message: /NAME=VALUE/,
    },
    {
      name: "missing file",
      args: ["-f", "test/dataplane/explain/nope.yaml", "--authority", "x", "--path", "/a/b"],
      message: /nope\.yaml/,
    },
  ];
  for (const c of errors) {
    it(`usage error: ${c.name}`, async () => {
      const r = await explain(c.args);
      assert.equal(r.code, 2);
      assert.match(r.stderr, c.message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    });
  }
});
