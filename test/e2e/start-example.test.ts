/**
 * `npm start` (scripts/start-example.mjs): starts the greeter backends and the gateway, reaches ready, prints
 * how to call it with the answers it got, answers our own call, and stops cleanly on Ctrl-C (SIGINT).
 * The backends use the example's fixed ports (127.0.0.1:50151 and 50152); the listener and the admin server
 * use free ports so the test does not depend on 8080 and 9901 being free.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { after, test } from "node:test";
import { callGreeter } from "../../examples/call.mjs";
import { ROOT } from "./support/gateway-process.js";

let child: ChildProcess | undefined;
after(() => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

test("npm start serves the README's call and stops on Ctrl-C", { timeout: 120_000 }, async () => {
  child = spawn(
    process.execPath,
    [join(ROOT, "scripts", "start-example.mjs"), "greeter", "--admin", "127.0.0.1:0", "--port-map", "8080=0"],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, GRPCROUTE_FROM_SOURCE: "1" } },
  );
  const exited = once(child, "exit");
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  const lines: string[] = [];
  const banner = new Promise<void>((resolve, reject) => {
    createInterface({ input: child!.stdout! }).on("line", (l) => {
      lines.push(l);
      if (l.startsWith("Access-log lines of your calls appear below")) resolve();
    });
    void exited.then(([code]) =>
      reject(new Error(`start-example exited (${code}):\n${lines.join("\n")}\n${stderr}`)),
    );
  });
  await banner;
  const out = lines.join("\n");

  const listener = /gateway {2}my-hotel listener http: localhost:(\d+) \(h2c, Gateway port 8080\)/.exec(out);
  assert.ok(listener, out);
  // The printed sample calls and the answers the script received through the gateway.
  assert.match(out, /node examples\/call\.mjs SayHello world/);
  assert.match(
    out,
    /grpcurl -plaintext -import-path examples -proto helloworld\.proto -d '\{"name":"world"\}' localhost:\d+ helloworld\.Greeter\/SayHello/,
  );
  assert.match(out, /answers OK: "Hello, world! \(from greeter-grpc-server:443 at 127\.0\.0\.1:50152\)"/);
  assert.match(
    out,
    /answers OK: "Hello again, world! \(from greeter-grpc-server:50051 at 127\.0\.0\.1:50151\)"/,
  );
  assert.match(out, /answers UNIMPLEMENTED: /);

  const r = await callGreeter({ target: `127.0.0.1:${listener[1]}`, method: "SayHello", name: "README" });
  assert.equal(r.codeName, "OK", r.details);
  assert.equal(r.message, "Hello, README! (from greeter-grpc-server:443 at 127.0.0.1:50152)");

  child.kill("SIGINT");
  const [code] = await exited;
  assert.equal(code, 0, `${lines.join("\n")}\n${stderr}`);
});

test("start-example runs the Lattice example over TLS with the generated certificate", {
  timeout: 120_000,
}, async () => {
  const lattice = spawn(
    process.execPath,
    [join(ROOT, "scripts", "start-example.mjs"), "lattice", "--admin", "127.0.0.1:0", "--port-map", "443=0"],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, GRPCROUTE_FROM_SOURCE: "1" } },
  );
  child = lattice;
  const exited = once(lattice, "exit");
  let stderr = "";
  lattice.stderr?.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: lattice.stdout! }).on("line", (l) => {
      lines.push(l);
      if (l.startsWith("Access-log lines of your calls appear below")) resolve();
    });
    void exited.then(([code]) =>
      reject(new Error(`start-example exited (${code}):\n${lines.join("\n")}\n${stderr}`)),
    );
  });
  const out = lines.join("\n");
  const listener = /gateway {2}my-hotel listener https: localhost:(\d+) \(TLS, Gateway port 443\)/.exec(out);
  assert.ok(listener, out);
  const sample = /node examples\/call\.mjs SayHello world --target \S+ --authority (\S+) --ca (\S+)$/m.exec(
    out,
  );
  assert.ok(sample, out);
  assert.match(out, /answers OK: "Hello, world! \(from greeter-grpc-server:443 at 127\.0\.0\.1:50443\)"/);

  const caPem = readFileSync(resolve(ROOT, sample[2] ?? ""), "utf8");
  const r = await callGreeter({
    target: `127.0.0.1:${listener[1]}`,
    method: "SayHello",
    name: "lattice",
    authority: sample[1] ?? "",
    caPem,
  });
  assert.equal(r.codeName, "OK", r.details);
  assert.equal(r.message, "Hello, lattice! (from greeter-grpc-server:443 at 127.0.0.1:50443)");

  lattice.kill("SIGINT");
  const [code] = await exited;
  assert.equal(code, 0, `${out}\n${stderr}`);
});
