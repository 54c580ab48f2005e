/**
 * Flow-control books: every byte a connection receives is forwarded or dropped, and returned to its sender
 * exactly once. A byte dropped without being returned shrinks the sender's connection window for good; once
 * enough have leaked, a shared upstream connection carries response headers but no DATA, and every call on
 * it hangs until its deadline. Each test ends with the books checked (`RelayDataplane.windowAudit()`).
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http2 from "node:http2";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import type { RelayDataplane } from "../../src/dataplane/relay/relay.js";
import {
  type Backend,
  closeAll,
  grpc,
  serverStream,
  startBackend,
  TESTER_SERVICE,
  testerClient,
  unary,
} from "../helpers/index.js";
import { assertBooksBalance } from "../helpers/window-books.js";
import { cluster, startRelay, testerTable } from "./fixture.js";

/** Resolves when `pred` holds, checking on each event of `emitter`; rejects naming `what` after `ms`. */
function until(
  emitter: NodeJS.EventEmitter,
  event: string,
  pred: () => boolean,
  what: string,
  ms = 10_000,
): Promise<void> {
  if (pred()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      emitter.off(event, check);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const check = (): void => {
      if (!pred()) return;
      clearTimeout(t);
      emitter.off(event, check);
      resolve();
    };
    emitter.on(event, check);
  });
}

