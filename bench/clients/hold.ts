/**
 * Holds HTTP/2 (h2c) client connections open to a target, idle or with open streams, for the `conns` phase.
 *   node --import tsx bench/clients/hold.ts --port P --connections N [--streams S] [--path /bench.Streamer/Echo]
 * Each connection sends the preface and its SETTINGS, acknowledges the server's, then opens S streams: a
 * request's HEADERS without END_STREAM and no DATA, so the call stays open at the backend for as long as the
 * connection lives. Connections open 200 at a time. Prints `READY <connections> <streams>` once all of them
 * are up and their streams sent, then holds them until SIGTERM and prints one JSON line: how many were open,
 * and how many the server closed (GOAWAY or close) or reset (RST_STREAM) while held.
 */
import * as net from "node:net";
import { Flag, FrameType, frame, PREFACE, settingsFrame } from "../../src/dataplane/relay/frames.js";
import { HpackEncoder } from "../../src/dataplane/relay/hpack.js";

function arg(name: string, dflt?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const port = Number(arg("port"));
const connections = Number(arg("connections", "100"));
const streams = Number(arg("streams", "0"));
const path = arg("path", "/bench.Streamer/Echo") as string;
const BATCH = 200;

const SETTINGS_ACK = settingsFrame([], true);
let closed = 0;
let resets = 0;
let goaways = 0;
let errors = 0;
let firstError = "";
const sockets: net.Socket[] = [];

/** Opens one connection; resolves once the server's SETTINGS came and the streams were written. */
function open(): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    const enc = new HpackEncoder();
    let acked = false;
    let ready = false;
    let buf: Buffer = Buffer.alloc(0);
    s.setNoDelay(true);
    s.on("connect", () => {
      // A large window so the server never waits on this client for one.
      s.write(Buffer.concat([PREFACE, settingsFrame([])]));
    });
    s.on("data", (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3] as number;
        const flags = buf[4] as number;
        if (type === FrameType.SETTINGS && (flags & Flag.ACK) === 0 && !acked) {
          acked = true;
          const out: Buffer[] = [SETTINGS_ACK];
          for (let i = 0; i < streams; i++) {
            const block = enc.encode([
              ":method",
              "POST",
              ":scheme",
              "http",
              ":path",
              path,
              ":authority",
              "bench",
              "content-type",
              "application/grpc",
              "te",
              "trailers",
            ]);
            out.push(frame(FrameType.HEADERS, Flag.END_HEADERS, 1 + 2 * i, block));
          }
          s.write(Buffer.concat(out), () => {
            ready = true;
            resolve();
          });
        } else if (type === FrameType.PING && (flags & Flag.ACK) === 0) {
          s.write(frame(FrameType.PING, Flag.ACK, 0, buf.subarray(9, 9 + len)));
        } else if (type === FrameType.RST_STREAM) {
          resets++;
        } else if (type === FrameType.GOAWAY) {
          goaways++;
        }
        buf = buf.subarray(9 + len);
      }
    });
    s.on("error", (e) => {
      errors++;
      firstError ||= e.message;
    });
    s.on("close", () => {
      closed++;
      if (!ready) resolve();
    });
    sockets.push(s);
  });
}

for (let i = 0; i < connections; i += BATCH) {
  const batch: Promise<void>[] = [];
  for (let j = i; j < Math.min(connections, i + BATCH); j++) batch.push(open());
  await Promise.all(batch);
}
process.stdout.write(`READY ${connections - closed} ${(connections - closed) * streams}\n`);

process.on("SIGTERM", () => {
  process.stdout.write(
    `${JSON.stringify({ connections, open: connections - closed, closed, goaways, resets, errors, firstError })}\n`,
  );
  for (const s of sockets) s.destroy();
  process.exit(0);
});
// Keeps the process alive while the sockets are held (they keep the loop alive too; this survives their loss).
setInterval(() => {}, 60_000);
