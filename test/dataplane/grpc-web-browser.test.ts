/**
 * A real browser: headless Chromium (Debian's `chromium`, or CHROMIUM_PATH) loads a page served by the test,
 * whose script calls the Greeter through the gateway with gRPC-Web (cross-origin, so with a CORS preflight
 * the gateway answers) and shows the answer; the test reads it from the page. A browser that cannot start
 * fails the test, saying so.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium } from "playwright-core";
import {
  type Backend,
  backend,
  cluster,
  forward,
  listener,
  route,
  startBackend,
  startGateway,
  type TestGateway,
  table,
} from "../helpers/index.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** The page: HelloRequest and HelloReply encoded by hand (field 1, a short string), gRPC-Web frames by hand. */
function page(gateway: string): string {
  return `<!doctype html>
<html><body><p id="answer">waiting</p>
<script>
(async () => {
  const out = document.getElementById("answer");
  try {
    const name = new TextEncoder().encode("browser");
    const msg = new Uint8Array([0x0a, name.length, ...name]);
    const body = new Uint8Array(5 + msg.length);
    new DataView(body.buffer).setUint32(1, msg.length);
    body.set(msg, 5);
    const res = await fetch("${gateway}/helloworld.Greeter/SayHello", {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      body,
    });
    const b = new Uint8Array(await res.arrayBuffer());
    let text = "", status = res.headers.get("grpc-status");
    for (let i = 0; i + 5 <= b.length;) {
      const len = new DataView(b.buffer, i + 1, 4).getUint32(0);
      const f = b.subarray(i + 5, i + 5 + len);
      if (b[i] & 0x80) {
        const m = /grpc-status: *(\\d+)/.exec(new TextDecoder().decode(f));
        if (m) status = m[1];
      } else if (f[0] === 0x0a) {
        text = new TextDecoder().decode(f.subarray(2, 2 + f[1]));
      }
      i += 5 + len;
    }
    out.textContent = text + " (grpc-status " + status + ")";
  } catch (e) {
    out.textContent = "error: " + e;
  }
  out.dataset.done = "1";
})();
</script></body></html>`;
}

describe("gRPC-Web from headless Chromium", { timeout: 120_000 }, () => {
  let a: Backend;
  let gw: TestGateway;
  let site: http.Server;
  let origin: string;
  let browser: Browser | undefined;

  before(async () => {
    site = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(page(`http://${gw.target(80)}`));
    });
    await new Promise<void>((r) => site.listen(0, "127.0.0.1", r));
    origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    a = await startBackend({ name: "a" });
    const ca = cluster("a", [a.port]);
    const r = route("greeter", {}, forward([backend(ca)]));
    r.policy = {
      cors: {
        allowOrigins: [origin],
        allowMethods: ["POST"],
        allowHeaders: ["content-type", "x-grpc-web"],
        exposeHeaders: [],
        maxAgeSeconds: 5,
        allowCredentials: false,
        source: "TrafficPolicy default/browser",
      },
    };
    gw = await startGateway(table([listener("http", 80, [r])], [ca]));
  });
  after(async () => {
    await browser?.close();
    await gw.close();
    await a.close();
    await new Promise<void>((r) => site.close(() => r()));
  });

  it("a page calls the Greeter through the gateway and shows the answer", async () => {
    try {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        // Tests run as root in CI containers, where Chromium's sandbox cannot start.
        args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        timeout: 60_000,
      });
    } catch (err: unknown) {
      const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
      assert.fail(
        `headless Chromium could not start from ${CHROMIUM} (${why}); install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`,
      );
    }
    const tab = await browser.newPage();
    await tab.goto(origin, { timeout: 30_000 });
    await tab.waitForSelector("#answer[data-done]", { timeout: 30_000 });
    const answer = await tab.textContent("#answer", { timeout: 30_000 });
    assert.equal(answer, "Hello browser from a (grpc-status 0)");
    const call = gw.calls.find((c) => c.path === "/helloworld.Greeter/SayHello");
    assert.equal(call?.protocol, "grpc-web");
  });
});
