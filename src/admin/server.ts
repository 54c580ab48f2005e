/**
 * The admin HTTP server (default `127.0.0.1:9901`): health, readiness, the routing table, status and metrics.
 * It only reads what the runner publishes; nothing here changes the gateway's state.
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { RoutingTable } from "../ir/routing-table.js";
import type { Logger } from "../log/logger.js";
import type { GatewayMetrics } from "./metrics.js";

/** Whether the gateway is ready, and if not, why (one reason per line in the 503 answer). */
export interface Readiness {
  ready: boolean;
  reasons: string[];
}

/** What the admin server reads, at request time. */
export interface AdminState {
  /** `/readyz`. */
  readiness(): Readiness;
  /** `/config`: the routing table being served, undefined before the first one is applied. */
  table(): RoutingTable | undefined;
  /** `/status`: the status document as `validate -o json` prints it, undefined before the first snapshot. */
  status(): string | undefined;
  /** `/metrics`. */
  metrics: GatewayMetrics;
}

/** The endpoints, listed by `GET /`. */
export const ADMIN_ENDPOINTS: Record<string, string> = {
  "/healthz": "200 while the process runs",
  "/readyz": "200 once every listener is bound and the first configuration is applied, else 503 and why",
  "/config": "the routing table being served (JSON, private keys redacted)",
  "/status":
    "status of every Gateway, GRPCRoute and policy (as `grpcroute validate -o json`), with the input's issues under `issues`",
  "/metrics": "Prometheus metrics",
};

/** Private keys in the table (listener certificates) are never served. */
function redactKeys(key: string, value: unknown): unknown {
  return key === "keyPem" ? "[redacted]" : value;
}

/** Renders the routing table as `/config` serves it. */
export function renderConfig(table: RoutingTable): string {
  return `${JSON.stringify(table, redactKeys, 2)}\n`;
}

/** The admin HTTP server. */
export class AdminServer {
  readonly #server: Server;
  readonly #state: AdminState;
  readonly #log: Logger;

  constructor(state: AdminState, log: Logger) {
    this.#state = state;
    this.#log = log;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#log.error(
          { err: err instanceof Error ? err.message : String(err), path: req.url },
          "admin error",
        );
        if (!res.headersSent) send(res, 500, "text/plain", "internal error\n");
        else res.destroy();
      });
    });
    // Admin clients are scrapers and people; keep-alive sockets must not hold shutdown up.
    this.#server.keepAliveTimeout = 5000;
  }

  /**
   * Binds the server. Port 0 picks a free port; the returned address is the one actually bound.
   * Rejects with the system error (EADDRINUSE, EACCES, ...) when the address cannot be bound.
   */
  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = this.#server;
    server.listen(port, host);
    await Promise.race([
      once(server, "listening"),
      once(server, "error").then(([err]) => {
        throw err;
      }),
    ]);
    const addr = server.address() as AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = once(this.#server, "close");
    this.#server.close();
    this.#server.closeAllConnections();
    await closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      send(
        res,
        405,
        "text/plain",
        `method ${req.method ?? ""} not allowed: the admin endpoints are read-only\n`,
      );
      return;
    }
    const state = this.#state;
    switch (path) {
      case "/":
        send(
          res,
          200,
          "text/plain",
          `${Object.entries(ADMIN_ENDPOINTS)
            .map(([p, d]) => `${p.padEnd(10)} ${d}`)
            .join("\n")}\n`,
        );
        return;
      case "/healthz":
        send(res, 200, "text/plain", "ok\n");
        return;
      case "/readyz": {
        const r = state.readiness();
        if (r.ready) send(res, 200, "text/plain", "ready\n");
        else send(res, 503, "text/plain", `not ready:\n${r.reasons.map((s) => `- ${s}\n`).join("")}`);
        return;
      }
      case "/config": {
        const table = state.table();
        if (table === undefined) send(res, 503, "text/plain", "no configuration applied yet\n");
        else send(res, 200, "application/json", renderConfig(table));
        return;
      }
      case "/status": {
        const status = state.status();
        if (status === undefined) send(res, 503, "text/plain", "no configuration read yet\n");
        else send(res, 200, "application/json", status.endsWith("\n") ? status : `${status}\n`);
        return;
      }
      case "/metrics": {
        const body = await state.metrics.render();
        send(res, 200, state.metrics.contentType, body);
        return;
      }
      default:
        send(res, 404, "text/plain", `not found: ${path}; see GET / for the endpoints\n`);
    }
  }
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { "content-type": type.includes("charset") ? type : `${type}; charset=utf-8` });
  res.end(res.req.method === "HEAD" ? undefined : body);
}
