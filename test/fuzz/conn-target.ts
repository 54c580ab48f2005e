/**
 * The connection fuzz targets (server side and client side): case generation, shrinking and the replayable
 * description of a case.
 */
import { Flag, FRAME_HEADER_LENGTH, PREFACE } from "../../src/dataplane/relay/frames.js";
import { type ConnCase, runConnectionCase } from "./conn-harness.js";
import {
  frameStarts,
  genClientFrames,
  genCuts,
  genPreface,
  genServerFrames,
  mutateBytes,
  mutateFrames,
  serialize,
} from "./frame-gen.js";
import type { Rng } from "./rng.js";
import { chunkRemovals, type FuzzTarget } from "./runner.js";

/** The connection options the relay uses by default. */
export const DEFAULT_OPTS: ConnCase["opts"] = {
  maxConcurrentStreams: 100,
  streamWindow: 128 << 10,
  connectionWindow: 16 << 20,
  maxHeaderListSize: 65536,
};

function genCase(rng: Rng, server: boolean): ConnCase {
  const opts: ConnCase["opts"] = {
    maxConcurrentStreams: rng.weighted([
      [4, DEFAULT_OPTS.maxConcurrentStreams],
      [1, 1],
      [1, 3],
    ] as const),
    streamWindow: rng.weighted([
      [4, DEFAULT_OPTS.streamWindow],
      [1, 65535],
      [1, 1 << 20],
    ] as const),
    connectionWindow: rng.weighted([
      [4, DEFAULT_OPTS.connectionWindow],
      [1, 65535],
      [1, 200_000],
    ] as const),
    maxHeaderListSize: rng.weighted([
      [4, DEFAULT_OPTS.maxHeaderListSize],
      [1, 200],
      [1, 4096],
    ] as const),
  };
  const openAtReady = server ? 0 : rng.range(0, 6);
  let frames = server ? genClientFrames(rng) : genServerFrames(rng, openAtReady);
  if (rng.chance(0.3)) frames = mutateFrames(rng, frames);
  const wire = serialize(server ? genPreface(rng) : Buffer.alloc(0), frames);
  const bytes = rng.chance(0.3) ? mutateBytes(rng, wire.bytes, wire.starts) : wire.bytes;
  return {
    server,
    opts,
    bytes,
    cuts: genCuts(rng, bytes.length, wire.starts),
    actSeed: rng.u32(),
    openAtReady,
  };
}

/** The case without `bytes[s, e)` (cuts after it move back). */
function withoutRange(c: ConnCase, s: number, e: number): ConnCase {
  const bytes = Buffer.concat([c.bytes.subarray(0, s), c.bytes.subarray(e)]);
  return {
    ...c,
    bytes,
    cuts: fixCuts(
      c.cuts.map((x) => (x <= s ? x : x >= e ? x - (e - s) : s)),
      bytes.length,
    ),
  };
}

function fixCuts(cuts: number[], length: number): number[] {
  return [...new Set(cuts.filter((x) => x > 0 && x < length))].sort((a, b) => a - b);
}

function* shrinkCandidates(c: ConnCase): Iterable<ConnCase> {
  const from = c.server && c.bytes.subarray(0, PREFACE.length).equals(PREFACE) ? PREFACE.length : 0;
  const starts = frameStarts(c.bytes, from);
  // Whole frames, last first.
  for (let i = starts.length - 1; i >= 0; i--) {
    const s = starts[i]!;
    const e = i + 1 < starts.length ? starts[i + 1]! : c.bytes.length;
    yield withoutRange(c, s, e);
  }
  // Fewer reads.
  if (c.cuts.length > 0) yield { ...c, cuts: [] };
  for (const [s, e] of chunkRemovals(c.cuts.length))
    yield { ...c, cuts: c.cuts.filter((_, k) => k < s || k >= e) };
  // Shorter payloads, with their length fields kept right.
  for (const s of starts) {
    const len = c.bytes.readUIntBE(s, 3);
    if (len < 2 || s + FRAME_HEADER_LENGTH + len > c.bytes.length) continue;
    const flags = c.bytes[s + 4]!;
    if (flags & Flag.PADDED) continue;
    const keep = len >>> 1;
    const next = withoutRange(c, s + FRAME_HEADER_LENGTH + keep, s + FRAME_HEADER_LENGTH + len);
    next.bytes.writeUIntBE(keep, s, 3);
    yield next;
  }
  // Any bytes.
  for (const [s, e] of chunkRemovals(c.bytes.length)) yield withoutRange(c, s, e);
  // Default options, fewer streams opened.
  for (const k of Object.keys(DEFAULT_OPTS) as (keyof ConnCase["opts"])[])
    if (c.opts[k] !== DEFAULT_OPTS[k]) yield { ...c, opts: { ...c.opts, [k]: DEFAULT_OPTS[k] } };
  if (c.openAtReady > 0) yield { ...c, openAtReady: c.openAtReady - 1 };
}

function weight(c: ConnCase): number {
  let w = c.bytes.length * 1000 + c.cuts.length * 10 + c.openAtReady;
  for (const k of Object.keys(DEFAULT_OPTS) as (keyof ConnCase["opts"])[])
    if (c.opts[k] !== DEFAULT_OPTS[k]) w++;
  return w;
}

/** The frames of the input, one line each (a reading aid next to the hex). */
function frameList(c: ConnCase): string {
  const from = c.server && c.bytes.subarray(0, PREFACE.length).equals(PREFACE) ? PREFACE.length : 0;
  const lines = frameStarts(c.bytes, from).map((s) => {
    const b = c.bytes;
    return `    @${s}: type ${b[s + 3]} flags 0x${b[s + 4]!.toString(16)} stream ${b.readUInt32BE(s + 5) & 0x7fffffff} length ${b.readUIntBE(s, 3)}`;
  });
  return lines.length > 40
    ? [...lines.slice(0, 40), `    ... ${lines.length - 40} more`].join("\n")
    : lines.join("\n");
}

/** A case written out as code: paste it into a regression test and run it with `runConnectionCase`. */
export function describeCase(c: ConnCase): string {
  return [
    `  { server: ${c.server}, opts: ${JSON.stringify(c.opts)}, actSeed: ${c.actSeed}, openAtReady: ${c.openAtReady},`,
    `    cuts: ${JSON.stringify(c.cuts)},`,
    `    bytes: Buffer.from("${c.bytes.toString("hex")}", "hex") }`,
    `  frames${c.server && c.bytes.subarray(0, PREFACE.length).equals(PREFACE) ? " (after the preface)" : ""}:`,
    frameList(c),
  ].join("\n");
}

function target(server: boolean): FuzzTarget<ConnCase> {
  return {
    name: server ? "connection-server" : "connection-client",
    defaultCases: server ? 5000 : 4000,
    generate: (rng) => genCase(rng, server),
    run: runConnectionCase,
    shrinkCandidates,
    size: (c) => c.bytes.length,
    weight,
    describe: describeCase,
  };
}

export const serverTarget = target(true);
export const clientTarget = target(false);
