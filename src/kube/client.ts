/**
 * Requests to the Kubernetes API server on @kubernetes/client-node's authentication: for every request
 * the kubeconfig's user is applied afresh (bearer token, token file, exec credential plugin, client
 * certificate), so rotated credentials are picked up; the connection pool is ours (client-node makes a
 * new agent per request), one keep-alive agent per distinct CA and client certificate.
 *
 * Errors are {@link KubeApiError}s (a {@link GatewayError} with the HTTP status, the verb and the path):
 * 401/403 `GW_ERR_KUBE_FORBIDDEN`, 410 `GW_ERR_KUBE_WATCH_GONE`, other answers `GW_ERR_KUBE_API`, and no
 * answer at all `GW_ERR_KUBE_UNREACHABLE`.
 */
import { createHash } from "node:crypto";
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from "node:https";
import { createInterface } from "node:readline";
import type { KubeConfig } from "@kubernetes/client-node";
import {
  GatewayError,
  type GatewayErrorCode,
  GW_ERR_KUBE_API,
  GW_ERR_KUBE_FORBIDDEN,
  GW_ERR_KUBE_UNREACHABLE,
  GW_ERR_KUBE_WATCH_GONE,
} from "../util/errors.js";

/** How long a request (not a watch) may take, in ms. */
export const REQUEST_TIMEOUT_MS = 30_000;

/** A failed request: the status (0 when there was no answer) and the API server's own message. */
export class KubeApiError extends GatewayError {
  constructor(
    code: GatewayErrorCode,
    message: string,
    readonly status: number,
    readonly method: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export interface RequestInit {
  body?: unknown;
  /** Default `application/json`; merge patches use `application/merge-patch+json`. */
  contentType?: string;
  signal?: AbortSignal;
}

/** The API server as one object: JSON requests and watch streams. */
export class KubeClient {
  readonly server: string;
  readonly #config: KubeConfig;
  readonly #agents = new Map<string, HttpAgent>();

  constructor(config: KubeConfig, server: string) {
    this.#config = config;
    this.server = server.replace(/\/+$/, "");
  }

  /** Sends a request and parses the JSON answer. Non-2xx answers reject with a {@link KubeApiError}. */
  async request<T = unknown>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const res = await this.#send(method, path, init, REQUEST_TIMEOUT_MS);
    const text = await readBody(res);
    if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode > 299) {
      throw apiError(method, path, res.statusCode ?? 0, text);
    }
    try {
      return (text === "" ? {} : JSON.parse(text)) as T;
    } catch (err: unknown) {
      throw new KubeApiError(
        GW_ERR_KUBE_API,
        `${method} ${path}: the answer is not JSON`,
        res.statusCode,
        method,
        path,
        { cause: err },
      );
    }
  }

