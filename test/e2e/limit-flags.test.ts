/**
 * `serve --max-header-list-size` and `--max-concurrent-streams` through the real process and its workers:
 * each reaches every worker's data plane. Four connections go to the two workers in turn, so both are seen.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  Attacker,
  EMPTY_MESSAGE,
  ErrorCode,
  Flag,
  FrameType,
  frame,
  requestBlock,
} from "../helpers/attacker.js";
import { type Backend, startBackend } from "../helpers/index.js";
import { GatewayProcess, TempDir } from "./support/gateway-process.js";
import { DOC, gatewayYaml, routeYaml, serviceYaml } from "./support/manifests.js";

const PATH = "/helloworld.Greeter/SayHello";
/** Connections per test: two for each of the two workers. */
const CONNECTIONS = 4;

/** The `grpc-status` of the last header block received on stream `id`, if any. */
function grpcStatus(a: Attacker, id: number): string | undefined {
  for (const fields of a.headerBlocks(id).reverse()) {
    const i = fields.indexOf("grpc-status");
    if (i >= 0) return fields[i + 1];
  }
  return undefined;
}

/** A whole SayHello call on stream `id`: the request headers (plus `extra`), then an empty HelloRequest. */
function call(a: Attacker, id: number, extra: string[] = []): Buffer {
  return Buffer.concat([
    frame(FrameType.HEADERS, Flag.END_HEADERS, id, requestBlock(a.enc, PATH, extra)),
    frame(FrameType.DATA, Flag.END_STREAM, id, EMPTY_MESSAGE),
  ]);
}

describe("serve limit flags reach every worker", { timeout: 90_000 }, () => {
  const dir = new TempDir();
  let backend: Backend;
  let gw: GatewayProcess;
  let port: number;

  before(async () => {
    backend = await startBackend({ name: "a" });
    const file = dir.write(
      "limits.yaml",
      gatewayYaml("gw", [{ name: "http", port: 8080 }]) +
        DOC +
        serviceYaml("a", backend.port) +
        DOC +
        routeYaml("r", "gw", [{ service: "helloworld.Greeter", backends: { a: 1 } }]),
    );
    gw = new GatewayProcess([
      "-f",
      file,
      "--admin",
      "127.0.0.1:0",
      "--port-map",
      "8080=0",
      "--workers",
      "2",
      "--max-header-list-size",
      "4096",
      "--max-concurrent-streams",
      "2",
    ]);
    await gw.ready();
    port = gw.localPort(8080);
  });
  after(async () => {
    await gw?.stop();
    await backend?.close();
    dir.cleanup();
  });

  test("--max-header-list-size 4096: a 5,000-byte header list gets RESOURCE_EXHAUSTED, the next call works", async () => {
    const conns = await Promise.all(Array.from({ length: CONNECTIONS }, () => Attacker.open(port)));
    try {
      for (const a of conns)
        await a.send(Buffer.concat([call(a, 1, ["x-big", "v".repeat(5000)]), call(a, 3)]));
      for (const a of conns) {
        await a.until(
          () => grpcStatus(a, 1) !== undefined && grpcStatus(a, 3) !== undefined,
          "the answers to stream 1 (5,000-byte headers) and stream 3",
        );
        assert.equal(grpcStatus(a, 1), "8", "stream 1: RESOURCE_EXHAUSTED");
        const trailers = a.headerBlocks(1).flat();
        assert.match(trailers[trailers.indexOf("grpc-message") + 1] ?? "", /exceed 4096 bytes/);
        assert.equal(grpcStatus(a, 3), "0", "stream 3: OK");
        assert.equal(a.goawayCode(), undefined);
      }
    } finally {
      for (const a of conns) a.destroy();
    }
  });

  test("--max-concurrent-streams 2: the third open call is refused, the first still completes", async () => {
    const conns = await Promise.all(Array.from({ length: CONNECTIONS }, () => Attacker.open(port)));
    try {
      for (const a of conns) {
        // Three calls whose requests stay open, then the first one's request ends.
        const open = [1, 3, 5].map((id) =>
          frame(FrameType.HEADERS, Flag.END_HEADERS, id, requestBlock(a.enc, PATH)),
        );
        await a.send(Buffer.concat(open));
      }
      for (const a of conns) {
        await a.until(() => a.resetCode(5) !== undefined, "RST_STREAM on stream 5, the third open call");
        assert.equal(a.resetCode(5), ErrorCode.REFUSED_STREAM);
        await a.send(frame(FrameType.DATA, Flag.END_STREAM, 1, EMPTY_MESSAGE));
        await a.until(() => grpcStatus(a, 1) !== undefined, "the answer to stream 1");
        assert.equal(grpcStatus(a, 1), "0");
        assert.equal(a.resetCode(1), undefined);
        assert.equal(a.resetCode(3), undefined);
      }
    } finally {
      for (const a of conns) a.destroy();
    }
  });
});
