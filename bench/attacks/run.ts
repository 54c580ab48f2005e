/**
 * The attacker of the benchmark's `attacks` phase, in a process of its own so that its writing at full speed
 * neither slows the suite's RSS sampling nor the well-behaved client:
 *
 *   node --import tsx bench/attacks/run.ts PORT 'SPEC_JSON'
 *
 * carries out one {@link AttackSpec} against 127.0.0.1:PORT with the shared raw attacker
 * (test/helpers/attacker.ts) and prints one {@link AttackOutcome} as its last line of output.
 */
import { once } from "node:events";
import { performance } from "node:perf_hooks";
import { rstStreamFrame } from "../../src/dataplane/relay/frames.js";
import {
  Attacker,
  EMPTY_MESSAGE,
  ErrorCode,
  errorCodeName,
  FLOOD_FRAMES,
  Flag,
  FrameType,
  frame,
  malformedRequests,
  PREFACE,
  repeat,
  requestBlock,
  settingsFrame,
} from "../../test/helpers/attacker.js";
import type { AttackOutcome, AttackSpec } from "./plan.js";
import { type ConnectionRecord, connectionRecord, summarize } from "./summary.js";

/** The client side of a handshake: preface, our SETTINGS, and the ACK of the server's. */
const HANDSHAKE = Buffer.concat([PREFACE, settingsFrame([]), settingsFrame([], true)]);
/** Bytes of one write of a flood of small frames. */
const BATCH_BYTES = 64 * 1024;
/** After the last unit: how long the attacker waits for connections that got a GOAWAY to be closed. */
const CLOSE_WAIT_MS = 2000;
/** Floods whose answers the attacker never reads: how long it stays deaf after the last write. */
const UNREAD_HOLD_MS = 1000;
/** ...and how long at most it then reads what the server queued before it closes the connection itself. */
const UNREAD_READ_MS = 2000;
/** How long a malformed request gets to be answered on its own connection. */
const PROBE_MS = 1000;
/** How long the last connection of a lane waits for the server to read what was sent. */
const FENCE_MS = 15_000;
/** A paced flood's tick: it writes what is due every this many ms. */
const PACE_TICK_MS = 2;
/** Connection failures after which the attack gives up opening more. */
const MAX_CONNECT_ERRORS = 100;

/** What the attack is at, shared by its lanes. */
class AttackState {
  /** Connections opened so far, those still open, and the records of those that closed. */
  opened = 0;
  readonly live = new Set<Attacker>();
  readonly records: ConnectionRecord[] = [];
  /** Connections the attacker itself closed (so their close is not the server's doing). */
  private readonly ours = new Set<Attacker>();
  units = 0;
  bytes = 0;
  /** performance.now() when the lanes last wrote a unit: the attack's length, the deaf wait left out. */
  lastSentAt = 0;
  connectErrors = 0;
  firstConnectError: string | undefined;
  ended: AttackOutcome["ended"] | undefined;
  /** How the last connection of each lane ended its flood (see {@link Attacker.fence}). */
  readonly fences: Record<string, number> = {};
  readonly t0 = performance.now();
  /** Resolves when the time cap is reached. */
  readonly timeUp: Promise<void>;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly spec: AttackSpec,
    readonly port: number,
  ) {
    this.timeUp = new Promise((resolve) => {
      this.timer = setTimeout(() => {
        this.ended ??= "time";
        resolve();
      }, spec.seconds * 1000);
    });
  }

  /** Whether the lanes should stop sending. */
  done(): boolean {
    if (this.ended !== undefined) return true;
    if (this.units >= this.spec.units) this.ended = "units";
    else if (this.opened >= this.spec.maxConnections) this.ended = "connections";
    else if (this.connectErrors >= MAX_CONNECT_ERRORS) this.ended = "connections";
    return this.ended !== undefined;
  }

  /**
   * Opens a connection. Once it closes, only its record is kept: a reconnecting flood opens tens of
   * thousands.
   */
  async open(): Promise<Attacker | undefined> {
    try {
      const a = await Attacker.open(this.port, false, false);
      this.opened++;
      this.live.add(a);
      void a.closed.then(() => {
        this.live.delete(a);
        this.records.push(connectionRecord(a, this.ours.has(a)));
        this.bytes += a.sentBytes;
      });
      return a;
    } catch (e: unknown) {
      this.connectErrors++;
      this.firstConnectError ??= e instanceof Error ? e.message : String(e);
      return undefined;
    }
  }

  /**
   * Ends the attack: connections that got a GOAWAY get a moment to be closed by the server; the attacker
   * closes the rest, and waits until every record is in.
   */
  async finish(): Promise<void> {
    clearTimeout(this.timer);
    const deadline = performance.now() + CLOSE_WAIT_MS;
    for (const a of [...this.live]) {
      if (a.tally.goaway === undefined) continue;
      const left = Math.max(0, deadline - performance.now());
      await Promise.race([a.closed, new Promise((r) => setTimeout(r, left))]);
    }
    const rest = [...this.live];
    for (const a of rest) {
      this.ours.add(a);
      a.destroy();
    }
    await Promise.all(rest.map((a) => a.closed));
    // The close handlers run after `closed` resolves for each: one more turn for the last of them.
    await new Promise((r) => setImmediate(r));
  }
}

