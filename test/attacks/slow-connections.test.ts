import assert from "node:assert/strict";
import { once } from "node:events";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { ErrorCode, PREFACE, settingsFrame } from "../../src/dataplane/relay/frames.js";
import { type Backend, bidi, closeAll, startBackend, testerClient } from "../helpers/index.js";
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

/** Short timeouts for the test (the defaults are seconds and minutes). */
const LIMITS = { settingsTimeoutMs: 300, idleTimeoutMs: 400, headerTimeoutMs: 300 };
/** How long past its timeout a connection may stay (a loaded machine runs timers late). */
const CLOSE_BOUND_MS = 5000;
/** Idle connections the attacker opens at once: each costs the gateway a socket until its timeout. */
const IDLE_CONNECTIONS = 200;
const MEMORY_BOUND_MIB = 16;

/** A client that completes the handshake: preface, SETTINGS, and the ACK of the gateway's SETTINGS. */
function handshake(): Buffer {
  return Buffer.concat([PREFACE, settingsFrame([]), settingsFrame([], true)]);
}

describe("attack: connections that never start, or go silent", { timeout: 60_000 }, () => {
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

  const cases: { name: string; send: (a: Attacker) => Buffer; code: number }[] = [
    { name: "only the 24-byte preface", send: () => PREFACE, code: ErrorCode.SETTINGS_TIMEOUT },
    {
      name: "preface and SETTINGS, never the ACK of ours",
      send: () => Buffer.concat([PREFACE, settingsFrame([])]),
      code: ErrorCode.SETTINGS_TIMEOUT,
    },
    { name: "a handshake and then nothing (idle)", send: () => handshake(), code: ErrorCode.NO_ERROR },
    {
      name: "a header block left incomplete",
      send: (a) => Buffer.concat([handshake(), frame(FrameType.HEADERS, 0, 1, requestBlock(a.enc))]),
      code: ErrorCode.ENHANCE_YOUR_CALM,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: GOAWAY ${c.code} and close`, async () => {
      const a = await Attacker.open(gw.port, false);
      await a.send(c.send(a));
      await a.closedWithin(CLOSE_BOUND_MS, "its timeout");
      assert.equal(a.goawayCode(), c.code);
    });
  }

  it("a connection that sends nothing at all is closed", async () => {
    const s = net.connect(gw.port, "127.0.0.1");
    s.on("error", () => {});
    s.resume();
    await once(s, "close", { signal: AbortSignal.timeout(CLOSE_BOUND_MS) });
  });

  it(`${IDLE_CONNECTIONS} idle connections are all closed, memory bounded, the good client served`, async () => {
    const good = new GoodClient(gw.target);
    await good.more(3, "before the attack");
    const before = await gw.memory();
    const idle = await Promise.all(
      Array.from({ length: IDLE_CONNECTIONS }, () => Attacker.open(gw.port, false)),
    );
    await Promise.all(idle.map((a) => a.send(handshake())));
    const during = await gw.memory();
    await Promise.all(idle.map((a) => a.closedWithin(CLOSE_BOUND_MS, "the idle timeout")));
    await good.more(3, "after the idle connections");
    const seen = await good.stop();
    const grew = growthMiB(before, during);
    assert.ok(grew < MEMORY_BOUND_MIB, `the gateway grew ${grew.toFixed(1)} MiB (bound ${MEMORY_BOUND_MIB})`);
    assert.deepEqual(seen.failures, []);
  });

  it("a streaming call that sends nothing for longer than the idle timeout is not idle", async () => {
    const client = testerClient(gw.target);
    const call = bidi(client);
    call.on("error", () => {});
    call.write({});
    await once(call, "data");
    // An idle connection opened now: once the gateway closed it, the call's connection has been as long
    // without a message as the idle timeout allows a connection without a call.
    const idle = await Attacker.open(gw.port, false);
    await idle.send(handshake());
    await idle.closedWithin(CLOSE_BOUND_MS, "the idle timeout");
    call.write({});
    await once(call, "data");
    call.end();
    const [status] = (await once(call, "status")) as [{ code: number; details: string }];
    closeAll(client);
    assert.equal(status.code, 0, status.details);
  });
});
