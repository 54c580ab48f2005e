/**
 * grpc-js clients for tests, pointed at a `host:port` (usually the gateway), with an optional `:authority`
 * override and TLS, plus promise helpers that return the reply together with headers, trailers and status.
 * @internal test-only
 */
import * as grpc from "@grpc/grpc-js";
import { Greeter, type HelloReply, Other, Tester, type TestReply, type TestRequest } from "./protos.js";

export interface ClientOptions {
  /** `:authority` to send instead of the target (grpc-js `grpc.default_authority`). */
  authority?: string;
  /** Use TLS, trusting `rootCert` (PEM); `servername` overrides the SNI / name checked. */
  tls?: { rootCert: string; servername?: string };
  /** Extra channel options. */
  channelOptions?: grpc.ChannelOptions;
}

const MAX_MESSAGE = 64 * 1024 * 1024;

function channelArgs(opts: ClientOptions | undefined): {
  creds: grpc.ChannelCredentials;
  options: grpc.ChannelOptions;
} {
  const options: grpc.ChannelOptions = {
    "grpc.max_receive_message_length": MAX_MESSAGE,
    "grpc.max_send_message_length": MAX_MESSAGE,
    // Tests open many short-lived clients: never share a subchannel between them.
    "grpc.use_local_subchannel_pool": 1,
    ...opts?.channelOptions,
  };
  if (opts?.authority !== undefined) options["grpc.default_authority"] = opts.authority;
  if (opts?.tls?.servername !== undefined) options["grpc.ssl_target_name_override"] = opts.tls.servername;
  const creds = opts?.tls
    ? grpc.credentials.createSsl(Buffer.from(opts.tls.rootCert))
    : grpc.credentials.createInsecure();
  return { creds, options };
}

/** A `grpcroute.test.Tester` client (methods Unary, ClientStream, ServerStream, Bidi). */
export function testerClient(target: string, opts?: ClientOptions): grpc.Client {
  const { creds, options } = channelArgs(opts);
  return new Tester(target, creds, options);
}

/** A `grpcroute.test.Other` client (method Unary). */
export function otherClient(target: string, opts?: ClientOptions): grpc.Client {
  const { creds, options } = channelArgs(opts);
  return new Other(target, creds, options);
}

/** A `helloworld.Greeter` client (method SayHello). */
export function greeterClient(target: string, opts?: ClientOptions): grpc.Client {
  const { creds, options } = channelArgs(opts);
  return new Greeter(target, creds, options);
}

/** Outcome of a call: the replies (if any), response headers, trailers and final status. */
export interface CallResult<R> {
  /** Unary / client-stream reply, when the call succeeded. */
  reply?: R;
  /** Streamed replies received (server stream / bidi). */
  replies: R[];
  headers: Record<string, string>;
  trailers: Record<string, string>;
  code: number;
  details: string;
}

export interface CallOptions {
  metadata?: Record<string, string | string[]>;
  /** Deadline in ms from now. */
  timeoutMs?: number;
}

function toMetadata(m: Record<string, string | string[]> | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (m) {
    for (const [k, v] of Object.entries(m)) {
      for (const one of Array.isArray(v) ? v : [v]) md.add(k, one);
    }
  }
  return md;
}

function record(md: grpc.Metadata | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!md) return out;
  for (const [k, v] of Object.entries(md.toJSON())) {
    out[k] = (v as (string | Buffer)[])
      .map((x) => (typeof x === "string" ? x : x.toString("base64")))
      .join(", ");
  }
  return out;
}

/**
 * The longest a test call may go without a final status before the helpers cancel it (without sending a
 * deadline, which would change the request): a broken data path then fails the test in seconds, with a status
 * that says what was waited for, instead of hanging. GRPCROUTE_TEST_CALL_LIMIT_MS changes it.
 */
export const TEST_CALL_LIMIT_MS = Number(process.env.GRPCROUTE_TEST_CALL_LIMIT_MS ?? "20000");

/**
 * Cancels `call` if it has no status within {@link TEST_CALL_LIMIT_MS}; `result.details` then names the call.
 * Returns the function that disarms it (call it on the status).
 */
function watchdog(call: { cancel(): void }, what: string, result: { details: string }): () => void {
  let fired = false;
  const t = setTimeout(() => {
    fired = true;
    call.cancel();
  }, TEST_CALL_LIMIT_MS);
  t.unref();
  return () => {
    clearTimeout(t);
    if (fired)
      result.details = `no status within ${TEST_CALL_LIMIT_MS} ms waiting for ${what}: the test cancelled the call (${result.details})`;
  };
}

function callOptions(o: CallOptions | undefined): grpc.CallOptions {
  return o?.timeoutMs !== undefined ? { deadline: Date.now() + o.timeoutMs } : {};
}

type AnyMethod = (
  ...args: unknown[]
) =>
  | grpc.ClientUnaryCall
  | grpc.ClientReadableStream<unknown>
  | grpc.ClientDuplexStream<unknown, unknown>
  | grpc.ClientWritableStream<unknown>;

