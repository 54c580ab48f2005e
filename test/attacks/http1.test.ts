import assert from "node:assert/strict";
import { once } from "node:events";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { frame, pb, webFetch } from "../helpers/grpc-web.js";
import { type Backend, startBackend } from "../helpers/index.js";
import { type AttackGateway, GoodClient, startAttackGateway } from "./support.js";

/** Short limits for the test (the defaults are 16 KiB, 10 s, 60 s and 4 MiB). */
const LIMITS = {
  http1MaxHeaderBytes: 2048,
  http1HeadersTimeoutMs: 400,
  http1IdleTimeoutMs: 400,
  grpcWebMaxRequestBytes: 1024,
};
/** How long past its timeout a connection may stay (a loaded machine runs timers late). */
const CLOSE_BOUND_MS = 5000;
const SLOW_CLIENTS = 50;
const UNARY = "/grpcroute.test.Tester/Unary";

/** A raw TCP client: what it wrote, what it got back, and whether the gateway closed it. */
class Raw {
  readonly got: Buffer[] = [];
  closed = false;
  readonly socket: net.Socket;
  constructor(port: number) {
    this.socket = net.connect(port, "127.0.0.1");
    this.socket.on("data", (d: Buffer) => this.got.push(d));
    this.socket.on("error", () => {});
    this.socket.on("close", () => {
      this.closed = true;
    });
  }
  text(): string {
    return Buffer.concat(this.got).toString("latin1");
  }
  async closedWithin(ms: number, what: string): Promise<void> {
    if (this.closed) return;
    try {
      await once(this.socket, "close", { signal: AbortSignal.timeout(ms) });
    } catch {
      throw new Error(`the gateway did not close the connection within ${ms} ms: ${what}`);
    }
  }
}

/** One gRPC-Web unary call that must succeed (the well-behaved browser). */
async function goodWebCall(target: string): Promise<void> {
  const r = await webFetch(target, UNARY, frame(pb([[1, Buffer.alloc(16)]])));
  assert.equal(r.body.trailers["grpc-status"], "0", `gRPC-Web call: ${r.status} ${r.raw.toString()}`);
}

describe("attack: hostile HTTP/1.1 clients next to well-behaved ones", { timeout: 90_000 }, () => {
  let backend: Backend;
  let gw: AttackGateway;
  before(async () => {
    backend = await startBackend({ name: "b" });
    gw = await startAttackGateway(backend.address, LIMITS);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  it(`${SLOW_CLIENTS} clients sending headers a byte at a time are cut off; others are served`, async () => {
    const good = new GoodClient(gw.target);
    const slow = Array.from({ length: SLOW_CLIENTS }, () => new Raw(gw.port));
    const timers = slow.map((c) => {
      c.socket.write(`POST ${UNARY} HTTP/1.1\r\nhost: a\r\n`);
      return setInterval(() => {
        if (!c.closed) c.socket.write("x");
      }, 50);
    });
    try {
      await goodWebCall(gw.target);
      await good.more(3, "while the slow clients trickle");
      await Promise.all(slow.map((c) => c.closedWithin(CLOSE_BOUND_MS, "headers never completed")));
      assert.ok(
        slow.every((c) => c.text() === "" || c.text().startsWith("HTTP/1.1 408")),
        slow[0]!.text(),
      );
      await goodWebCall(gw.target);
    } finally {
      for (const t of timers) clearInterval(t);
    }
    const seen = await good.stop();
    assert.deepEqual(seen.failures, []);
  });

  it("headers above the size limit get 431 and the connection is closed", async () => {
    const c = new Raw(gw.port);
    c.socket.write(`POST ${UNARY} HTTP/1.1\r\nhost: a\r\nx-big: ${"a".repeat(4096)}\r\n\r\n`);
    await c.closedWithin(CLOSE_BOUND_MS, "oversized headers");
    assert.match(c.text(), /^HTTP\/1\.1 431 /);
    await goodWebCall(gw.target);
  });

  it("a gRPC-Web body above the limit gets RESOURCE_EXHAUSTED and its connection is not reused", async () => {
    const c = new Raw(gw.port);
    const body = frame(pb([[1, Buffer.alloc(2000)]]));
    c.socket.write(
      `POST ${UNARY} HTTP/1.1\r\nhost: a\r\ncontent-type: application/grpc-web+proto\r\ncontent-length: ${body.length * 100}\r\n\r\n`,
    );
    c.socket.write(body);
    await c.closedWithin(CLOSE_BOUND_MS, "a body above the limit, never finished");
    assert.match(c.text(), /^HTTP\/1\.1 200 /);
    assert.match(c.text(), /grpc-status: 8/);
    assert.match(c.text(), /exceeds 1024 bytes/);
    await goodWebCall(gw.target);
  });

  it("an idle keep-alive connection is closed after the idle timeout", async () => {
    const c = new Raw(gw.port);
    const body = frame(pb([]));
    c.socket.write(
      `POST ${UNARY} HTTP/1.1\r\nhost: a\r\ncontent-type: application/grpc-web+proto\r\ncontent-length: ${body.length}\r\n\r\n`,
    );
    c.socket.write(body);
    await c.closedWithin(CLOSE_BOUND_MS, "idle after one call");
    assert.match(c.text(), /^HTTP\/1\.1 200 /);
  });

  it("a connection that sends nothing is closed", async () => {
    const c = new Raw(gw.port);
    await c.closedWithin(CLOSE_BOUND_MS, "no first bytes");
    assert.equal(c.text(), "");
  });
});
