/**
 * Prometheus metrics of the gateway (prom-client, one registry per process so tests can run several).
 *
 * Per-call updates come from the data plane's `onCallEnd` on the hot path. prom-client's own counters and
 * histograms hash their label set on every update (about 1.5 us a call for the two call metrics), so the
 * call metrics are kept here instead, in plain per-series fields found by one map lookup, and handed to the
 * registry as prom-client's metric JSON when `/metrics` is scraped. Everything else is prom-client's.
 */
import { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { grpcCodeName } from "../dataplane/grpc-status.js";
import type { EndpointEvent } from "../dataplane/relay/endpoint-group.js";
import type { CallInfo, DataplaneStats } from "../dataplane/types.js";
import { gatewayOf, PerTarget, routeParts } from "../log/call-fields.js";

/** Seconds. gRPC calls through a local proxy range from sub-millisecond to long-lived streams. */
const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** A registry's metrics as `Registry.getMetricsAsJSON()` gives them. */
export type RegistryJson = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;

type RouteLabels = { gateway: string; route: string; rule: string; backend: string };

/** One `grpcroute_calls_total` series: `protocol` is `grpc`, or `grpc-web` for calls that came in as gRPC-Web. */
interface CallSeries {
  labels: RouteLabels & { protocol: string; grpc_code: string };
  calls: number;
}

/** One `grpcroute_call_duration_seconds` series: per-bucket (not cumulative) counts, then sum and count. */
interface DurationSeries {
  labels: RouteLabels;
  buckets: Float64Array;
  sum: number;
  count: number;
}

interface SeriesPair {
  calls: CallSeries;
  duration: DurationSeries;
}

const newStatusList = (): (SeriesPair | undefined)[] => [];

type MetricValueJson = { value: number; labels: Record<string, string | number>; metricName?: string };

/**
 * A metric whose values are read from the series above at scrape time, in the shape prom-client's
 * registry formats and its cluster aggregation sums (what `Counter.get()` and `Histogram.get()` return).
 */
class SeriesMetric {
  readonly aggregator = "sum";
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "histogram",
    private readonly values: () => MetricValueJson[],
  ) {}
  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    values: MetricValueJson[];
    aggregator: string;
  }> {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values: this.values(),
      aggregator: this.aggregator,
    };
  }
  reset(): void {}
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
  /** By listener, route and backend, then by gRPC status: the series a finished call updates. */
  readonly #series = new PerTarget<(SeriesPair | undefined)[]>();
  /** The same for gRPC-Web calls. */
  readonly #webSeries = new PerTarget<(SeriesPair | undefined)[]>();
  /** Call-count series in the order they appeared. */
  readonly #callSeries: CallSeries[] = [];
  /** Duration series by listener, route and backend. */
  readonly #durations = new Map<string, DurationSeries>();
  readonly #reloads: Counter<"result">;
  readonly #version: Gauge;
  readonly #lastReloadOk: Gauge;
  readonly #kept: Gauge;
  /** `grpcroute_retries_total` series by listener, route and backend. */
  readonly #retries = new PerTarget<{ labels: RouteLabels; retries: number }>();
  readonly #retrySeries: { labels: RouteLabels; retries: number }[] = [];
  readonly #ejections: Counter<"backend">;
  #gather: (() => Promise<RegistryJson[]>) | undefined;

  constructor(opts: GatewayMetricsOptions = {}) {
    const registers = [this.registry];
    this.registry.registerMetric(
      new SeriesMetric(
        "grpcroute_calls_total",
        "Calls finished, by gateway, route (namespace/name), rule index, backend cluster, protocol (grpc, grpc-web) and gRPC status.",
        "counter",
        () => this.#callSeries.map((c) => ({ value: c.calls, labels: { ...c.labels } })),
      ) as unknown as Counter,
    );
    this.registry.registerMetric(
      new SeriesMetric(
        "grpcroute_call_duration_seconds",
        "Call duration from request headers to the end of the response, in seconds.",
        "histogram",
        () => this.#durationValues(),
      ) as unknown as Counter,
    );
    this.registry.registerMetric(
      new SeriesMetric(
        "grpcroute_retries_total",
        "Retries made under a TrafficPolicy (attempts after the first), by gateway, route, rule and backend.",
        "counter",
        () => this.#retrySeries.map((r) => ({ value: r.retries, labels: { ...r.labels } })),
      ) as unknown as Counter,
    );
    const stats = opts.stats;
    new Gauge({
      name: "grpcroute_endpoint_healthy",
      help: "1 when a health-checked endpoint passes its TrafficPolicy health checks, 0 when not (with several workers: 1 only when every worker sees it healthy).",
      labelNames: ["backend", "endpoint"],
      registers,
      aggregator: "min",
      collect() {
        this.reset();
        for (const e of stats?.()?.endpointHealth ?? []) {
          this.labels({ backend: e.backend, endpoint: e.endpoint }).set(e.healthy ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: "grpcroute_backend_panic",
      help: "1 while every endpoint of a health-checked backend is unhealthy and calls go to them anyway (panic routing).",
      labelNames: ["backend"],
      registers,
      aggregator: "max",
      collect() {
        this.reset();
        for (const b of stats?.()?.panicBackends ?? []) this.labels({ backend: b }).set(1);
      },
    });
    this.#ejections = new Counter({
      name: "grpcroute_ejections_total",
      help: "Endpoints ejected by TrafficPolicy outlier detection, by backend.",
      labelNames: ["backend"],
      registers,
    });
    new Gauge({
      name: "grpcroute_retry_buffer_bytes",
      help: "Request bytes kept for retries now (bounded by --retry-buffer-limit per data-plane process).",
      registers,
      collect() {
        this.set(stats?.()?.retryBufferedBytes ?? 0);
      },
    });
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
      help: "Configurations processed, by result: success (applied), kept_previous (applied, but some object's new version was rejected and its previous version kept) or failure (the last good configuration kept).",
      labelNames: ["result"],
      registers,
    });
    // Both results appear from the start, so `rate()` and alerts work before the first failure.
    this.#reloads.labels({ result: "success" }).inc(0);
    this.#reloads.labels({ result: "kept_previous" }).inc(0);
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
    this.#kept = new Gauge({
      name: "grpcroute_config_kept_previous_objects",
      help: "Objects served at their previous version because their new version was rejected, in the configuration being served.",
      registers,
    });
    this.#kept.set(0);
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "" });
  }

  /** Records a finished call. Hot path: one map lookup and a few additions. */
  observeCall(info: CallInfo): void {
    if (info.attempts !== undefined) this.#retried(info);
    const byStatus = (info.protocol === undefined ? this.#series : this.#webSeries).get(info, newStatusList);
    let pair = byStatus[info.grpcStatus];
    if (pair === undefined) {
      pair = this.#newSeries(info);
      byStatus[info.grpcStatus] = pair;
    }
    pair.calls.calls++;
    const d = pair.duration;
    const seconds = info.durationMs / 1000;
    d.sum += seconds;
    d.count++;
    const bounds = DURATION_BUCKETS;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]!) {
        d.buckets[i]!++;
        break;
      }
    }
  }

  /** A call a TrafficPolicy retried: its attempts after the first. */
  #retried(info: CallInfo): void {
    const r = this.#retries.get(info, (i) => {
      const parts = i.route !== undefined ? routeParts(i.route) : { route: "", rule: "" };
      const series = {
        labels: { gateway: gatewayOf(i), route: parts.route, rule: parts.rule, backend: i.backend ?? "" },
        retries: 0,
      };
      this.#retrySeries.push(series);
      return series;
    });
    r.retries += (info.attempts ?? 1) - 1;
  }

  /** An endpoint event of health checks or outlier detection. */
  endpointEvent(e: EndpointEvent): void {
    if (e.kind === "ejected") this.#ejections.labels({ backend: e.backend }).inc();
  }

  #newSeries(info: CallInfo): SeriesPair {
    const parts = info.route !== undefined ? routeParts(info.route) : { route: "", rule: "" };
    const labels: RouteLabels = {
      gateway: gatewayOf(info),
      route: parts.route,
      rule: parts.rule,
      backend: info.backend ?? "",
    };
    const calls: CallSeries = {
      labels: { ...labels, protocol: info.protocol ?? "grpc", grpc_code: grpcCodeName(info.grpcStatus) },
      calls: 0,
    };
    this.#callSeries.push(calls);
    const dkey = `${info.listener}\u0000${info.route ?? ""}\u0000${info.backend ?? ""}`;
    let duration = this.#durations.get(dkey);
    if (duration === undefined) {
      duration = { labels, buckets: new Float64Array(DURATION_BUCKETS.length), sum: 0, count: 0 };
      this.#durations.set(dkey, duration);
    }
    return { calls, duration };
  }

  /** The duration histogram as prom-client's `Histogram.get()` gives it: cumulative buckets, +Inf, sum, count. */
  #durationValues(): MetricValueJson[] {
    const name = "grpcroute_call_duration_seconds";
    const out: MetricValueJson[] = [];
    for (const d of this.#durations.values()) {
      let acc = 0;
      for (let i = 0; i < DURATION_BUCKETS.length; i++) {
        acc += d.buckets[i]!;
        out.push({
          value: acc,
          labels: { ...d.labels, le: DURATION_BUCKETS[i]! },
          metricName: `${name}_bucket`,
        });
      }
      out.push({ value: d.count, labels: { ...d.labels, le: "+Inf" }, metricName: `${name}_bucket` });
      out.push({ value: d.sum, labels: { ...d.labels }, metricName: `${name}_sum` });
      out.push({ value: d.count, labels: { ...d.labels }, metricName: `${name}_count` });
    }
    return out;
  }

  /**
   * A configuration was applied and is now served; `keptPrevious` of its objects are at their previous
   * version because their new version was rejected.
   */
  configApplied(version: number, keptPrevious = 0): void {
    this.#reloads.labels({ result: keptPrevious > 0 ? "kept_previous" : "success" }).inc();
    this.#version.set(version);
    this.#kept.set(keptPrevious);
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
