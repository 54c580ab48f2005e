import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Explanation } from "../../src/dataplane/explain.js";
import { type Backend, startBackend } from "../helpers/index.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURE = "test/dataplane/explain/gateway.yaml";
const REFLECTION = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

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

/** `explain` of reflection calls: answered by the gateway, what it lists, and backends without reflection. */
describe("grpcroute explain: reflection answered by the gateway", { timeout: 120_000 }, () => {
  let plain: Backend;
  let dir: string;

  before(async () => {
    plain = await startBackend({ name: "plain" });
    dir = mkdtempSync(join(tmpdir(), "grpcroute-explain-"));
    writeFileSync(
      join(dir, "live.yaml"),
      `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: live }
spec:
  gatewayClassName: grpcroute
  listeners: [{ name: http, port: 80, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: all }
spec:
  parentRefs: [{ name: live }]
  rules: [{ backendRefs: [{ name: plain, port: 50051 }] }]
---
apiVersion: v1
kind: Service
metadata: { name: plain }
spec:
  ports: [{ name: grpc, port: 50051, targetPort: ${plain.port} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: plain-1, labels: { kubernetes.io/service-name: plain } }
addressType: IPv4
ports: [{ name: grpc, port: ${plain.port} }]
endpoints: [{ addresses: [127.0.0.1], conditions: { ready: true } }]
`,
    );
  });

  after(async () => {
    await plain?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("lists the services routes name exactly, and the backends it would ask", async () => {
    const r = await explain(["-f", FIXTURE, "--authority", "x", "--path", REFLECTION, "-o", "json"]);
    assert.equal(r.code, 1, r.stderr);
    const p = (JSON.parse(r.stdout) as Explanation).ports[0]!;
    assert.deepEqual(p.reflection, { exactServices: ["helloworld.Greeter", "spare.S"], askedBackends: [] });
    const api = await explain(["-f", FIXTURE, "--authority", "api.example.com", "--path", REFLECTION]);
    assert.match(api.stdout, /answered by the gateway's reflection service/);
    assert.match(
      api.stdout,
      /lists what these backends report by their own reflection: service\/default\/greeter\/port\/50051/,
    );
  });

  it("a call that is not reflection is explained as before", async () => {
    const r = await explain([
      "-f",
      FIXTURE,
      "--authority",
      "x",
      "--path",
      "/helloworld.Greeter/SayHello",
      "-o",
      "json",
    ]);
    assert.equal((JSON.parse(r.stdout) as Explanation).ports[0]?.reflection, undefined);
  });

  it("--probe-reflection names a backend without reflection", async () => {
    const file = join(dir, "live.yaml");
    const r = await explain([
      "-f",
      file,
      "--authority",
      "x",
      "--path",
      REFLECTION,
      "--probe-reflection",
      "-o",
      "json",
    ]);
    const p = (JSON.parse(r.stdout) as Explanation).ports[0]!;
    assert.equal(p.reflection?.withoutReflection?.[0]?.backend, "service/default/plain/port/50051", r.stdout);
    assert.match(p.reflection?.withoutReflection?.[0]?.reason ?? "", /no reflection service/);
    const text = await explain(["-f", file, "--authority", "x", "--path", REFLECTION, "--probe-reflection"]);
    assert.match(text.stdout, /backend service\/default\/plain\/port\/50051 has no reflection: left out/);
  });
});