/** Writes `b`, then lets the event loop run (so answers, the close and the time cap are seen). */
async function write(a: Attacker, b: Buffer, s: AttackState): Promise<void> {
  if (a.socket.destroyed) return;
  if (a.socket.write(b)) await new Promise((r) => setImmediate(r));
  else await Promise.race([once(a.socket, "drain").catch(() => {}), a.closed, s.timeUp]);
}

/** Makes the next `n` units for connection `a`; returns the bytes and how many units they hold. */
type UnitSource = (a: Attacker, n: number) => Buffer;

/** A flood of one repeated frame: the batch is built once and cut to the units still due. */
function repeated(unit: Buffer): { perWrite: number; source: UnitSource } {
  const perWrite = Math.max(1, Math.floor(BATCH_BYTES / unit.length));
  const batch = repeat(unit, perWrite);
  return { perWrite, source: (_a, n) => (n === perWrite ? batch : batch.subarray(0, n * unit.length)) };
}

/** Per-connection state of the sources that number streams. */
const nextId = new WeakMap<Attacker, number>();
function takeId(a: Attacker): number {
  const id = nextId.get(a) ?? 1;
  nextId.set(a, id + 2);
  return id;
}

/** How a flood kind starts on a fresh connection, and the units it then repeats. */
function floodOf(spec: AttackSpec): {
  prelude: (a: Attacker) => Buffer;
  perWrite: number;
  source: UnitSource;
  /** What makes the connection well-formed again before the fence, if anything. */
  end?: () => Buffer;
  unread: boolean;
} {
  const none = () => Buffer.alloc(0);
  switch (spec.kind) {
    case "continuation":
      return {
        prelude: (a) => frame(FrameType.HEADERS, 0, 1, requestBlock(a.enc, spec.path)),
        ...repeated(FLOOD_FRAMES.continuation(1)),
        // A PING within a header block is a protocol error: the block ends before the fence.
        end: () => frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1),
        unread: false,
      };
    case "empty-data":
      return {
        prelude: (a) => frame(FrameType.HEADERS, Flag.END_HEADERS, takeId(a), requestBlock(a.enc, spec.path)),
        ...repeated(FLOOD_FRAMES.emptyData(1)),
        unread: false,
      };
    case "ping":
      return { prelude: none, ...repeated(FLOOD_FRAMES.ping()), unread: true };
    case "settings":
      return { prelude: none, ...repeated(FLOOD_FRAMES.settings()), unread: true };
    case "priority":
      return { prelude: none, ...repeated(FLOOD_FRAMES.priority()), unread: false };
    case "unknown":
      return { prelude: none, ...repeated(FLOOD_FRAMES.unknown()), unread: false };
    case "reset-pair":
      return {
        prelude: none,
        perWrite: 250,
        source: (a, n) => {
          const parts: Buffer[] = [];
          for (let i = 0; i < n; i++) {
            const id = takeId(a);
            parts.push(
              frame(FrameType.HEADERS, Flag.END_HEADERS, id, requestBlock(a.enc, spec.path)),
              rstStreamFrame(id, ErrorCode.CANCEL),
            );
          }
          return Buffer.concat(parts);
        },
        unread: false,
      };
    case "malformed": {
      const variants = malformedRequests(spec.path);
      let k = 0;
      return {
        prelude: none,
        perWrite: variants.length,
        source: (a, n) => {
          const parts: Buffer[] = [];
          for (let i = 0; i < n; i++, k++) {
            const v = variants[k % variants.length]!;
            const id = takeId(a);
            parts.push(
              frame(FrameType.HEADERS, Flag.END_HEADERS, id, a.enc.encode(v.fields)),
              frame(FrameType.DATA, Flag.END_STREAM, id, v.data ?? EMPTY_MESSAGE),
            );
          }
          return Buffer.concat(parts);
        },
        unread: false,
      };
    }
    default:
      throw new Error(`${spec.kind} is not a flood`);
  }
}

