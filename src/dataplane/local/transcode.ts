/**
 * JSON transcoding: an HTTP request with a JSON body becomes a gRPC call to the backend that serves the
 * method, using the descriptors that backend reflects, and its answer goes back as JSON (the proto3 JSON
 * mapping; server streams as newline-delimited JSON). Two forms: `POST /<package.Service>/<Method>`, and
 * the paths and verbs of `google.api.http` rules in the descriptors. The method's rule must have a
 * TrafficPolicy with `transcoding: {enabled: true}`.
 *
 * `transcode` is the one entry point, over a generic request and response, so the HTTP/2 relay path
 * (`dispatch.ts`) and an HTTP/1.1 server can both call it. Failures answer JSON `{code, message, details}`
 * with the HTTP status `google.rpc.Code` gives the gRPC code; a backend without reflection gets 501.
 */
import type http2 from "node:http2";
import { type DescMethod, fromBinary, fromJson, type JsonValue, toBinary, toJson } from "@bufbuild/protobuf";
import type { IrCluster, IrEndpoint, IrForward, RoutingTable } from "../../ir/routing-table.js";
import { GrpcCode } from "../grpc-status.js";
import { type CompiledListener, parseGrpcPath, type RequestHeaders, type RouteMatch } from "../router.js";
import { BACKEND_MESSAGE_LIMIT, type BackendClient, callResult } from "./backend-client.js";
import type { BackendReflection } from "./backend-reflection.js";
import { filesForSymbol } from "./descriptors.js";
import { matchTemplate } from "./http-rules.js";
import { requestJson } from "./json-request.js";
import { reachable } from "./listing.js";
import { MessageReader, RpcStatus } from "./messages.js";
import { type ServiceSchema, serviceSchema } from "./schema.js";

/** Default bound of a transcoded request's body (`serve --transcoding-body-limit`). */
export const DEFAULT_TRANSCODING_BODY_LIMIT = 4 * 1024 * 1024;

export interface TranscodeRequest {
  method: string;
  /** Path and query. */
  path: string;
  /** Names lowercase. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: AsyncIterable<Uint8Array>;
}

export interface TranscodeResponse {
  writeHead(status: number, headers: Record<string, string>): void;
  write(chunk: Buffer): void;
  /** The answer is complete; `grpcStatus` is the status of the call behind it (for reports). */
  end(grpcStatus: number): void;
  readonly closed: boolean;
  /** Bytes written and not yet sent to the client: a server stream waits while they pass the limit. */
  queued(): number;
}

/**
 * Answer bytes a server stream may leave unsent to a slow client before the gateway stops reading the
 * backend's stream (HTTP/2 flow control then holds the backend); it reads again below half of it.
 */
export const STREAM_BACKLOG_LIMIT = 1024 * 1024;
/** How often a paused stream looks at the client's backlog again. */
const BACKLOG_POLL_MS = 10;

/** The listener, host and services a transcoded request is served with. */
export interface TranscodeContext {
  listener: CompiledListener;
  table: RoutingTable;
  host: string;
  authority: string;
  /** The request's headers (routes with header matches are chosen with them). */
  headers: RequestHeaders;
  /** The router's decision for a gRPC path on this listener and authority, with the request's headers. */
  route(grpcPath: string): RouteMatch;
  backends: BackendReflection;
  client: BackendClient;
  pickEndpoint(cluster: IrCluster): IrEndpoint | undefined;
  bodyLimit: number;
}

/** HTTP status of a gRPC code, as `google.rpc.Code` documents it. */
const HTTP_OF_CODE = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

export function httpStatusOf(code: number): number {
  return HTTP_OF_CODE[code] ?? 500;
}

/** Request headers that are not passed on to the backend as metadata. */
const NOT_METADATA = new Set([
  "host",
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "content-type",
  "content-length",
  "accept",
  "accept-encoding",
  "http2-settings",
]);

interface Target {
  service: string;
  method: DescMethod;
  schema: ServiceSchema;
  cluster: IrCluster;
  forward: IrForward;
  match: RouteMatch;
  body: string;
  responseBody: string;
  vars: ReadonlyMap<string, string>;
}

class Failure {
  constructor(
    readonly code: number,
    readonly message: string,
    readonly http = httpStatusOf(code),
  ) {}
}

