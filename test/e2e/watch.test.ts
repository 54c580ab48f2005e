/**
 * `serve --watch` as a child process follows every way files really change (test/helpers/watch-scenarios.ts):
 * writes in place, renames over a file and the changes after them, delete and recreate, new subfolders and
 * the kubelet's `..data` swap of a mounted ConfigMap. The poll is turned off, so file-system events alone
 * must see each change; after each step the test waits for the reload and checks what calls reach.
 *
 * A version `v` of a file is a GRPCRoute whose rule matches the header `x-version: v`: a call with that
 * header answers OK while `v` is served and UNIMPLEMENTED once it is not.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type Backend,
  closeAll,
  greeterClient,
  type grpc,
  sayHello,
  startBackend,
} from "../helpers/index.js";
import { WATCH_SCENARIOS } from "../helpers/watch-scenarios.js";
import { GatewayProcess, TempDir } from "./support/gateway-process.js";
import { DOC, gatewayYaml, routeYaml, serviceYaml } from "./support/manifests.js";

const UNIMPLEMENTED = 12;
const APPLIED = "configuration applied";
const REJECTED = "configuration rejected; the last good configuration keeps serving";

const manifest = (name: string, v: string): string =>
  routeYaml(name.replace(/\.yaml$/, ""), "gw", [
    { service: "helloworld.Greeter", headers: { "x-version": v }, backends: { a: 1 } },
  ]);

/** Which of `versions` a call reaches now. */
async function reachable(client: grpc.Client, versions: Iterable<string>): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const v of versions) {
    const r = await sayHello(client, "watch", { metadata: { "x-version": v }, timeoutMs: 5000 });
    out.set(v, r.code);
  }
  return out;
}

describe("serve --watch sees every change through file-system events", { timeout: 240_000 }, () => {
  const dir = new TempDir();
  let a: Backend;

  before(async () => {
    a = await startBackend({ name: "a" });
  });
  after(async () => {
    await a.close();
    dir.cleanup();
  });

  WATCH_SCENARIOS.forEach((scenario, i) => {
    test(scenario.name, async () => {
      const root = join(dir.path, `scenario-${i}`);
      mkdirSync(root);
      const gwFile = dir.write(
        `gw-${i}.yaml`,
        gatewayYaml("gw", [{ name: "http", port: 8080 }]) + DOC + serviceYaml("a", a.port),
      );
      const { paths, initial, steps } = scenario.setup(root, manifest);
      const gw = new GatewayProcess([
        "-f",
        gwFile,
        ...paths.flatMap((p) => ["-f", p]),
        "--watch",
        "--poll-interval",
        "0",
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
      const seen = new Set(initial);
      let served: string[] = initial;
      try {
        assert.deepEqual(await problems(client, seen, served), [], "version 1 is served");
        for (const step of steps) {
          let from = gw.lines.length;
          step.run();
          const want = step.expect;
          if ("versions" in want) for (const v of want.versions) seen.add(v);
          // A reload of an intermediate state may come first: wait for the next one until the calls agree.
          let wrong: string[] = [];
          for (;;) {
            const line = await gw.waitFor(
              (l) => l.msg === ("unreadable" in want ? REJECTED : APPLIED),
              `the reload after "${step.what}" (${JSON.stringify(want)})${wrong.length > 0 ? `; after the last reload: ${wrong.join(", ")}` : ""}`,
              20_000,
              from,
            );
            from = gw.lines.indexOf(line) + 1;
            wrong = await problems(client, seen, "unreadable" in want ? served : want.versions);
            if (wrong.length === 0) break;
          }
          if ("versions" in want) served = want.versions;
        }
      } finally {
        closeAll(client);
        await gw.stop();
      }
    });
  });
});

/** What differs from `served` among the versions seen so far (empty when the gateway serves exactly them). */
async function problems(client: grpc.Client, seen: Set<string>, served: string[]): Promise<string[]> {
  const codes = await reachable(client, seen);
  const out: string[] = [];
  for (const [v, code] of codes) {
    const want = served.includes(v) ? 0 : UNIMPLEMENTED;
    if (code !== want) out.push(`x-version ${v}: code ${code}, want ${want}`);
  }
  return out;
}