  /**
   * Opens a watch and calls `onEvent` with every decoded event line; resolves when the server ends the
   * stream, rejects when it cannot be opened or breaks. `signal` ends it quietly.
   */
  async watch(path: string, signal: AbortSignal, onEvent: (event: unknown) => void): Promise<void> {
    const res = await this.#send("GET", path, { signal }, 0);
    if (res.statusCode !== 200) {
      throw apiError("GET", path, res.statusCode ?? 0, await readBody(res));
    }
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY });
      let failed: unknown;
      lines.on("line", (line) => {
        if (line.trim() === "" || failed !== undefined) return;
        let event: unknown;
        try {
          event = JSON.parse(line);
        } catch (err: unknown) {
          failed = err;
          res.destroy();
          return;
        }
        try {
          onEvent(event);
        } catch (err: unknown) {
          failed = err;
          res.destroy();
        }
      });
      // A connection that breaks errors the response and the line reader: both end the watch.
      res.on("error", (err) => {
        failed ??= err;
      });
      lines.on("error", (err) => {
        failed ??= err;
      });
      // The response closes after its last data was read (and when the connection breaks).
      res.on("close", () => {
        lines.close();
        if (signal.aborted) resolve();
        else if (failed !== undefined) reject(transportError("GET", path, failed));
        else if (!res.complete) reject(transportError("GET", path, new Error("the watch stream broke")));
        else resolve();
      });
    });
  }

  /** Closes idle pooled connections (shutdown). */
  close(): void {
    for (const a of this.#agents.values()) a.destroy();
    this.#agents.clear();
  }

  async #send(method: string, path: string, init: RequestInit, timeoutMs: number): Promise<IncomingMessage> {
    const url = new URL(this.server + path);
    const opts: RequestOptions = { headers: {} };
    try {
      await this.#config.applyToHTTPSOptions(opts);
    } catch (err: unknown) {
      // An exec plugin that fails, a token file that cannot be read.
      throw new KubeApiError(
        GW_ERR_KUBE_FORBIDDEN,
        `${method} ${path}: cannot get credentials from the kubeconfig: ${firstLine(err)}`,
        0,
        method,
        path,
        { cause: err },
      );
    }
    const headers: Record<string, string> = { accept: "application/json" };
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (typeof v === "string" || typeof v === "number") headers[k] = String(v);
    }
    if (opts.auth !== undefined && opts.auth !== null) {
      headers.authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`;
    }
    let payload: Buffer | undefined;
    if (init.body !== undefined) {
      payload = Buffer.from(JSON.stringify(init.body));
      headers["content-type"] = init.contentType ?? "application/json";
      headers["content-length"] = String(payload.length);
    }
    const cluster = this.#config.getCurrentCluster();
    const agent =
      cluster?.proxyUrl !== undefined && cluster.proxyUrl !== "" ? opts.agent : this.#agentFor(url, opts);
    const send = url.protocol === "http:" ? httpRequest : httpsRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(url, { method, headers, agent: agent as HttpsAgent, signal: init.signal });
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
      }
      req.on("response", (res) => {
        res.socket?.setKeepAlive(true, 30_000);
        resolve(res);
      });
      req.on("error", (err) => reject(transportError(method, path, err)));
      req.end(payload);
    });
  }

  /** One pooled agent per server scheme, CA, client certificate and verification setting. */
  #agentFor(url: URL, opts: RequestOptions): HttpAgent {
    const key = createHash("sha256")
      .update(url.protocol)
      .update(String(opts.ca ?? ""))
      .update(String(opts.cert ?? ""))
      .update(String(opts.key ?? ""))
      .update(String(opts.rejectUnauthorized))
      .digest("hex");
    let agent = this.#agents.get(key);
    if (agent === undefined) {
      agent =
        url.protocol === "http:"
          ? new HttpAgent({ keepAlive: true })
          : new HttpsAgent({
              keepAlive: true,
              ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
              ...(opts.cert !== undefined ? { cert: opts.cert } : {}),
              ...(opts.key !== undefined ? { key: opts.key } : {}),
              ...(opts.rejectUnauthorized !== undefined
                ? { rejectUnauthorized: opts.rejectUnauthorized }
                : {}),
            });
      this.#agents.set(key, agent);
    }
    return agent;
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.on("error", reject);
  });
}

/** The error for an answer other than 2xx, with the API server's `Status.message` when it sent one. */
export function apiError(method: string, path: string, status: number, body: string): KubeApiError {
  let reason = "";
  try {
    const s = JSON.parse(body) as { message?: unknown };
    if (typeof s.message === "string") reason = s.message;
  } catch {
    reason = body.slice(0, 200);
  }
  const code =
    status === 401 || status === 403
      ? GW_ERR_KUBE_FORBIDDEN
      : status === 410
        ? GW_ERR_KUBE_WATCH_GONE
        : GW_ERR_KUBE_API;
  const text = `${method} ${path}: HTTP ${status}${reason === "" ? "" : `: ${reason}`}`;
  return new KubeApiError(code, text, status, method, path);
}

function transportError(method: string, path: string, err: unknown): KubeApiError {
  if (err instanceof KubeApiError) return err;
  const code = (err as { code?: unknown }).code;
  const what = typeof code === "string" ? `${firstLine(err)} (${code})` : firstLine(err);
  return new KubeApiError(
    GW_ERR_KUBE_UNREACHABLE,
    `${method} ${path}: the API server cannot be reached: ${what}`,
    0,
    method,
    path,
    { cause: err },
  );
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0] ?? text;
}