function answerError(res: TranscodeResponse, f: Failure, details: JsonValue[] = []): void {
  if (res.closed) return;
  res.writeHead(f.http, { "content-type": "application/json" });
  res.write(Buffer.from(`${JSON.stringify({ code: f.code, message: f.message, details })}\n`));
  res.end(f.code);
}

/** Serves one transcoded request to the end; never throws. */
export async function transcode(
  req: TranscodeRequest,
  res: TranscodeResponse,
  ctx: TranscodeContext,
): Promise<void> {
  try {
    const q = req.path.indexOf("?");
    const path = q < 0 ? req.path : req.path.slice(0, q);
    const query = new URLSearchParams(q < 0 ? "" : req.path.slice(q + 1));
    const target = await resolve(req.method, path, ctx);
    if (target instanceof Failure) {
      await drain(req.body);
      answerError(res, target);
      return;
    }
    const body = await readBody(req, target.body, ctx.bodyLimit);
    if (body instanceof Failure) {
      answerError(res, body);
      return;
    }
    const json = requestJson(target.method.input, { body, bodyField: target.body, vars: target.vars, query });
    if (typeof json === "string") {
      answerError(res, new Failure(GrpcCode.INVALID_ARGUMENT, json));
      return;
    }
    let payload: Uint8Array;
    try {
      const msg = fromJson(target.method.input, json, { registry: target.schema.registry });
      payload = toBinary(target.method.input, msg);
    } catch (e: unknown) {
      answerError(res, new Failure(GrpcCode.INVALID_ARGUMENT, `request: ${(e as Error).message}`));
      return;
    }
    await call(req, res, ctx, target, payload);
  } catch (e: unknown) {
    answerError(res, new Failure(GrpcCode.INTERNAL, `transcoding failed: ${(e as Error).message}`));
  }
}

/** Which method a request is for, served by which backend; or why none. */
async function resolve(verb: string, path: string, ctx: TranscodeContext): Promise<Target | Failure> {
  const grpc = verb === "POST" ? parseGrpcPath(path) : undefined;
  if (grpc !== undefined) {
    const m = ctx.route(path);
    const f = enabled(m);
    if (f !== undefined) {
      const cluster = pickCluster(f, ctx.table);
      if (cluster === undefined) return new Failure(GrpcCode.UNAVAILABLE, "the rule has no valid backend");
      const schema = await schemaOf(ctx, cluster, grpc.service);
      if (schema instanceof Failure) return schema;
      const method = schema.service.methods.find((x) => x.name === grpc.method);
      if (method !== undefined) {
        return {
          service: grpc.service,
          method,
          schema,
          cluster,
          forward: f,
          match: m,
          body: "*",
          responseBody: "",
          vars: new Map(),
        };
      }
    }
  }
  // google.api.http bindings of the services this listener and host reach.
  const r = await reachable(ctx.listener, ctx.table, ctx.host, ctx.headers, ctx.backends);
  const unreflected: string[] = [];
  for (const [service, cluster] of r.services) {
    if (cluster === undefined) continue;
    const schema = await schemaOf(ctx, cluster, service);
    if (schema instanceof Failure) {
      if (schema.code === GrpcCode.UNIMPLEMENTED) unreflected.push(schema.message);
      continue;
    }
    for (const { binding, method } of schema.bindings) {
      if (binding.method !== verb) continue;
      const vars = matchTemplate(binding.template, path);
      if (vars === undefined) continue;
      const m = ctx.route(`/${service}/${method.name}`);
      const f = enabled(m);
      if (f === undefined) continue;
      const c = pickCluster(f, ctx.table);
      if (c === undefined) return new Failure(GrpcCode.UNAVAILABLE, "the rule has no valid backend");
      const s = c === cluster ? schema : await schemaOf(ctx, c, service);
      if (s instanceof Failure) return s;
      return {
        service,
        method,
        schema: s,
        cluster: c,
        forward: f,
        match: m,
        body: binding.body,
        responseBody: binding.responseBody,
        vars,
      };
    }
  }
  for (const [name, why] of r.missing) unreflected.push(`${name}: ${why}`);
  if (unreflected.length > 0) {
    return new Failure(
      GrpcCode.UNIMPLEMENTED,
      `no method with transcoding is bound to ${verb} ${path}; JSON transcoding needs descriptors by reflection, which these backends do not give: ${unreflected.join("; ")}`,
    );
  }
  return new Failure(GrpcCode.NOT_FOUND, `no method with transcoding enabled is bound to ${verb} ${path}`);
}