function method(client: grpc.Client, name: string): AnyMethod {
  const fn = (client as unknown as Record<string, AnyMethod | undefined>)[name];
  if (typeof fn !== "function") throw new Error(`test client has no method ${name}`);
  return fn.bind(client);
}

/**
 * Makes a unary call (`method` is the client method name: `Unary`, `SayHello`); never rejects: a failed call
 * resolves with its code and details.
 */
export function unary<R = TestReply>(
  client: grpc.Client,
  name: string,
  request: unknown,
  opts?: CallOptions,
): Promise<CallResult<R>> {
  return new Promise((resolve) => {
    const result: CallResult<R> = { replies: [], headers: {}, trailers: {}, code: -1, details: "" };
    let pending = 2;
    const done = (): void => {
      if (--pending === 0) resolve(result);
    };
    const call = method(client, name)(
      request,
      toMetadata(opts?.metadata),
      callOptions(opts),
      (err: grpc.ServiceError | null, reply?: R) => {
        if (reply !== undefined && err === null) result.reply = reply;
        done();
      },
    ) as grpc.ClientUnaryCall;
    const disarm = watchdog(call, `the unary call ${name}`, result);
    call.on("metadata", (md: grpc.Metadata) => {
      result.headers = record(md);
    });
    call.on("status", (s: grpc.StatusObject) => {
      result.code = s.code;
      result.details = s.details;
      result.trailers = record(s.metadata);
      disarm();
      done();
    });
  });
}

/** Says hello through `helloworld.Greeter/SayHello`. */
export function sayHello(
  client: grpc.Client,
  name: string,
  opts?: CallOptions,
): Promise<CallResult<HelloReply>> {
  return unary<HelloReply>(client, "SayHello", { name }, opts);
}

/** Client streaming: sends `requests` (honouring backpressure), then ends and awaits the reply. */
export function clientStream(
  client: grpc.Client,
  requests: TestRequest[],
  opts?: CallOptions,
): Promise<CallResult<TestReply>> {
  return new Promise((resolve) => {
    const result: CallResult<TestReply> = { replies: [], headers: {}, trailers: {}, code: -1, details: "" };
    let pending = 2;
    const done = (): void => {
      if (--pending === 0) resolve(result);
    };
    const call = method(client, "ClientStream")(
      toMetadata(opts?.metadata),
      callOptions(opts),
      (err: grpc.ServiceError | null, reply?: TestReply) => {
        if (reply !== undefined && err === null) result.reply = reply;
        done();
      },
    ) as grpc.ClientWritableStream<TestRequest>;
    const disarm = watchdog(call, "the client-streaming call", result);
    call.on("metadata", (md: grpc.Metadata) => {
      result.headers = record(md);
    });
    call.on("status", (s: grpc.StatusObject) => {
      result.code = s.code;
      result.details = s.details;
      result.trailers = record(s.metadata);
      disarm();
      done();
    });
    let i = 0;
    const pump = (): void => {
      while (i < requests.length) {
        const next = requests[i++] as TestRequest;
        if (!call.write(next)) {
          call.once("drain", pump);
          return;
        }
      }
      call.end();
    };
    pump();
  });
}

/** Collects every reply of a readable client stream and its final status. */
export function collect<R = TestReply>(
  call: grpc.ClientReadableStream<R> | grpc.ClientDuplexStream<unknown, R>,
): Promise<CallResult<R>> {
  return new Promise((resolve) => {
    const result: CallResult<R> = { replies: [], headers: {}, trailers: {}, code: -1, details: "" };
    const disarm = watchdog(call, "the end of the stream", result);
    let status = false;
    let ended = false;
    const maybe = (): void => {
      if (status && ended) resolve(result);
    };
    call.on("metadata", (md: grpc.Metadata) => {
      result.headers = record(md);
    });
    call.on("data", (r: R) => result.replies.push(r));
    call.on("status", (s: grpc.StatusObject) => {
      result.code = s.code;
      result.details = s.details;
      result.trailers = record(s.metadata);
      disarm();
      status = true;
      maybe();
    });
    // A failed call emits 'error' and may never emit 'end'.
    call.on("error", () => {
      ended = true;
      maybe();
    });
    call.on("end", () => {
      ended = true;
      maybe();
    });
  });
}

/** Starts a server-streaming call; use `collect()` for its result, or read it by hand. */
export function serverStream(
  client: grpc.Client,
  request: TestRequest,
  opts?: CallOptions,
): grpc.ClientReadableStream<TestReply> {
  return method(client, "ServerStream")(
    request,
    toMetadata(opts?.metadata),
    callOptions(opts),
  ) as grpc.ClientReadableStream<TestReply>;
}

/** Starts a bidi call. */
export function bidi(
  client: grpc.Client,
  opts?: CallOptions,
): grpc.ClientDuplexStream<TestRequest, TestReply> {
  return method(client, "Bidi")(toMetadata(opts?.metadata), callOptions(opts)) as grpc.ClientDuplexStream<
    TestRequest,
    TestReply
  >;
}

/** Closes clients (safe to call with any mix). */
export function closeAll(...clients: grpc.Client[]): void {
  for (const c of clients) c.close();
}

export { grpc };
