import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ErrorCode, Flag, windowUpdateFrame } from "../../src/dataplane/relay/frames.js";
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

const MEMORY_BOUND_MIB = 16;

/** Opens stream 1 with a whole request and waits for its answer: the stream is closed from then on. */
async function closedStream(a: Attacker): Promise<void> {
  await a.send(
    Buffer.concat([
      frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock(a.enc)),
      frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.alloc(5)),
    ]),
  );
  await a.until(() => a.headerBlocks(1).some((h) => h.includes("grpc-status")), "the answer on stream 1");
}

interface Flood {
  name: string;
  /** Frames, sent `count` times. */
  unit: Buffer;
  count: number;
  /** The attacker never reads (its socket is paused). */
  unread?: boolean;
  /** Done before the flood. */
  prepare?: (a: Attacker) => Promise<void>;
}

const floods: Flood[] = [
  // Each answer is 17 (PING ACK) or 9 (SETTINGS ACK) bytes: enough of them to fill the kernel's buffers
  // (about 4 MiB on loopback) and then queue in the gateway.
  {
    name: "PING, never reading the ACKs",
    unit: FLOOD_FRAMES.ping(),
    count: 400_000,
    unread: true,
  },
  { name: "SETTINGS, never reading the ACKs", unit: FLOOD_FRAMES.settings(), count: 700_000, unread: true },
  { name: "PRIORITY", unit: FLOOD_FRAMES.priority(), count: 20_000 },
  { name: "unknown frame types", unit: FLOOD_FRAMES.unknown(), count: 20_000 },
  {
    name: "WINDOW_UPDATE on a closed stream",
    unit: windowUpdateFrame(1, 1),
    count: 20_000,
    prepare: closedStream,
  },
  {
    name: "empty DATA without END_STREAM",
    unit: FLOOD_FRAMES.emptyData(1),
    count: 20_000,
    prepare: (a) => a.send(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock(a.enc))),
  },
];

describe("attack: control-frame and useless-frame floods", { timeout: 120_000 }, () => {
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

  for (const f of floods) {
    it(`${f.name}: the connection is closed (GOAWAY ENHANCE_YOUR_CALM), memory bounded, the good client served`, async () => {
      const good = new GoodClient(gw.target);
      await good.more(5, "before the attack");
      const before = await gw.memory();
      const a = await Attacker.open(gw.port);
      if (f.unread) a.socket.pause();
      await f.prepare?.(a);
      const per = Math.max(1, Math.floor(65536 / f.unit.length));
      const batch = repeat(f.unit, per);
      for (let sent = 0; sent < f.count && !a.isClosed; sent += per) await a.send(batch);
      const during = await gw.memoryAfter(a, "the flood");
      await good.more(5, "during the attack");
      const seen = await good.stop();
      const grew = growthMiB(before, during);
      assert.ok(
        grew < MEMORY_BOUND_MIB,
        `the gateway grew ${grew.toFixed(1)} MiB (bound ${MEMORY_BOUND_MIB})`,
      );
      if (f.unread) {
        // Whatever was queued behind the ACKs is dropped with the socket: the close is what the attacker sees.
        a.socket.resume();
        await a.closedWithin(5000, "the flood");
        const code = a.goawayCode();
        assert.ok(code === undefined || code === ErrorCode.ENHANCE_YOUR_CALM, `GOAWAY ${code}`);
      } else {
        await a.until(() => a.goawayCode() !== undefined, "a GOAWAY", 5000);
        assert.equal(a.goawayCode(), ErrorCode.ENHANCE_YOUR_CALM);
        await a.closedWithin(5000, "its GOAWAY");
      }
      assert.deepEqual(seen.failures, [], "the good client's calls must all succeed");
    });
  }

  it("a client that sends a few PINGs and PRIORITY frames and reads its ACKs keeps its connection", async () => {
    const a = await Attacker.open(gw.port);
    const parts: Buffer[] = [];
    for (let i = 0; i < 200; i++)
      parts.push(
        frame(FrameType.PING, 0, 0, Buffer.alloc(8)),
        frame(FrameType.PRIORITY, 0, 3, Buffer.alloc(5)),
      );
    await a.send(Buffer.concat(parts));
    await a.until(() => a.count(FrameType.PING) >= 200, "200 PING ACKs");
    assert.equal(a.goawayCode(), undefined);
    a.destroy();
  });
});