/** The forward action of a match whose rule enables transcoding. */
function enabled(m: RouteMatch): IrForward | undefined {
  if (m.route?.policy?.transcoding?.enabled !== true || m.action.kind !== "forward") return undefined;
  return m.action;
}

/** A backendRef of the rule by weight, as the relay picks one (valid ones only). */
function pickCluster(f: IrForward, table: RoutingTable): IrCluster | undefined {
  const valid = f.backends.filter((b) => b.cluster !== undefined && b.invalid === undefined && b.weight > 0);
  let total = 0;
  for (const b of valid) total += b.weight;
  let r = Math.random() * total;
  for (const b of valid) {
    r -= b.weight;
    if (r < 0) return table.clusters[b.cluster!];
  }
  const last = valid[valid.length - 1];
  return last === undefined ? undefined : table.clusters[last.cluster!];
}

async function schemaOf(
  ctx: TranscodeContext,
  cluster: IrCluster,
  service: string,
): Promise<ServiceSchema | Failure> {
  const files = await filesForSymbol(ctx.backends, cluster, service);
  if (!files.ok) {
    if (files.noReflection) {
      return new Failure(
        GrpcCode.UNIMPLEMENTED,
        `JSON transcoding needs ${service}'s descriptors, and backend ${cluster.name} does not give them: ${files.reason}`,
      );
    }
    return new Failure(
      GrpcCode.UNAVAILABLE,
      `descriptors of ${service} from ${cluster.name}: ${files.reason}`,
    );
  }
  const s = serviceSchema(files.files, service);
  return typeof s === "string" ? new Failure(GrpcCode.UNAVAILABLE, s) : s;
}

/** The JSON body (bounded), undefined when empty or not taken; a Failure for too large or not JSON. */
async function readBody(
  req: TranscodeRequest,
  field: string,
  limit: number,
): Promise<JsonValue | undefined | Failure> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of req.body) {
    n += c.length;
    if (n > limit) {
      await drain(req.body);
      return new Failure(
        GrpcCode.RESOURCE_EXHAUSTED,
        `the request body exceeds ${limit} bytes (serve --transcoding-body-limit)`,
        413,
      );
    }
    chunks.push(c);
  }
  if (n === 0 || field === "") return undefined;
  const ct = String(req.headers["content-type"] ?? "application/json").toLowerCase();
  if (!ct.startsWith("application/json")) {
    return new Failure(GrpcCode.INVALID_ARGUMENT, `content-type ${ct} is not application/json`, 415);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as JsonValue;
  } catch (e: unknown) {
    return new Failure(GrpcCode.INVALID_ARGUMENT, `the request body is not JSON: ${(e as Error).message}`);
  }
}

/** Reads what is left of a body (so its flow control is returned) without keeping it. */
async function drain(body: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const _ of body) {
    // dropped
  }
}

