/**
 * `serve --workers N`: the data plane spread over N worker processes (node:cluster), seen by the runner as
 * one data plane.
 *
 * The primary process keeps everything that must happen once: reading and translating the configuration,
 * status, the admin server, generated certificates (so every worker presents the same one). Each routing
 * table is sent to every worker, which applies it to its own data plane with its own upstream pools; an
 * apply succeeds when every worker applied it. The listening sockets are node:cluster's: the primary owns
 * them and hands accepted connections to the workers in turn, so long-lived HTTP/2 connections spread
 * evenly. A worker that dies is replaced and given the current table; the others keep serving meanwhile.
 */
import cluster, { type Worker } from "node:cluster";
import { type AddressInfo, createServer } from "node:net";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import type { EndpointEvent } from "../dataplane/relay/endpoint-group.js";
import type { CallInfo, DataplaneApi, DataplaneStats } from "../dataplane/types.js";
import type { IrListener, RoutingTable } from "../ir/routing-table.js";
import type { Logger, LogLevel } from "../log/logger.js";
import { GatewayError, type GatewayErrorCode, GW_ERR_BIND, GW_ERR_CONFIG } from "../util/errors.js";
import { GeneratedCertificates } from "../util/self-signed.js";
import { withNodeFlags } from "./node-flags.js";
import type { MetricsJson, PrimaryMessage, WorkerInit, WorkerMessage } from "./worker-protocol.js";

