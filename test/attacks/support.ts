/**
 * The attack kit: the gateway in a child process (its memory measured apart from the attacker's), the raw
 * HTTP/2 attacker (test/helpers/attacker.ts, shared with the benchmark's attacks phase), and a well-behaved
 * grpc-js client that keeps calling through the same gateway meanwhile.
 * @internal test-only
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { type ConnectionHandler, H2Connection, type H2Stream } from "../../src/dataplane/relay/connection.js";
import type { HpackEncoder } from "../../src/dataplane/relay/hpack.js";
import type { ProtocolLimits } from "../../src/dataplane/relay/limits.js";
import {
  Attacker,
  requestBlock as attackRequest,
  EMPTY_MESSAGE,
  FrameType,
  frame,
} from "../helpers/attacker.js";
import { closeAll, type grpc, TESTER_SERVICE, testerClient, unary } from "../helpers/index.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Heap (after a full collection) plus external (Buffer) bytes, and the RSS, of the gateway process; with the
 * client connections it holds open and the bytes it has read on them.
 */
export interface Memory {
  heap: number;
  external: number;
  rss: number;
  /** Client connections open: the client's port, and the bytes the gateway read on it. */
  clients: { remotePort: number; bytesRead: number }[];
}

/** The gateway process. */
export interface AttackGateway {
  readonly port: number;
  readonly target: string;
  memory(): Promise<Memory>;
  /**
   * The memory once the gateway has read everything `a` sent on connections still open (or `a` was closed):
   * what the attack costs while it lasts, not before the gateway got to it.
   */
  memoryAfter(a: Attacker, what: string): Promise<Memory>;
  close(): Promise<void>;
}

/** Starts the gateway in its own process, routing every call to `backend` (`host:port`). */
export async function startAttackGateway(
  backend: string,
  limits: Partial<ProtocolLimits> = {},
): Promise<AttackGateway> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--expose-gc", "--import", "tsx", "test/attacks/gateway-process.ts", backend, JSON.stringify(limits)],
    { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines: string[] = [];
  const waiters: { prefix: string; resolve: (line: string) => void }[] = [];
  let buf = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (d: string) => {
    buf += d;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiters.findIndex((x) => line.startsWith(x.prefix));
      if (w >= 0) waiters.splice(w, 1)[0]!.resolve(line);
      else lines.push(line);
    }
  });
  const next = (prefix: string, what: string): Promise<string> => {
    const have = lines.findIndex((l) => l.startsWith(prefix));
    if (have >= 0) return Promise.resolve(lines.splice(have, 1)[0]!);
    return new Promise<string>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`the gateway process did not answer ${what} in 20 s`)),
        20_000,
      );
      waiters.push({
        prefix,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
    });
  };
  const exited = once(child, "exit");
  const listening = await Promise.race([
    next("LISTENING ", "LISTENING"),
    exited.then(() => {
      throw new Error("the gateway process exited before listening");
    }),
  ]);
  const port = Number(listening.slice("LISTENING ".length));
  return {
    port,
    target: `127.0.0.1:${port}`,
    async memory() {
      const answer = next("MEM ", "mem");
      child.stdin!.write("mem\n");
      return JSON.parse((await answer).slice(4)) as Memory;
    },
    async memoryAfter(a: Attacker, what: string) {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const answer = next("MEM ", "mem");
        child.stdin!.write("mem\n");
        const m = JSON.parse((await answer).slice(4)) as Memory;
        const mine = m.clients.find((c) => c.remotePort === a.socket.localPort);
        if (a.isClosed || mine === undefined || mine.bytesRead >= a.sentBytes) return m;
        if (Date.now() > deadline) throw new Error(`the gateway did not read ${what} within 20 s`);
      }
    },
    async close() {
      child.stdin!.end();
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Heap + external growth between two readings, in MiB. */
export function growthMiB(before: Memory, after: Memory): number {
  return (after.heap + after.external - before.heap - before.external) / (1 << 20);
}

/** A gRPC request header list for the Tester service's Unary method, as a header block. */
export function requestBlock(enc: HpackEncoder, extra: string[] = []): Buffer {
  return attackRequest(enc, `/${TESTER_SERVICE}/Unary`, extra);
}

export { Attacker, EMPTY_MESSAGE, FrameType, frame };

/**
 * A well-behaved grpc-js client calling the gateway over and over until `stop()`: every result is kept, so
 * the test can assert that they all succeeded while the attack went on.
 */
export class GoodClient {
  private readonly client: grpc.Client;
  readonly codes: number[] = [];
  readonly failures: string[] = [];
  private running = true;
  private readonly loop: Promise<void>;
  private waiter: { count: number; resolve: () => void } | null = null;

  constructor(target: string) {
    this.client = testerClient(target);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const r = await unary(this.client, "Unary", { payload: Buffer.alloc(16) }, { timeoutMs: 10_000 });
      this.codes.push(r.code);
      if (r.code !== 0) this.failures.push(`${r.code} ${r.details}`);
      if (this.waiter !== null && this.codes.length >= this.waiter.count) {
        const w = this.waiter;
        this.waiter = null;
        w.resolve();
      }
    }
  }

  /** Waits for `n` more calls (so the client is seen working now, not only before); names `what` on timeout. */
  async more(n: number, what: string, ms = 15_000): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => {
        this.waiter = { count: this.codes.length + n, resolve };
      }),
      new Promise<never>((_, reject) => {
        t = setTimeout(
          () => reject(new Error(`the good client made no ${n} calls within ${ms} ms ${what}`)),
          ms,
        );
      }),
    ]).finally(() => clearTimeout(t));
  }

  /** Stops calling; resolves with what it saw. */
  async stop(): Promise<{ calls: number; failures: string[] }> {
    this.running = false;
    await this.loop;
    closeAll(this.client);
    return { calls: this.codes.length, failures: this.failures };
  }
}

