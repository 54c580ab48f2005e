/**
 * Prometheus metrics of the gateway (prom-client, one registry per process so tests can run several).
 *
 * Per-call updates come from the data plane's `onCallEnd` on the hot path, so label children are resolved
 * once per (gateway, route, rule, backend, code) combination and cached; a call then costs two map lookups,
 * one increment and one histogram observation.
 */
import { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { grpcCodeName } from "../dataplane/grpc-status.js";
import type { CallInfo, DataplaneStats } from "../dataplane/types.js";
import { gatewayOf, routeParts } from "../log/call-fields.js";

/** Seconds. gRPC calls through a local proxy range from sub-millisecond to long-lived streams. */
const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** Label combinations kept in the cache; beyond it, children are looked up by prom-client each time. */
const CHILD_CACHE_LIMIT = 10_000;

/** A registry's metrics as `Registry.getMetricsAsJSON()` gives them. */
export type RegistryJson = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;

type CallLabels = "gateway" | "route" | "rule" | "backend" | "grpc_code";

interface CallChildren {
  calls: { inc(): void };
  duration: { observe(v: number): void };
}

export interface GatewayMetricsOptions {
  /** Read at scrape time for the active-calls and upstream-sessions gauges. */
  stats?: () => DataplaneStats | undefined;
  /** Also export Node.js process metrics (`process_*`, `nodejs_*`). Default true. */
  processMetrics?: boolean;
}

/** The gateway's metrics and the registry `/metrics` serves. */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #calls: Counter<CallLabels>;
  readonly #duration: Histogram<"gateway" | "route" | "rule" | "backend">;
  readonly #reloads: Counter<"result">;
  readonly #version: Gauge;
  readonly #lastReloadOk: Gauge;
  readonly #children = new Map<string, CallChildren>();
  #gather: (() => Promise<RegistryJson[]>) | undefined;

  constructor(opts: GatewayMetricsOptions = {}) {
    const registers = [this.registry];
    this.#calls = new Counter({
      name: "grpcroute_calls_total",
      help: "Calls finished, by gateway, route (namespace/name), rule index, backend cluster and gRPC status.",
      labelNames: ["gateway", "route", "rule", "backend", "grpc_code"],
      registers,
    });
    this.#duration = new Histogram({
      name: "grpcroute_call_duration_seconds",
      help: "Call duration from request headers to the end of the response, in seconds.",
      labelNames: ["gateway", "route", "rule", "backend"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    const stats = opts.stats;
    new Gauge({
      name: "grpcroute_active_calls",
      help: "Calls in flight.",
      registers,
      collect() {
        this.set(stats?.()?.activeCalls ?? 0);
      },
    });
    new Gauge({
      name: "grpcroute_upstream_sessions",
      help: "Open HTTP/2 sessions to backend endpoints.",
      registers,
      collect() {
        this.set(stats?.()?.upstreamSessions ?? 0);
      },
    });
    this.#reloads = new Counter({
      name: "grpcroute_config_reloads_total",
      help: "Configurations processed, by result: success (applied) or failure (the last good one kept).",
      labelNames: ["result"],
      registers,
    });
    // Both results appear from the start, so `rate()` and alerts work before the first failure.
    this.#reloads.labels({ result: "success" }).inc(0);
    this.#reloads.labels({ result: "failure" }).inc(0);
    this.#version = new Gauge({
      name: "grpcroute_config_version",
      help: "Version of the configuration being served (0 before the first one is applied).",
      registers,
    });
    this.#version.set(0);
    this.#lastReloadOk = new Gauge({
      name: "grpcroute_config_last_reload_successful",
      help: "1 when the last configuration processed was applied, 0 when it was rejected.",
      registers,
    });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "" });
  }

  /** Records a finished call. Hot path. */
  observeCall(info: CallInfo): void {
    const key = `${info.listener}\u0000${info.route ?? ""}\u0000${info.backend ?? ""}\u0000${info.grpcStatus}`;
    let ch = this.#children.get(key);
    if (ch === undefined) {
      ch = this.#resolve(info);
      if (this.#children.size < CHILD_CACHE_LIMIT) this.#children.set(key, ch);
    }
    ch.calls.inc();
    ch.duration.observe(info.durationMs / 1000);
  }

  #resolve(info: CallInfo): CallChildren {
    const parts = info.route !== undefined ? routeParts(info.route) : { route: "", rule: "" };
    const base = {
      gateway: gatewayOf(info),
      route: parts.route,
      rule: parts.rule,
      backend: info.backend ?? "",
    };
    return {
      calls: this.#calls.labels({ ...base, grpc_code: grpcCodeName(info.grpcStatus) }),
      duration: this.#duration.labels(base),
    };
  }

  /** A configuration was applied and is now served. */
  configApplied(version: number): void {
    this.#reloads.labels({ result: "success" }).inc();
    this.#version.set(version);
    this.#lastReloadOk.set(1);
  }

  /** A configuration was rejected; the last good one keeps serving. */
  configFailed(): void {
    this.#reloads.labels({ result: "failure" }).inc();
    this.#lastReloadOk.set(0);
  }

  /**
   * Adds other processes' registries (the data-plane workers') to {@link render}: counters, histograms and
   * most gauges are summed, as prom-client's cluster aggregation does.
   */
  gatherFrom(gather: () => Promise<RegistryJson[]>): void {
    this.#gather = gather;
  }

  /** The Prometheus text exposition of every metric (with the gathered registries added in). */
  async render(): Promise<string> {
    if (this.#gather === undefined) return this.registry.metrics();
    const [own, others] = await Promise.all([this.registry.getMetricsAsJSON(), this.#gather()]);
    return AggregatorRegistry.aggregate([own, ...others]).metrics();
  }

  /** Content type of {@link render}'s output. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
