/**
 * Fakes of the pipeline's parts for the runner's own tests: a source the test feeds, a translator that turns
 * each Gateway listener into an IR listener, and a data plane that records what it was asked.
 * @internal test-only
 */
import { PassThrough } from "node:stream";
import { emptyResourceSet, type Gateway, type Issue, type ResourceSet } from "../../../src/api/types.js";
import type { CallInfo, DataplaneOptions, DataplaneStats } from "../../../src/dataplane/types.js";
import type { RoutingTable } from "../../../src/ir/routing-table.js";
import { createLogger, type Logger } from "../../../src/log/logger.js";
import type { GatewayDeps } from "../../../src/runner/gateway.js";
import type { RunnerDataplane, RunnerSnapshot, RunnerSource } from "../../../src/runner/runner.js";
import type { StatusReport, TranslateOptions, TranslateResult } from "../../../src/translate/types.js";

export class FakeSource implements RunnerSource {
  emit: ((s: RunnerSnapshot) => void) | undefined;
  reloads = 0;
  version = 0;
  #initial: RunnerSnapshot[];
  constructor(initial: RunnerSnapshot[]) {
    this.#initial = initial;
  }
  run(signal: AbortSignal, emit: (s: RunnerSnapshot) => void): Promise<void> {
    this.emit = emit;
    for (const s of this.#initial) emit(s);
    return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  }
  reload(): void {
    this.reloads++;
  }
}

export class FakeDataplane implements RunnerDataplane {
  readonly applied: RoutingTable[] = [];
  readonly options: DataplaneOptions;
  /** Ports that fail to bind. */
  readonly busyPorts = new Set<number>();
  /** When set, apply waits for this promise (to test coalescing). */
  gate: Promise<void> | undefined;
  closedWith: number | undefined;
  #bound = new Map<number, number>();
  constructor(options: DataplaneOptions) {
    this.options = options;
  }
  async apply(table: RoutingTable): Promise<void> {
    if (this.gate !== undefined) await this.gate;
    for (const l of table.listeners) {
      if (this.busyPorts.has(l.port))
        throw new Error(`listen EADDRINUSE: address already in use :::${l.port}`);
    }
    this.applied.push(table);
    this.#bound = new Map(table.listeners.map((l) => [l.port, 40000 + l.port]));
  }
  boundPorts(): ReadonlyMap<number, number> {
    return this.#bound;
  }
  stats(): DataplaneStats {
    return { activeCalls: 3, upstreamSessions: 2 };
  }
  async close(graceMs?: number): Promise<void> {
    this.closedWith = graceMs;
  }
  /** Reports a call as the real data plane would. */
  call(info: CallInfo): void {
    this.options.onCallEnd?.(info);
  }
}

/** One IR listener per Gateway listener, with a certificate whose key must never be served. */
export function fakeTranslate(resources: ResourceSet, opts: TranslateOptions): TranslateResult {
  const table: RoutingTable = { version: opts.version ?? 0, listeners: [], clusters: {} };
  const status: StatusReport = {
    gateways: new Map(),
    grpcRoutes: new Map(),
    routeAnnotations: new Map(),
    trafficPolicies: new Map(),
    backendTLSPolicies: new Map(),
    targetGroupPolicies: new Map(),
  };
  for (const gw of resources.gateways) {
    for (const l of gw.spec.listeners) {
      table.listeners.push({
        name: `gateway/${gw.metadata.namespace}/${gw.metadata.name}/listener/${l.name}`,
        gateway: { namespace: gw.metadata.namespace, name: gw.metadata.name },
        listener: l.name,
        profile: "standard",
        port: l.port,
        protocol: l.protocol === "HTTPS" ? "HTTPS" : "HTTP",
        ...(l.protocol === "HTTPS"
          ? { tls: { certificates: [{ certPem: "CERT", keyPem: "SECRET-KEY", source: "default/cert" }] } }
          : {}),
        routes: [],
        noRoute: { kind: "direct", grpcStatus: 12, message: "no route" },
      });
    }
    status.gateways.set(`${gw.metadata.namespace}/${gw.metadata.name}`, {
      addresses: [],
      conditions: [],
      listeners: [],
    });
  }
  return { table, status };
}

export function gateway(
  name: string,
  listeners: { name: string; port: number; protocol?: string }[],
): Gateway {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: {
      name,
      namespace: "default",
      generation: 1,
      creationTimestamp: "",
      labels: {},
      annotations: {},
    },
    spec: {
      gatewayClassName: "grpcroute",
      listeners: listeners.map((l) => ({
        name: l.name,
        port: l.port,
        protocol: l.protocol ?? "HTTP",
        allowedRoutes: { namespaces: { from: "Same" } },
      })),
    },
    raw: {},
    origin: { file: "gw.yaml", index: 0 },
  };
}

export function snapshot(
  version: number,
  gateways: Gateway[],
  fatal: Issue[] = [],
  issues: Issue[] = [],
): RunnerSnapshot {
  return { version, resources: { ...emptyResourceSet(), gateways }, issues, fatal };
}

/** A logger writing JSON lines into memory. */
export function memoryLogger(): {
  log: Logger;
  lines: () => Record<string, unknown>[];
  /** Resolves once the lines written so far satisfy `pred` (checked after every write). */
  until: (pred: (lines: Record<string, unknown>[]) => boolean) => Promise<void>;
} {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c.toString("utf8")));
  const log = createLogger({ stream });
  const lines = (): Record<string, unknown>[] =>
    chunks
      .join("")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const until = (pred: (lines: Record<string, unknown>[]) => boolean): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (!pred(lines())) return;
        stream.off("data", check);
        resolve();
      };
      stream.on("data", check);
      check();
    });
  return { log, lines, until };
}

export function fakeDeps(source: FakeSource): GatewayDeps & { dataplane: () => FakeDataplane } {
  let dp: FakeDataplane | undefined;
  return {
    createSource: () => source,
    translate: fakeTranslate,
    renderStatus: (_r, status) => JSON.stringify({ kind: "List", gateways: [...status.gateways.keys()] }),
    createDataplane: (opts) => {
      dp = new FakeDataplane(opts);
      return dp;
    },
    dataplane: () => {
      if (dp === undefined) throw new Error("data plane not created yet");
      return dp;
    },
  };
}
