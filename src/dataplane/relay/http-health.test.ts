/**
 * The Lattice HTTP health checker against misbehaving health endpoints, beside a well-behaved one: a body
 * that never ends is read up to its cap and the connection closed (the check still passes on its status),
 * an endpoint that never answers fails at the timeout and its connection is dropped, a refused connection
 * fails, a status outside `statusMatch` fails; HTTPS with a certificate nobody can verify passes (VPC Lattice
 * does not verify either). Waits on the checker's health changes and the servers' socket events.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { after, describe, test } from "node:test";
import type { IrHealthCheck, IrHttpHealthCheck } from "../../ir/routing-table.js";
import { generateCertificate } from "../../util/self-signed.js";
import { HttpHealthChecker, MAX_BODY_BYTES, statusPasses } from "./http-health.js";
import type { UpstreamPool } from "./upstream.js";

const WAIT_MS = 15_000;

/** What the checker needs of a pool: the endpoint and its health flag. */
function fakePool(port: number, healthy: boolean): UpstreamPool {
  return { endpoint: { host: "127.0.0.1", port }, retired: false, healthy } as unknown as UpstreamPool;
}

function config(over: Partial<IrHealthCheck>, check: Partial<IrHttpHealthCheck>): IrHealthCheck {
  return {
    service: "",
    intervalMs: 20,
    timeoutMs: 2000,
    unhealthyThreshold: 2,
    healthyThreshold: 1,
    ...over,
    http: { version: 1, tls: false, path: "/healthz", port: 0, statusCodes: [[200, 299]], ...check },
  };
}

/** Runs a checker until its pool's health changes once; resolves with the reason. */
function firstChange(
  pool: UpstreamPool,
  cfg: IrHealthCheck,
): { checker: HttpHealthChecker; changed: Promise<string> } {
  const events = new EventEmitter();
  const checker = new HttpHealthChecker(pool, cfg, cfg.http!, (_p, why) => events.emit("changed", why));
  const changed = new Promise<string>((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error("timed out waiting for the endpoint's health to change")),
      WAIT_MS,
    );
    events.once("changed", (why: string) => {
      clearTimeout(t);
      resolve(why);
    });
  });
  return { checker, changed };
}

const servers: { close(): void }[] = [];
const checkers: HttpHealthChecker[] = [];

async function listen(s: http.Server | http2.Http2Server | http2.Http2SecureServer): Promise<number> {
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  return (s.address() as AddressInfo).port;
}

/** Resolves when a connection the server accepted closes. */
function socketClosed(s: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error("timed out waiting for the server to see the check's connection close")),
      WAIT_MS,
    );
    s.once("connection", (sock: Socket) =>
      sock.once("close", () => {
        clearTimeout(t);
        resolve();
      }),
    );
  });
}

describe("HTTP health checks of one endpoint", { timeout: 60_000 }, () => {
  after(() => {
    for (const c of checkers) c.stop();
    for (const s of servers) s.close();
  });

  test("statusMatch ranges", () => {
    assert.equal(statusPasses(200, [[200, 200]]), undefined);
    assert.equal(
      statusPasses(204, [
        [200, 200],
        [204, 206],
      ]),
      undefined,
    );
    assert.equal(statusPasses(204, [[200, 200]]), "HTTP 204 (passing: 200)");
    assert.equal(statusPasses(503, [[200, 399]]), "HTTP 503 (passing: 200-399)");
  });

  test("a body that never ends is capped and its connection closed; a well-behaved endpoint beside it passes", async () => {
    let written = 0;
    const endless = http.createServer((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      const pump = (): void => {
        while (!res.destroyed && written < 64 * MAX_BODY_BYTES) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once("drain", pump);
            return;
          }
        }
      };
      pump();
    });
    const good = http.createServer((_req, res) => res.end("ok"));
    const [ep, gp] = await Promise.all([listen(endless), listen(good)]);
    const closed = socketClosed(endless);
    const bad = firstChange(fakePool(ep, false), config({}, {}));
    const fine = firstChange(fakePool(gp, false), config({}, {}));
    checkers.push(bad.checker, fine.checker);
    assert.match(await bad.changed, /1 HTTP health check\(s\) passed in a row/);
    assert.match(await fine.changed, /1 HTTP health check\(s\) passed in a row/);
    await closed;
    bad.checker.stop();
    assert.ok(written < 64 * MAX_BODY_BYTES, `the server wrote ${written} bytes before the check hung up`);
  });

  test("an endpoint that never answers fails at the timeout, and its connection is dropped", async () => {
    const silent = http.createServer(() => undefined);
    const port = await listen(silent);
    const closed = socketClosed(silent);
    const c = firstChange(fakePool(port, true), config({ timeoutMs: 100 }, {}));
    checkers.push(c.checker);
    assert.match(
      await c.changed,
      /2 HTTP health check\(s\) failed in a row, the last: no answer within 100 ms/,
    );
    await closed;
    c.checker.stop();
  });

  test("a refused connection fails", async () => {
    const s = http.createServer();
    const port = await listen(s);
    s.close();
    const c = firstChange(fakePool(port, true), config({}, {}));
    checkers.push(c.checker);
    assert.match(await c.changed, /the last: ECONNREFUSED/);
    c.checker.stop();
  });

  test("a status outside statusMatch fails (HTTP/2, h2c)", async () => {
    const s = http2.createServer((_req, res) => {
      res.writeHead(302, { location: "/" });
      res.end();
    });
    const port = await listen(s);
    const c = firstChange(fakePool(port, true), config({}, { version: 2 }));
    checkers.push(c.checker);
    assert.match(await c.changed, /the last: HTTP 302 \(passing: 200-299\)/);
    c.checker.stop();
  });

  test("HTTPS over HTTP/2 passes with a certificate nobody can verify", async () => {
    const cert = await generateCertificate(["backend.invalid"]);
    const s = http2.createSecureServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      res.end(req.url);
    });
    const port = await listen(s);
    const c = firstChange(fakePool(port, false), config({}, { version: 2, tls: true }));
    checkers.push(c.checker);
    assert.match(await c.changed, /passed/);
    c.checker.stop();
  });
});
