import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ErrorCode, Flag, rstStreamFrame } from "../../src/dataplane/relay/frames.js";
import {
  Attacker,
  type AttackGateway,
  FrameType,
  frame,
  GoodClient,
  growthMiB,
  type RawBackend,
  requestBlock,
  startAttackGateway,
  startRawBackend,
} from "./support.js";

/** HEADERS + RST_STREAM pairs the attacker sends on one connection. */
const PAIRS = 5000;
/** The default budget: 1000 resets at once (nghttp2's), plus the connection's 100 streams, plus slack. */
const UPSTREAM_BOUND = 1200;
const MEMORY_BOUND_MIB = 16;

describe("attack: rapid reset (CVE-2023-44487)", { timeout: 60_000 }, () => {
  let backend: RawBackend;
  let gw: AttackGateway;
  before(async () => {
    backend = await startRawBackend();
    gw = await startAttackGateway(backend.address);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  it("GOAWAY ENHANCE_YOUR_CALM past the reset budget, upstream streams bounded, the good client served", async () => {
    const good = new GoodClient(gw.target);
    await good.more(5, "before the attack");
    const before = await gw.memory();
    const upstreamBefore = backend.streams.length;
    const a = await Attacker.open(gw.port);
    const block = requestBlock(a.enc);
    let id = 1;
    for (let sent = 0; sent < PAIRS && !a.isClosed; sent += 250) {
      const parts: Buffer[] = [];
      for (let i = 0; i < 250; i++, id += 2) {
        parts.push(
          frame(FrameType.HEADERS, Flag.END_HEADERS, id, block),
          rstStreamFrame(id, ErrorCode.CANCEL),
        );
      }
      await a.send(Buffer.concat(parts));
    }
    const during = await gw.memoryAfter(a, "the resets");
    await good.more(5, "during the attack");
    const seen = await good.stop();
    const opened = backend.streams.length - upstreamBefore - seen.calls;
    assert.ok(opened <= UPSTREAM_BOUND, `${opened} upstream streams opened for ${PAIRS} reset streams`);
    const grew = growthMiB(before, during);
    assert.ok(grew < MEMORY_BOUND_MIB, `the gateway grew ${grew.toFixed(1)} MiB (bound ${MEMORY_BOUND_MIB})`);
    await a.until(() => a.goawayCode() !== undefined, "a GOAWAY", 5000);
    assert.equal(a.goawayCode(), ErrorCode.ENHANCE_YOUR_CALM);
    await a.closedWithin(5000, "its GOAWAY");
    assert.deepEqual(seen.failures, [], "the good client's calls must all succeed");
  });

  it("a client cancelling some calls keeps its connection", async () => {
    const a = await Attacker.open(gw.port);
    const parts: Buffer[] = [];
    for (let id = 1; id <= 199; id += 2) {
      parts.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, requestBlock(a.enc)));
      parts.push(rstStreamFrame(id, ErrorCode.CANCEL));
    }
    parts.push(frame(FrameType.HEADERS, Flag.END_HEADERS, 201, requestBlock(a.enc)));
    parts.push(frame(FrameType.DATA, Flag.END_STREAM, 201, Buffer.alloc(5)));
    await a.send(Buffer.concat(parts));
    await a.until(
      () => a.headerBlocks(201).some((h) => h.includes("grpc-status")) || a.resetCode(201) !== undefined,
      "an answer on stream 201",
    );
    assert.equal(a.goawayCode(), undefined);
    a.destroy();
  });
});