function metadataOf(req: TranscodeRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || k.startsWith(":") || NOT_METADATA.has(k) || k.startsWith("grpc-")) continue;
    out[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

/** Makes the gRPC call and writes its answer as JSON (unary) or NDJSON (server streaming). */
function call(
  req: TranscodeRequest,
  res: TranscodeResponse,
  ctx: TranscodeContext,
  t: Target,
  payload: Uint8Array,
): Promise<void> {
  const kind = t.method.methodKind;
  if (kind === "client_streaming" || kind === "bidi_streaming") {
    answerError(
      res,
      new Failure(
        GrpcCode.UNIMPLEMENTED,
        `${t.service}/${t.method.name} is ${kind.replace("_", " ")}: only unary and server streaming methods are transcoded`,
      ),
    );
    return Promise.resolve();
  }
  const ep = ctx.pickEndpoint(t.cluster);
  if (ep === undefined) {
    answerError(res, new Failure(GrpcCode.UNAVAILABLE, `backend ${t.cluster.name} has no endpoint`));
    return Promise.resolve();
  }
  const timeoutMs = t.match.route?.policy?.timeouts?.requestMs ?? 0;
  const opened = ctx.client.open(
    { cluster: t.cluster, endpoint: ep },
    `/${t.service}/${t.method.name}`,
    t.cluster.serverName ?? ctx.authority,
    [payload],
    timeoutMs,
    metadataOf(req),
  );
  if (!opened.ok) {
    answerError(res, new Failure(opened.result.code, opened.result.message));
    return Promise.resolve();
  }
  const stream = opened.stream;
  const streaming = kind === "server_streaming";
  const out = t.method.output;
  const registry = t.schema.registry;
  const toLine = (bytes: Buffer): string => {
    let j = toJson(out, fromBinary(out, bytes), { registry }) as JsonValue;
    if (t.responseBody !== "" && typeof j === "object" && j !== null && !Array.isArray(j)) {
      const f = out.fields.find((x) => x.name === t.responseBody);
      j = (f === undefined ? undefined : j[f.jsonName]) ?? null;
    }
    return JSON.stringify(j);
  };
  return new Promise((done) => {
    const reader = new MessageReader(BACKEND_MESSAGE_LIMIT);
    let headers: http2.IncomingHttpHeaders = {};
    let first: Buffer | undefined;
    let started = false;
    let finished = false;
    const fail = (f: Failure, details: JsonValue[] = []): void => {
      if (finished) return;
      finished = true;
      if (!started) answerError(res, f, details);
      else {
        res.write(
          Buffer.from(`${JSON.stringify({ error: { code: f.code, message: f.message, details } })}\n`),
        );
        res.end(f.code);
      }
      stream.close();
      done();
    };
    const onMessage = (m: Buffer): void => {
      if (finished) return;
      let line: string;
      try {
        line = toLine(m);
      } catch (e: unknown) {
        fail(new Failure(GrpcCode.INTERNAL, `response: ${(e as Error).message}`));
        return;
      }
      if (!streaming) {
        if (first !== undefined) {
          fail(new Failure(GrpcCode.INTERNAL, "the backend sent more than one response message"));
          return;
        }
        first = Buffer.from(`${line}\n`);
        return;
      }
      if (!started) {
        started = true;
        res.writeHead(200, { "content-type": "application/x-ndjson" });
      }
      res.write(Buffer.from(`${line}\n`));
      if (!paused && res.queued() > STREAM_BACKLOG_LIMIT) {
        paused = true;
        stream.pause();
        setTimeout(waitForClient, BACKLOG_POLL_MS);
      }
    };
    let paused = false;
    const waitForClient = (): void => {
      if (finished) return;
      if (res.closed) {
        finished = true;
        stream.close();
        done();
        return;
      }
      if (res.queued() > STREAM_BACKLOG_LIMIT / 2) {
        setTimeout(waitForClient, BACKLOG_POLL_MS);
        return;
      }
      paused = false;
      stream.resume();
    };
    stream.on("response", (h: http2.IncomingHttpHeaders) => {
      headers = h;
    });
    stream.on("data", (chunk: Buffer) => {
      if (res.closed && !finished) {
        // The client went away: so does the call.
        finished = true;
        stream.close();
        done();
        return;
      }
      for (const m of reader.push(chunk)) onMessage(m);
      if (reader.error !== "") fail(new Failure(GrpcCode.RESOURCE_EXHAUSTED, `response: ${reader.error}`));
    });
    const end = (h: http2.IncomingHttpHeaders): void => {
      if (finished) return;
      const r = callResult(h);
      if (r.code !== GrpcCode.OK) {
        fail(new Failure(r.code, r.message), detailsOf(r.details));
        return;
      }
      if (!streaming) {
        if (first === undefined) {
          fail(new Failure(GrpcCode.INTERNAL, "the backend sent no response message"));
          return;
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.write(first);
      } else if (!started) res.writeHead(200, { "content-type": "application/x-ndjson" });
      finished = true;
      res.end(GrpcCode.OK);
      done();
    };
    stream.on("trailers", (tr: http2.IncomingHttpHeaders) => end({ ...headers, ...tr }));
    stream.on("error", (e: Error) =>
      fail(new Failure(GrpcCode.UNAVAILABLE, `backend ${t.cluster.name}: ${e.message}`)),
    );
    stream.on("close", () => {
      if (!finished) end(headers);
    });
  });
}

/** `grpc-status-details-bin` as JSON details: each `Any` with its type URL and base64 value. */
function detailsOf(bin: Buffer | undefined): JsonValue[] {
  if (bin === undefined) return [];
  try {
    const s = RpcStatus.toObject(RpcStatus.decode(bin), { bytes: String }) as {
      details?: { typeUrl?: string; value?: string }[];
    };
    return (s.details ?? []).map((d) => ({ "@type": d.typeUrl ?? "", value: d.value ?? "" }));
  } catch {
    return [];
  }
}
