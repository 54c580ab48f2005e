/**
 * An in-process gateway for tests: a `Dataplane` on 127.0.0.1 with every listener port mapped to an
 * ephemeral port, recording each finished call. With GRPCROUTE_TEST_WORKERS=N set, the data plane is instead
 * the one of `serve --workers N` (worker processes behind shared sockets), so the same tests check both.
 * @internal test-only
 */
import { EventEmitter } from "node:events";
import { type AddressInfo, createServer } from "node:net";
import { Dataplane as InProcessDataplane, type UpstreamOptions } from "../../src/dataplane/index.js";
import type { CallInfo, DataplaneOptions, DataplaneStats } from "../../src/dataplane/types.js";
import type { RoutingTable } from "../../src/ir/routing-table.js";
import { onceWithin } from "./wait.js";
import { type Auditable, assertBooksBalance } from "./window-books.js";

/** The data plane the tests run: in-process, or in worker processes when GRPCROUTE_TEST_WORKERS is set. */
export const Dataplane: typeof InProcessDataplane =
  process.env.GRPCROUTE_TEST_WORKERS !== undefined
    ? ((await import("./cluster-dataplane.js")).Dataplane as unknown as typeof InProcessDataplane)
    : InProcessDataplane;

export interface TestGateway {
  dp: InProcessDataplane;
  /** Every finished call, in order. Also emitted as `call` on `events`. */
  calls: CallInfo[];
  events: EventEmitter;
  /** `127.0.0.1:<bound port>` of a listener port. */
  target(listenerPort: number): string;
  /** Resolves with the next `n` finished calls. */
  nextCalls(n: number): Promise<CallInfo[]>;
  /**
   * Resolves with the next finished call that `pred` accepts. Reports of earlier calls may still be on their
   * way (from worker processes they come over IPC, in no order across workers), so tests pick theirs out.
   */
  nextCall(pred: (info: CallInfo) => boolean): Promise<CallInfo>;
  /** The data plane's counters now (asked of every worker when it runs in worker processes). */
  stats(): Promise<DataplaneStats>;
  close(graceMs?: number): Promise<void>;
}

export async function startGateway(
  table: RoutingTable,
  opts: Omit<DataplaneOptions, "onCallEnd" | "address" | "portMap"> = {},
  upstream: UpstreamOptions = {},
): Promise<TestGateway> {
  const calls: CallInfo[] = [];
  const events = new EventEmitter();
  const portMap = new Map<number, number>();
  for (const l of table.listeners) portMap.set(l.port, 0);
  const dp = new Dataplane(
    {
      ...opts,
      address: "127.0.0.1",
      portMap,
      onCallEnd: (info) => {
        calls.push(info);
        events.emit("call", info);
      },
    },
    upstream,
  );
  await dp.apply(table);
  return {
    dp,
    calls,
    events,
    target(listenerPort: number): string {
      const p = dp.boundPorts().get(listenerPort);
      if (p === undefined) throw new Error(`listener port ${listenerPort} is not bound`);
      return `127.0.0.1:${p}`;
    },
    async nextCalls(n: number): Promise<CallInfo[]> {
      const out: CallInfo[] = [];
      while (out.length < n)
        out.push(
          (
            await onceWithin(events, "call", `the gateway to report ${n} finished calls (got ${out.length})`)
          )[0] as CallInfo,
        );
      return out;
    },
    async nextCall(pred: (info: CallInfo) => boolean): Promise<CallInfo> {
      for (;;) {
        const info = (
          await onceWithin(events, "call", "the gateway to report the call the test waits for")
        )[0] as CallInfo;
        if (pred(info)) return info;
      }
    },
    stats: async () => {
      const d = dp as { stats(): DataplaneStats; refreshStats?: () => Promise<DataplaneStats> };
      return d.refreshStats !== undefined ? d.refreshStats() : d.stats();
    },
    // Every test that closes its gateway also checks the relay's flow-control books first.
    close: async (graceMs = 1000) => {
      try {
        await assertBooksBalance(dp as Auditable, "when the test gateway closed");
      } finally {
        await dp.close(graceMs);
      }
    },
  };
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