/** The script each worker runs (the compiled `.js`, or the `.ts` source under tsx). */
const WORKER_ENTRY = fileURLToPath(
  new URL(`./worker-main${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);

/** How long the primary waits for a worker's stats or metrics before leaving it out. */
const QUERY_TIMEOUT_MS = 2000;
/** After a worker died, how long before its replacement starts (more when workers keep dying). */
const RESTART_DELAY_MS = 100;
const RESTART_DELAY_MAX_MS = 5000;
/** A worker that does not stop this long after its drain time is killed. */
const CLOSE_MARGIN_MS = 5000;

export interface ClusterDataplaneOptions {
  /** Worker processes (>= 1). */
  workers: number;
  address?: string;
  portMap?: ReadonlyMap<number, number>;
  balancer?: WorkerInit["balancer"];
  /** Upstream connection tuning (plain data), as the data planes take it. */
  upstream?: Record<string, unknown>;
  /** HTTP/2 limits against abusive clients (plain data), as the data planes take them. */
  limits?: WorkerInit["limits"];
  /** Workers' own logs and access lines. Default json, info. */
  logFormat?: WorkerInit["logFormat"];
  logLevel?: LogLevel;
  /** See {@link WorkerInit.record}. */
  record: WorkerInit["record"];
  /** With `record: "forward"`: every finished call of every worker. */
  onCallEnd?: (info: CallInfo) => void;
  /** With `record: "forward"`: every endpoint event (health, ejection, panic) of every worker. */
  onEndpointEvent?: (event: EndpointEvent) => void;
  /** Request bytes each worker's calls may keep for retries at once (`--retry-buffer-limit`). */
  retryBufferBytes?: number;
  /** Largest transcoded request body (`--transcoding-body-limit`). */
  transcodingBodyLimit?: number;
  /** A certificate generated for a listener that asks for one (once per listener and names). */
  onCertificateGenerated?: (listener: string, dnsNames: string[], certPem: string) => void;
  /** The primary's logger, for workers starting and dying. */
  log?: Logger;
}

interface Member {
  readonly worker: Worker;
  readonly id: number;
  /** Resolves when the worker is listening for messages and has its init, or when it exited first. */
  readonly ready: Promise<void>;
  readonly markReady: () => void;
  exited: boolean;
}

interface Query {
  /** Worker ids still expected to answer. */
  waiting: Set<number>;
  answers: Map<number, WorkerMessage>;
  done: () => void;
}

/** The data plane of `serve --workers N`: N worker processes behind node:cluster's shared sockets. */
export class ClusterDataplane implements DataplaneApi {
  readonly #opts: ClusterDataplaneOptions;
  readonly #members = new Map<number, Member>();
  readonly #queries = new Map<number, Query>();
  #seq = 0;
  #started = false;
  #closing: Promise<void> | undefined;
  #table: RoutingTable | undefined;
  #bound: ReadonlyMap<number, number> = new Map();
  #stats: DataplaneStats = { activeCalls: 0, upstreamSessions: 0 };
  #queue: Promise<void> = Promise.resolve();
  /** Listener port -> local port; ports mapped to 0 are given a free port here, once, for every worker. */
  readonly #ports: Map<number, number>;
  readonly #generated: GeneratedCertificates;
  #restartDelay = RESTART_DELAY_MS;

  constructor(opts: ClusterDataplaneOptions) {
    if (!cluster.isPrimary) throw new Error("a ClusterDataplane runs in the primary process");
    this.#opts = { ...opts, workers: Math.max(1, Math.floor(opts.workers)) };
    this.#ports = new Map(opts.portMap ?? []);
    this.#generated = new GeneratedCertificates(opts.onCertificateGenerated);
  }

  /**
   * Sends the table to every worker and resolves once each applied it. When a worker refuses it (a port in
   * use, a certificate that cannot be loaded), rejects with that worker's error; workers that had applied it
   * go back to the previous table, so all of them keep serving the same one.
   */
  apply(table: RoutingTable): Promise<void> {
    const next = this.#queue.then(() => this.#applyNow(table));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #applyNow(input: RoutingTable): Promise<void> {
    if (this.#closing !== undefined) throw new GatewayError(GW_ERR_CONFIG, "the data plane is closed");
    const table = await this.#withCertificates(input);
    await this.#resolvePorts(table);
    if (!this.#started) await this.#start();
    const members = this.#live();
    const ports = [...this.#ports];
    const answers = await this.#ask(members, (seq) => ({ t: "apply", seq, table, ports }), undefined);
    const failed: { message: string; code: string | undefined }[] = [];
    const applied: Member[] = [];
    let bound: [number, number][] | undefined;
    for (const m of members) {
      const a = answers.get(m.id);
      if (a?.t === "applied" && a.ok) {
        applied.push(m);
        bound ??= a.bound;
      } else if (a?.t === "applied") {
        failed.push({ message: a.message, code: a.code });
      }
    }
    if (failed.length === 0 && bound !== undefined) {
      this.#table = table;
      this.#bound = new Map(bound);
      return;
    }
    if (failed.length === 0) {
      throw new GatewayError(GW_ERR_CONFIG, `routing table ${table.version}: no worker is running`);
    }
    const previous = this.#table;
    if (applied.length > 0 && previous !== undefined) {
      await this.#ask(applied, (seq) => ({ t: "apply", seq, table: previous, ports }), undefined);
    }
    const first = failed[0]!;
    throw new GatewayError((first.code as GatewayErrorCode | undefined) ?? GW_ERR_CONFIG, first.message);
  }

  /** Listener port -> bound local port, from the last table every worker applied. */
  boundPorts(): ReadonlyMap<number, number> {
    return this.#bound;
  }

  /** Version of the table the workers serve; undefined before the first apply. */
  version(): number | undefined {
    return this.#table?.version;
  }

  /** The workers' counters as of the last {@link refreshStats} (zero once closed). */
  stats(): DataplaneStats {
    return this.#stats;
  }

  /** Asks every worker for its counters and returns their sum. */
  async refreshStats(): Promise<DataplaneStats> {
    const answers = await this.#ask(this.#live(), (seq) => ({ t: "stats", seq }), QUERY_TIMEOUT_MS);
    const sum: DataplaneStats = { activeCalls: 0, upstreamSessions: 0 };
    for (const a of answers.values()) {
      if (a.t !== "stats") continue;
      sum.activeCalls += a.stats.activeCalls;
      sum.upstreamSessions += a.stats.upstreamSessions;
    }
    if (this.#closing === undefined) this.#stats = sum;
    return sum;
  }

  /** Every worker's metrics registry (workers that do not answer in time are left out). */
  async collectMetrics(): Promise<MetricsJson[]> {
    const answers = await this.#ask(this.#live(), (seq) => ({ t: "metrics", seq }), QUERY_TIMEOUT_MS);
    const out: MetricsJson[] = [];
    for (const a of answers.values()) if (a.t === "metrics") out.push(a.json);
    return out;
  }

  /** Tells every worker to drain for up to `graceMs`, and resolves once all of them exited. */
  close(graceMs = 10_000): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closing = (async () => {
      await this.#queue;
      const exits: Promise<void>[] = [];
      for (const m of this.#members.values()) {
        if (m.exited) continue;
        exits.push(
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => m.worker.process.kill("SIGKILL"), graceMs + CLOSE_MARGIN_MS);
            m.worker.once("exit", () => {
              clearTimeout(kill);
              resolve();
            });
          }),
        );
        this.#send(m, { t: "close", graceMs });
      }
      await Promise.all(exits);
      this.#stats = { activeCalls: 0, upstreamSessions: 0 };
      this.#bound = new Map();
    })();
    return this.#closing;
  }

  /** Stops every worker now, calls in flight included (a second Ctrl-C). */
  kill(): void {
    this.#closing ??= Promise.resolve();
    for (const m of this.#members.values()) if (!m.exited) m.worker.process.kill("SIGKILL");
  }

  // ----- workers

  async #start(): Promise<void> {
    this.#started = true;
    cluster.setupPrimary({
      exec: WORKER_ENTRY,
      args: [],
      execArgv: withNodeFlags(process.execArgv),
      serialization: "advanced",
    });
    const members: Member[] = [];
    for (let i = 0; i < this.#opts.workers; i++) members.push(this.#fork());
    await Promise.all(members.map((m) => m.ready));
    const started = members.filter((m) => !m.exited);
    this.#opts.log?.info(
      { workers: started.map((m) => ({ worker: m.id, pid: m.worker.process.pid })) },
      "workers started",
    );
  }

  #fork(): Member {
    const worker = cluster.fork();
    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolve) => {
      markReady = resolve;
    });
    const member: Member = { worker, id: worker.id, ready, markReady, exited: false };
    this.#members.set(member.id, member);
    worker.on("message", (raw: unknown) => {
      const msg = raw as WorkerMessage;
      if (msg.t === "ready") {
        this.#send(member, { t: "init", cfg: this.#init() });
        member.markReady();
        return;
      }
      if (msg.t === "call") {
        this.#opts.onCallEnd?.(msg.info);
        return;
      }
      if (msg.t === "endpoint") {
        this.#opts.onEndpointEvent?.(msg.event);
        return;
      }
      if (msg.t === "closed") return;
      const q = this.#queries.get(msg.seq);
      if (q === undefined || !q.waiting.delete(member.id)) return;
      q.answers.set(member.id, msg);
      if (q.waiting.size === 0) q.done();
    });
    // A worker that cannot be started (or whose IPC breaks) ends in `exit` too; errors add nothing.
    worker.on("error", () => {});
    worker.on("exit", (code, signal) => this.#exited(member, code, signal));
    return member;
  }

  #init(): WorkerInit {
    const o = this.#opts;
    const cfg: WorkerInit = {
      portMap: [...this.#ports],
      logFormat: o.logFormat ?? "json",
      logLevel: o.logLevel ?? "info",
      record: o.record,
    };
    if (o.address !== undefined) cfg.address = o.address;
    if (o.balancer !== undefined) cfg.balancer = o.balancer;
    if (o.upstream !== undefined) cfg.upstream = o.upstream;
    if (o.limits !== undefined) cfg.limits = o.limits;
    if (o.retryBufferBytes !== undefined) cfg.retryBufferBytes = o.retryBufferBytes;
    if (o.transcodingBodyLimit !== undefined) cfg.transcodingBodyLimit = o.transcodingBodyLimit;
    return cfg;
  }

  #exited(member: Member, code: number | null, signal: string | null): void {
    member.exited = true;
    this.#members.delete(member.id);
    member.markReady();
    for (const q of this.#queries.values()) {
      if (q.waiting.delete(member.id) && q.waiting.size === 0) q.done();
    }
    if (this.#closing !== undefined) return;
    const delay = this.#restartDelay;
    this.#restartDelay = Math.min(this.#restartDelay * 2, RESTART_DELAY_MAX_MS);
    this.#opts.log?.error(
      { worker: member.id, code, signal, restartInMs: delay },
      "worker exited; starting a new one (the other workers keep serving)",
    );
    setTimeout(() => void this.#replace(), delay).unref();
  }

  async #replace(): Promise<void> {
    if (this.#closing !== undefined) return;
    const m = this.#fork();
    await m.ready;
    // In turn with applies, so the new worker ends on the newest table whatever was in flight.
    const run = this.#queue.then(() => this.#catchUp(m));
    this.#queue = run.catch(() => undefined);
    await run;
  }

  /** Gives a new worker the table the others serve. */
  async #catchUp(m: Member): Promise<void> {
    const table = this.#table;
    if (table === undefined || m.exited || this.#closing !== undefined) return;
    const ports = [...this.#ports];
    const answers = await this.#ask([m], (seq) => ({ t: "apply", seq, table, ports }), undefined);
    const a = answers.get(m.id);
    if (a?.t === "applied" && a.ok) {
      this.#restartDelay = RESTART_DELAY_MS;
      this.#opts.log?.info(
        { worker: m.id, pid: m.worker.process.pid, version: table.version },
        "worker started",
      );
    } else if (a?.t === "applied") {
      this.#opts.log?.error(
        { worker: m.id, version: table.version, reason: a.message },
        "a new worker cannot apply the configuration",
      );
    }
  }

  #live(): Member[] {
    return [...this.#members.values()].filter((m) => !m.exited);
  }

  #send(m: Member, msg: PrimaryMessage): void {
    if (m.exited || !m.worker.isConnected()) return;
    try {
      m.worker.send(msg);
    } catch {
      // The channel closed under us: the worker's `exit` follows and settles what waits on it.
    }
  }

  /** Sends one message to each member and collects the answers (those alive; `timeoutMs` caps the wait). */
  async #ask(
    members: Member[],
    build: (seq: number) => PrimaryMessage,
    timeoutMs: number | undefined,
  ): Promise<Map<number, WorkerMessage>> {
    await Promise.all(members.map((m) => m.ready));
    const live = members.filter((m) => !m.exited);
    const seq = ++this.#seq;
    const answers = new Map<number, WorkerMessage>();
    if (live.length === 0) return answers;
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.#queries.delete(seq);
        resolve();
      };
      this.#queries.set(seq, { waiting: new Set(live.map((m) => m.id)), answers, done });
      if (timeoutMs !== undefined) timer = setTimeout(done, timeoutMs);
      const msg = build(seq);
      for (const m of live) this.#send(m, msg);
    });
    return answers;
  }

  /**
   * Gives each listener port mapped to 0 a free local port, chosen here rather than by each worker's
   * `listen(0)`: node:cluster shares a socket between workers by address and port, so every worker, and a
   * worker started later, must ask for the same concrete port. The choice sticks for the life of the process.
   */
  async #resolvePorts(table: RoutingTable): Promise<void> {
    for (const l of table.listeners) {
      if (this.#ports.get(l.port) !== 0) continue;
      this.#ports.set(l.port, await freePort(this.#opts.address));
    }
  }

  // ----- certificates

  /**
   * Generates, once, the certificates listeners ask for (`tls.generate`) and puts them in the table the
   * workers get, so every worker presents the same certificate.
   */
  async #withCertificates(table: RoutingTable): Promise<RoutingTable> {
    if (!table.listeners.some((l) => needsCertificate(l))) return table;
    const listeners: IrListener[] = [];
    for (const l of table.listeners) {
      const gen = l.tls?.generate;
      if (l.tls === undefined || gen === undefined || !needsCertificate(l)) {
        listeners.push(l);
        continue;
      }
      const c = await this.#generated.get(l.name, gen.dnsNames);
      const { generate: _generate, ...tls } = l.tls;
      listeners.push({
        ...l,
        tls: { ...tls, certificates: [{ certPem: c.certPem, keyPem: c.keyPem, source: "generated" }] },
      });
    }
    return { ...table, listeners };
  }
}

/** A port the system gives for `address` (bound, then released at once). */
function freePort(address: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", (err) =>
      reject(new GatewayError(GW_ERR_BIND, `cannot pick a free port: ${err.message}`)),
    );
    const onListening = (): void => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    };
    if (address === undefined) s.listen(0, onListening);
    else s.listen(0, address, onListening);
  });
}

function needsCertificate(l: IrListener): boolean {
  return l.tls?.generate !== undefined && l.tls.certificates.length === 0;
}
