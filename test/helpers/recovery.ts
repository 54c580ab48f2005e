/**
 * Waiting for a backend to come back, and an endpoint whose connection attempts all fail, counted: for the
 * failover and recovery tests.
 * @internal test-only
 */
import assert from "node:assert/strict";
import { type EventEmitter, once } from "node:events";
import { type AddressInfo, createServer, type Server } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { type grpc, unary } from "./clients.js";

/** How long a restarted backend may take to get calls again; the data plane aims at 1 s, on a loaded machine. */
export const BACK_WITHIN_MS = 1500;
/** How long the tests poll for a restarted backend's first call. */
export const POLL_FOR_MS = 3000;
const POLL_EVERY_MS = 50;

/**
 * Waits until `check()` holds, looking again at each `event` of `ee`; fails naming `what` after `ms`.
 */
export async function until(what: string, ms: number, ee: EventEmitter, event: string, check: () => boolean) {
  const signal = AbortSignal.timeout(ms);
  while (!check()) {
    try {
      await once(ee, event, { signal });
    } catch {
      assert.fail(`waited ${ms} ms for ${what}`);
    }
  }
}

/**
 * Calls every `POLL_EVERY_MS` until one is served by `name`; resolves with the time from `since` to the end
 * of that call (ms), failing after `POLL_FOR_MS`.
 */
export async function firstServedBy(client: grpc.Client, name: string, since: number): Promise<number> {
  while (performance.now() - since < POLL_FOR_MS) {
    const r = await unary(client, "Unary", {}, { timeoutMs: 2000 });
    assert.equal(r.code, 0, `a call failed while ${name} came back: ${r.details}`);
    if (r.reply?.backend === name) return performance.now() - since;
    await delay(POLL_EVERY_MS);
  }
  return assert.fail(`${name} served no call within ${POLL_FOR_MS} ms of listening again`);
}

export interface RefusingServer {
  server: Server;
  port: number;
  /** Connections taken so far. */
  attempts: () => number;
}

/** A TCP server on 127.0.0.1 that takes connections and closes them at once (no HTTP/2): each attempt fails, counted. */
export async function refusingServer(port = 0): Promise<RefusingServer> {
  let n = 0;
  const server = createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port, attempts: () => n };
}

export function closeServer(s: Server): Promise<void> {
  return new Promise((r) => s.close(() => r()));
}