/** What a raw backend saw of one stream. */
export interface SeenStream {
  fields: string[];
  /** The request's END_STREAM arrived. */
  ended: boolean;
  /** The gateway reset the stream. */
  reset: boolean;
}

/** A backend made of the relay's own HTTP/2 connection: it records every header block that reaches it. */
export interface RawBackend {
  readonly address: string;
  readonly streams: SeenStream[];
  /** Streams it had open at most at once. */
  maxOpen: number;
  /** The first stream whose request header `name` has `value`. */
  find(name: string, value: string): SeenStream | undefined;
  close(): Promise<void>;
}

/**
 * Starts a raw backend. Each request is answered once it ends, as a gRPC call with an empty reply, unless
 * `respond` returns other header lists for it (`headers`, then a 5-byte message, then `trailers`; either may
 * be left out).
 */
export async function startRawBackend(
  respond: (fields: string[]) => { headers?: string[]; trailers?: string[] } | undefined = () => undefined,
): Promise<RawBackend> {
  const streams: SeenStream[] = [];
  let open = 0;
  const b: RawBackend = {
    address: "",
    streams,
    maxOpen: 0,
    find(name, value) {
      return streams.find((s) => {
        for (let i = 0; i < s.fields.length; i += 2)
          if (s.fields[i] === name && s.fields[i + 1] === value) return true;
        return false;
      });
    },
    close: async () => {},
  };
  const answer = (c: H2Connection, st: H2Stream, seen: SeenStream): void => {
    const r = respond(seen.fields) ?? {};
    const headers = r.headers ?? [":status", "200", "content-type", "application/grpc"];
    const trailers = r.trailers ?? ["grpc-status", "0"];
    c.writeHeaders(st, headers, false);
    c.writeData(st, EMPTY_MESSAGE, false);
    c.writeHeaders(st, trailers, true);
  };
  const handler: ConnectionHandler = {
    onHeaders(c, st, fields, endStream) {
      if (st.ctx !== undefined) return;
      const seen: SeenStream = { fields, ended: endStream, reset: false };
      st.ctx = seen;
      streams.push(seen);
      open++;
      b.maxOpen = Math.max(b.maxOpen, open);
      if (endStream) {
        open--;
        answer(c, st, seen);
      }
    },
    onData(c, st, data, endStream) {
      c.consume(st, data.length);
      const seen = st.ctx as SeenStream | undefined;
      if (seen === undefined || !endStream) return;
      seen.ended = true;
      open--;
      answer(c, st, seen);
    },
    onReset(_c, st) {
      const seen = st.ctx as SeenStream | undefined;
      if (seen === undefined || seen.ended) return;
      seen.reset = true;
      open--;
    },
    onDataReleased() {},
    onReady() {},
    onGoaway() {},
    onClose() {},
  };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    new H2Connection(sock, true, handler);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  (b as { address: string }).address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  b.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return b;
}