/** Resolves when `pred` holds (checked every 10 ms); rejects naming `what` after `ms`. */
async function poll(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Stops reading a grpc-js server stream: its window fills, and the relay queues what the backend sends. */
function pausedStream(client: grpc.Client, bytes: number): grpc.ClientReadableStream<unknown> {
  const call = serverStream(client, {
    responseSize: 16 * 1024,
    responseCount: Math.ceil(bytes / (16 * 1024)),
  }) as grpc.ClientReadableStream<unknown>;
  call.on("error", () => {});
  call.pause();
  return call;
}

describe("flow control: received bytes are returned exactly once", { timeout: 60_000 }, () => {
  let backend: Backend;
  const clients: grpc.Client[] = [];
  const relays: RelayDataplane[] = [];

  before(async () => {
    backend = await startBackend({ name: "b" });
  });
  after(async () => {
    closeAll(...clients);
    for (const dp of relays) await dp.close(0);
    await backend.close();
  });

  it("cancelled server streams with response bytes still queued give their window back", async () => {
    // A small upstream connection window, so that one round of queued bytes is enough to exhaust it when
    // they leak; one upstream connection, so every call shares it.
    const relay = await startRelay(
      testerTable(cluster("b", [backend.address])),
      { connection: { connectionWindow: 256 * 1024 } },
      { streamsPerConnection: 100 },
    );
    relays.push(relay.dp);
    const client = testerClient(relay.target());
    clients.push(client);
    for (let round = 0; round < 3; round++) {
      let blocked = 0;
      const onBlocked = (): void => {
        blocked++;
      };
      backend.on("blocked", onBlocked);
      const calls = Array.from({ length: 8 }, () => pausedStream(client, 1 << 20));
      // The backend waits for window on every stream: the relay holds what the clients have not read.
      await until(
        backend,
        "blocked",
        () => blocked >= 4,
        `the backend blocked on 4 streams (round ${round})`,
      );
      backend.off("blocked", onBlocked);
      const ended = relay.calls.length + calls.length;
      for (const c of calls) c.cancel();
      await until(
        backend,
        "end",
        () => relay.calls.length >= ended,
        `the relay to report ${calls.length} cancelled calls (round ${round})`,
      );
      await assertBooksBalance(relay.dp, `after round ${round} of cancelled streams`);
    }
    // The shared upstream connection still carries DATA.
    for (let i = 0; i < 5; i++) {
      const r = await unary(client, "Unary", { responseSize: 1000 }, { timeoutMs: 3000 });
      assert.equal(r.code, 0, `unary call ${i} after the cancelled streams: ${r.details}`);
    }
    await assertBooksBalance(relay.dp, "after the unary calls");
  });

  it("150 paused server streams cancelled at once, with default windows, leave the upstream usable", async () => {
    const relay = await startRelay(testerTable(cluster("b", [backend.address])));
    relays.push(relay.dp);
    const client = testerClient(relay.target());
    clients.push(client);
    let blocked = 0;
    const onBlocked = (): void => {
      blocked++;
    };
    backend.on("blocked", onBlocked);
    const calls = Array.from({ length: 150 }, () => pausedStream(client, 1 << 20));
    await until(
      backend,
      "blocked",
      () => blocked >= 100,
      "the backend blocked on 100 of 150 streams",
      20_000,
    );
    backend.off("blocked", onBlocked);
    const ended = relay.calls.length + calls.length;
    for (const c of calls) c.cancel();
    await until(backend, "end", () => relay.calls.length >= ended, "the relay to report 150 cancelled calls");
    await assertBooksBalance(relay.dp, "after 150 cancelled streams");
    for (let i = 0; i < 20; i++) {
      const r = await unary(client, "Unary", { responseSize: 64 * 1024 }, { timeoutMs: 3000 });
      assert.equal(r.code, 0, `unary call ${i} after the cancelled streams: ${r.details}`);
    }
  });

  it("a cancelled upload whose bytes wait on a backend that does not read gives its window back", async () => {
    // A backend that takes the stream and never reads it: the request bytes wait in the relay.
    const sink = http2.createServer();
    const streams: http2.ServerHttp2Stream[] = [];
    sink.on("stream", (s) => {
      s.pause();
      s.on("error", () => {});
      streams.push(s);
    });
    sink.listen(0, "127.0.0.1");
    await once(sink, "listening");
    const port = (sink.address() as net.AddressInfo).port;
    const relay = await startRelay(testerTable(cluster("sink", [`127.0.0.1:${port}`])), {
      connection: { connectionWindow: 256 * 1024 },
    });
    relays.push(relay.dp);
    const client = testerClient(relay.target());
    clients.push(client);
    for (let round = 0; round < 3; round++) {
      const call = client.makeClientStreamRequest(
        `/${TESTER_SERVICE}/ClientStream`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        new grpc.Metadata(),
        {},
        () => {},
      );
      // 1 MiB in 16 KiB messages (raw protobuf: field 1, bytes): far more than the backend's window.
      const msg = Buffer.concat([Buffer.from([0x0a, 0x80, 0x80, 0x01]), Buffer.alloc(16 * 1024)]);
      for (let i = 0; i < 64; i++) call.write(msg);
      const ended = relay.calls.length + 1;
      await until(sink, "stream", () => streams.length > round, `the backend to get stream ${round}`);
      // Give the relay time to queue what the backend's window does not take.
      await new Promise((r) => setTimeout(r, 100));
      call.cancel();
      await poll(() => relay.calls.length >= ended, "the relay to report the cancelled upload");
      await assertBooksBalance(relay.dp, `after cancelled upload ${round}`);
    }
    sink.close();
    for (const s of streams) s.destroy();
  });

  it("request bytes queued before the upstream connection is ready are returned when the call is cancelled", async () => {
    // An endpoint that accepts TCP connections and never speaks HTTP/2: calls wait for the connection.
    const mute = net.createServer((s) => s.on("error", () => {}));
    mute.listen(0, "127.0.0.1");
    await once(mute, "listening");
    const port = (mute.address() as net.AddressInfo).port;
    const relay = await startRelay(
      testerTable(cluster("mute", [`127.0.0.1:${port}`])),
      {},
      { connectTimeoutMs: 30_000 },
    );
    relays.push(relay.dp);
    const client = testerClient(relay.target());
    clients.push(client);
    const call = client.makeClientStreamRequest(
      `/${TESTER_SERVICE}/ClientStream`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      new grpc.Metadata(),
      {},
      () => {},
    );
    const msg = Buffer.concat([Buffer.from([0x0a, 0x80, 0x80, 0x01]), Buffer.alloc(16 * 1024)]);
    for (let i = 0; i < 4; i++) call.write(msg);
    await new Promise((r) => setTimeout(r, 200));
    call.cancel();
    await poll(() => relay.calls.length >= 1, "the relay to report the cancelled call");
    await assertBooksBalance(relay.dp, "after the cancelled call that never reached a backend");
    mute.close();
  });
});