/**
 * Reads until the connection closes, or nothing more came for a while (the server's queue is read out), for
 * at most {@link UNREAD_READ_MS}.
 */
async function readWhileComing(a: Attacker): Promise<void> {
  const end = performance.now() + UNREAD_READ_MS;
  let bytes = -1;
  while (!a.isClosed && a.tally.bytes !== bytes && performance.now() < end) {
    bytes = a.tally.bytes;
    await Promise.race([new Promise((r) => setTimeout(r, 300)), a.closed]);
  }
}

/** One lane of a flood: a connection at a time, sending until the server ends it or the attack is over. */
async function floodLane(s: AttackState): Promise<void> {
  const f = floodOf(s.spec);
  const perLane = s.spec.ratePerSec === undefined ? undefined : s.spec.ratePerSec / s.spec.lanes;
  let laneSent = 0;
  while (!s.done()) {
    const a = await s.open();
    if (a === undefined) continue;
    if (f.unread) a.socket.pause();
    await write(a, Buffer.concat([HANDSHAKE, f.prelude(a)]), s);
    while (!s.done() && !a.socket.destroyed && a.tally.goaway === undefined) {
      let units = Math.min(f.perWrite, s.spec.units - s.units);
      if (perLane !== undefined) {
        // Paced: only what is due by now; otherwise wait a tick (and see answers meanwhile).
        const due = Math.floor(((performance.now() - s.t0) / 1000) * perLane) - laneSent;
        if (due <= 0) {
          await Promise.race([new Promise((r) => setTimeout(r, PACE_TICK_MS)), a.closed, s.timeUp]);
          continue;
        }
        units = Math.min(units, due);
      }
      // Counted before the write, so that lanes writing meanwhile do not overshoot the total.
      s.units += units;
      laneSent += units;
      await write(a, f.source(a, units), s);
    }
    s.lastSentAt = Math.max(s.lastSentAt, performance.now());
    if (!f.unread && !a.socket.destroyed && a.tally.goaway === undefined) {
      // Kept open until the server has read it all: closing at once would spare it the queued frames.
      if (f.end !== undefined) await write(a, f.end(), s);
      const how = await a.fence(FENCE_MS);
      s.fences[how] = (s.fences[how] ?? 0) + 1;
    }
    if (f.unread) {
      // Deaf a little longer, then read what the server queued, and whether it closed.
      await Promise.race([new Promise((r) => setTimeout(r, UNREAD_HOLD_MS)), a.closed]);
      a.socket.resume();
      await readWhileComing(a);
    }
    if (!s.spec.reconnect || s.ended !== undefined) break;
    if (!a.socket.destroyed && a.tally.goaway === undefined) break;
  }
}

/**
 * What each malformed request gets on a connection of its own (later ones would otherwise only show what the
 * first did to the connection): its RST_STREAM code, its answer, a GOAWAY, or nothing within a second.
 */
