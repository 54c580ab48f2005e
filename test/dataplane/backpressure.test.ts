import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer, type Http2Server, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import {
  backend,
  cluster,
  forward,
  listener,
  onceWithin,
  route,
  startGateway,
  type TestGateway,
  table,
} from "../helpers/index.js";

/** How long the test watches a blocked writer for bytes that should not move (ms). */
const OBSERVE_MS = 500;

/**
 * Request direction: an upstream that does not read its request must stop a fast client writer, with the
 * gateway holding no more than its flow-control windows. Raw HTTP/2 peers on both sides, since grpc-js
 * reads into its own memory when paused.
 */
describe("data plane: request backpressure", { timeout: 120_000 }, () => {
  let server: Http2Server;
  let gw: TestGateway;
  let upstream: ServerHttp2Stream | undefined;
  const upstreamStream = new Promise<ServerHttp2Stream>((resolve) => {
    server = createServer();
    server.on("stream", (s) => {
      s.on("error", () => {});
      s.pause();
      upstream = s;
      resolve(s);
    });
  });

  before(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const c = cluster("up", [(server.address() as AddressInfo).port]);
    gw = await startGateway(table([listener("http", 80, [route("all", {}, forward([backend(c)]))])], [c]));
  });
  after(async () => {
    upstream?.close();
    await gw.close(0);
    server.close();
  });

  it("a client writing to an upstream that does not read is held back", async () => {
    const session = connect(`http://${gw.target(80)}`);
    session.on("error", () => {});
    const s = session.request({
      ":method": "POST",
      ":path": "/s.S/Upload",
      "content-type": "application/grpc",
      te: "trailers",
    });
    s.on("error", () => {});
    const chunk = Buffer.alloc(64 * 1024);
    const offered = 64 * 1024 * 1024;
    let written = 0;
    let blocked = false;
    const pump = (): void => {
      while (written < offered) {
        written += chunk.length;
        if (!s.write(chunk)) {
          blocked = true;
          s.once("drain", pump);
          return;
        }
      }
      s.end();
    };
    pump();
    const up = await Promise.race([
      upstreamStream,
      once(s, "close").then(() => {
        throw new Error("the call ended before it reached the upstream");
      }),
    ]);
    await delay(OBSERVE_MS);
    assert.ok(blocked, "the writer never had to wait");
    assert.ok(written < 16 * 1024 * 1024, `the client wrote ${written} bytes to a stream nobody reads`);
    // Reading upstream lets everything through.
    let received = 0;
    up.on("data", (c: Buffer) => {
      received += c.length;
    });
    up.resume();
    await onceWithin(up, "end", "the upstream request to end");
    up.respond(
      { ":status": 200, "content-type": "application/grpc", "grpc-status": "0" },
      { endStream: true },
    );
    await onceWithin(s, "close", "the client stream to close");
    session.close();
    assert.equal(received, offered);
  });
});
