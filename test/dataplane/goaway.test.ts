import assert from "node:assert/strict";
import { createServer, type Http2Server, constants as h2, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import {
  backend,
  cluster,
  forward,
  listener,
  route,
  startGateway,
  type TestGateway,
  table,
} from "../helpers/index.js";
import { rawGrpcCall } from "../helpers/raw.js";

/**
 * An upstream that answers GOAWAY(last stream 1) to the second stream of its first connection: the peer never
 * processed that stream, so the gateway must send it again on a new connection.
 */
describe("data plane: upstream GOAWAY", { timeout: 120_000 }, () => {
  let server: Http2Server;
  let port: number;
  let gw: TestGateway;
  const sessionNumber = new WeakMap<ServerHttp2Session, number>();
  let sessions = 0;

  before(async () => {
    server = createServer();
    server.on("session", (s) => {
      sessionNumber.set(s, ++sessions);
      s.on("error", () => {});
    });
    server.on("stream", (stream) => {
      stream.on("error", () => {});
      const n = sessionNumber.get(stream.session as ServerHttp2Session) ?? 0;
      if (n === 1 && stream.id === 3) {
        stream.session?.goaway(h2.NGHTTP2_NO_ERROR, 1);
        return;
      }
      stream.resume();
      stream.on("end", () => {
        stream.respond(
          { ":status": 200, "content-type": "application/grpc", "grpc-status": "0", "x-session": String(n) },
          { endStream: true },
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
    const c = cluster("up", [port]);
    gw = await startGateway(table([listener("http", 80, [route("all", {}, forward([backend(c)]))])], [c]));
  });
  after(async () => {
    await gw.close(0);
    server.close();
  });

  it("a stream the upstream never processed is sent again on a new connection", async () => {
    const first = await rawGrpcCall(gw.target(80), "/s.S/M", {}, Buffer.alloc(5));
    assert.equal(first.status, "0");
    assert.equal(first.headers["x-session"], "1");
    const second = await rawGrpcCall(gw.target(80), "/s.S/M", {}, Buffer.alloc(5));
    assert.equal(second.status, "0", second.message);
    assert.equal(second.headers["x-session"], "2");
  });
});