async function probeMalformed(port: number, path: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const v of malformedRequests(path)) {
    const a = await Attacker.open(port, false);
    await a.send(
      Buffer.concat([
        HANDSHAKE,
        frame(FrameType.HEADERS, Flag.END_HEADERS, 1, a.enc.encode(v.fields)),
        frame(FrameType.DATA, Flag.END_STREAM, 1, v.data ?? EMPTY_MESSAGE),
      ]),
    );
    const ended = () =>
      a.resetCode(1) !== undefined ||
      a.goawayCode() !== undefined ||
      a.headerBlocks(1).some((h) => h.includes("grpc-status"));
    await a.until(ended, "an answer", PROBE_MS).catch(() => {});
    out[v.name] = requestOutcome(a, 1);
    a.destroy();
  }
  return out;
}

/** Slow connections: open them all, send each its opening, and hold them for `holdSeconds`. */
async function slow(s: AttackState): Promise<void> {
  const opening = (a: Attacker): Buffer =>
    s.spec.kind === "preface-only"
      ? PREFACE
      : Buffer.concat([
          HANDSHAKE,
          frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock(a.enc, s.spec.path)),
        ]);
  // Opened 100 at a time: a listen backlog is not what is measured here.
  for (let i = 0; i < s.spec.units && !s.done(); i += 100) {
    const batch = Math.min(100, s.spec.units - i);
    const opened = await Promise.all(Array.from({ length: batch }, () => s.open()));
    for (const a of opened) if (a !== undefined) a.socket.write(opening(a));
    s.units += opened.filter((a) => a !== undefined).length;
  }
  await Promise.race([new Promise((r) => setTimeout(r, s.spec.holdSeconds * 1000)), s.timeUp]);
  s.ended ??= "held";
}

async function main(): Promise<void> {
  const [portArg, specJson] = process.argv.slice(2);
  const port = Number(portArg);
  if (!(port > 0) || specJson === undefined) {
    process.stderr.write("usage: run.ts PORT SPEC_JSON\n");
    process.exit(2);
  }
  const spec = JSON.parse(specJson) as AttackSpec;
  // The suite marks the attack's window by these times (ms since the epoch, as its good client stamps calls).
  const startedAt = performance.timeOrigin + performance.now();
  process.stdout.write(`START ${startedAt}\n`);
  const perRequest = spec.kind === "malformed" ? await probeMalformed(port, spec.path) : undefined;
  const s = new AttackState(spec, port);
  if (spec.kind === "preface-only" || spec.kind === "silent-stream") await slow(s);
  else await Promise.all(Array.from({ length: spec.lanes }, () => floodLane(s)));
  // A lane that stopped because the server ended its connection (and does not reconnect).
  s.ended ??= "server";
  const seconds = ((s.lastSentAt > 0 ? s.lastSentAt : performance.now()) - s.t0) / 1000;
  await s.finish();
  const outcome: AttackOutcome = summarize(spec, s.records, {
    unitsSent: s.units,
    bytesSent: s.bytes,
    seconds,
    ended: s.ended ?? "units",
    connectErrors: s.connectErrors,
    ...(s.firstConnectError === undefined ? {} : { firstConnectError: s.firstConnectError }),
    ...(perRequest === undefined ? {} : { perRequest }),
    fences: s.fences,
  });
  outcome.startedAt = startedAt;
  outcome.endedAt = performance.timeOrigin + performance.now();
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
  process.exit(0);
}

/** What stream `id` of connection `a` got: its RST_STREAM code, its answer, a GOAWAY, or nothing. */
function requestOutcome(a: Attacker, id: number): string {
  const rst = a.resetCode(id);
  if (rst !== undefined) return `RST_STREAM ${errorCodeName(rst)}`;
  const fields = a.headerBlocks(id).flat();
  const value = (name: string) => fields.find((_v, i) => i % 2 === 1 && fields[i - 1] === name);
  const status = value(":status");
  if (status !== undefined) {
    const grpc = value("grpc-status");
    return `:status ${status}${grpc === undefined ? "" : `, grpc-status ${grpc}`}`;
  }
  const goaway = a.goawayCode();
  if (goaway !== undefined) return `GOAWAY ${errorCodeName(goaway)}`;
  return a.isClosed ? "closed" : "nothing";
}

await main();
