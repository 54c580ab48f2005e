import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ErrorCode, Flag } from "../../src/dataplane/relay/frames.js";
import { FLOOD_FRAMES, repeat } from "../helpers/attacker.js";
import { type Backend, startBackend } from "../helpers/index.js";
import {
  Attacker,
  type AttackGateway,
  FrameType,
  frame,
  GoodClient,
  growthMiB,
  requestBlock,
  startAttackGateway,
} from "./support.js";

/** Empty CONTINUATION frames sent after one open HEADERS: each is 9 bytes and carries nothing. */
const FRAMES = 300_000;
/** Heap + Buffer growth the gateway may show while the attacker's connection is still open (MiB). */
const MEMORY_BOUND_MIB = 16;

describe("attack: CONTINUATION flood without bytes", { timeout: 60_000 }, () => {
  let backend: Backend;
  let gw: AttackGateway;
  before(async () => {
    backend = await startBackend({ name: "b" });
    gw = await startAttackGateway(backend.address);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  it("ends the connection with GOAWAY ENHANCE_YOUR_CALM, keeps memory bounded, serves the good client", async () => {
    const good = new GoodClient(gw.target);
    await good.more(5, "before the attack");
    const before = await gw.memory();
    const a = await Attacker.open(gw.port);
    await a.send(frame(FrameType.HEADERS, 0, 1, requestBlock(a.enc)));
    const batch = repeat(FLOOD_FRAMES.continuation(1), 4096);
    for (let sent = 0; sent < FRAMES && !a.isClosed; sent += 4096) await a.send(batch);
    const during = await gw.memoryAfter(a, "the flood");
    await good.more(5, "during the attack");
    const seen = await good.stop();
    const grew = growthMiB(before, during);
    assert.ok(grew < MEMORY_BOUND_MIB, `the gateway grew ${grew.toFixed(1)} MiB (bound ${MEMORY_BOUND_MIB})`);
    await a.until(() => a.goawayCode() !== undefined, "a GOAWAY", 5000);
    assert.equal(a.goawayCode(), ErrorCode.ENHANCE_YOUR_CALM);
    await a.closedWithin(5000, "its GOAWAY");
    assert.deepEqual(seen.failures, [], "the good client's calls must all succeed");
  });

  it("still takes a header block split over a few CONTINUATION frames", async () => {
    const a = await Attacker.open(gw.port);
    const block = requestBlock(a.enc, ["x-pad", "p".repeat(600)]);
    const parts: Buffer[] = [frame(FrameType.HEADERS, 0, 1, block.subarray(0, 100))];
    for (let o = 100; o < block.length; o += 100) {
      const end = Math.min(block.length, o + 100);
      parts.push(
        frame(FrameType.CONTINUATION, end === block.length ? Flag.END_HEADERS : 0, 1, block.subarray(o, end)),
      );
    }
    assert.ok(parts.length - 1 <= 8, `${parts.length - 1} CONTINUATION frames`);
    parts.push(frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.alloc(5)));
    await a.send(Buffer.concat(parts));
    await a.until(
      () => a.headerBlocks(1).some((h) => h.includes("grpc-status")),
      "the call's trailers on stream 1",
    );
    const trailers = a.headerBlocks(1).find((h) => h.includes("grpc-status"))!;
    assert.equal(trailers[trailers.indexOf("grpc-status") + 1], "0");
    a.destroy();
  });
});
