/**
 * Real gRPC backends (grpc-js servers on 127.0.0.1, port 0) for the data-plane, e2e, lattice and bench tests.
 * Every answer says which backend served it: in the reply (`backend` field, or the Greeter message) and in
 * the response metadata (`x-backend`, in headers and trailers).
 * @internal test-only
 */
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import {
  GREETER_SERVICE,
  Greeter,
  Health,
  type HelloRequest,
  Other,
  TEST_PACKAGES,
  Tester,
  type TestReply,
  type TestRequest,
} from "./protos.js";

/** What a backend saw of one call. */
export interface SeenCall {
  /** `/service/method` */
  path: string;
  /** `:authority` as received. */
  authority: string;
  /** The client's `address:port`: which connection carried the call. */
  peer: string;
  /** Request metadata, multiple values joined with ", " (binary values base64). */
  metadata: Record<string, string>;
  /** Request messages received (so far, for streams). */
  messages: number;
  /** Request payload bytes received (so far, for streams). */
  bytes: number;
  /** Set once the call ended on the backend: `"ok"`, `"error"` or `"cancelled"`. */
  end?: "ok" | "error" | "cancelled";
}

export interface BackendOptions {
  /** Name reported in every answer. */
  name: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Serve TLS (h2 via ALPN) with this certificate instead of plaintext h2c. */
  tls?: { certPem: string; keyPem: string };
  /** Wait this long before every answer (ms). Default 0. */
  delayMs?: number;
  /** Answer every call with this error instead. */
  error?: { code: number; message: string };
  /**
   * Unary, ClientStream and SayHello: send no response headers before the answer, so an error is a trailers-only response
   * (what a backend that refuses a call at once sends, and what gRFC A6 retries).
   */
  trailersOnly?: boolean;
  /** Extra trailing metadata on every answer. */
  trailers?: Record<string, string>;
  /** Extra response header metadata on every answer. */
  headers?: Record<string, string>;
  /** Client/bidi streams: pause this long after each request message (ms), to make a slow reader. */
  readDelayMs?: number;
  /** Server options passed to grpc-js (e.g. `grpc.max_concurrent_streams`). */
  serverOptions?: grpc.ServerOptions;
  /**
   * Serve `grpc.health.v1.Health/Check`, answering this status for every service name (change it with
   * `setHealth`). Without it the Health service is not served (UNIMPLEMENTED).
   */
  health?: HealthStatus;
  /** The services served (default all three). */
  services?: ("Tester" | "Other" | "Greeter")[];
  /** Serve gRPC reflection (`@grpc/reflection`, v1 and v1alpha) for the services served. */
  reflection?: boolean;
}

/** `grpc.health.v1.HealthCheckResponse.ServingStatus`. */
export type HealthStatus = "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

/**
 * Events: `call` (SeenCall) when a call starts; `message` (SeenCall) when it received a request message; `end`
 * (SeenCall) when it ends; `blocked` ({sentBytes}) when a server-stream write must wait for drain; `health`
 * (status) when it answered a health check.
 */
export interface Backend extends EventEmitter {
  readonly name: string;
  readonly port: number;
  /** `127.0.0.1:<port>` */
  readonly address: string;
  /** Every call seen, in arrival order. */
  readonly calls: SeenCall[];
  /** Calls currently running. */
  active(): number;
  /** Reflection calls received (`reflection: true`). */
  reflectionCalls(): number;
  /** Payload bytes written on server streams so far (all calls). */
  sentBytes(): number;
  /** Resolves when `seen` has ended on the backend (at once if it already has). */
  ended(seen: SeenCall): Promise<SeenCall>;
  /** Graceful shutdown (waits for calls, then forces after 2 s). */
  close(): Promise<void>;
  /** Abrupt shutdown: every connection is closed at once, calls in flight are cut. */
  kill(): void;
  /** What Health/Check answers from now on (when the backend serves it). */
  setHealth(status: HealthStatus): void;
  /** Health/Check calls answered so far, with the peer each came from. */
  readonly healthChecks: { peer: string; service: string }[];
}

const MAX_MESSAGE = 64 * 1024 * 1024;

function metadataRecord(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.toJSON())) {
    out[k] = (v as (string | Buffer)[])
      .map((x) => (typeof x === "string" ? x : x.toString("base64")))
      .join(", ");
  }
  return out;
}

function answerMetadata(name: string, extra: Record<string, string> | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("x-backend", name);
  if (extra) for (const [k, v] of Object.entries(extra)) md.set(k, v);
  return md;
}

/** Starts a backend serving `helloworld.Greeter`, `grpcroute.test.Tester` and `grpcroute.test.Other`. */
export async function startBackend(opts: BackendOptions): Promise<Backend> {
  const name = opts.name;
  const calls: SeenCall[] = [];
  const events = new EventEmitter();
  let active = 0;
  let sent = 0;
  const server = new grpc.Server({
    "grpc.max_receive_message_length": MAX_MESSAGE,
    "grpc.max_send_message_length": MAX_MESSAGE,
    ...opts.serverOptions,
  });

  function begin(
    call:
      | grpc.ServerUnaryCall<unknown, unknown>
      | grpc.ServerReadableStream<unknown, unknown>
      | grpc.ServerWritableStream<unknown, unknown>
      | grpc.ServerDuplexStream<unknown, unknown>,
  ): SeenCall {
    const seen: SeenCall = {
      path: call.getPath(),
      authority: call.getHost(),
      peer: call.getPeer(),
      metadata: metadataRecord(call.metadata),
      messages: 0,
      bytes: 0,
    };
    calls.push(seen);
    active++;
    (call as EventEmitter).on("cancelled", () => {
      if (seen.end === undefined) {
        seen.end = "cancelled";
        active--;
        events.emit("end", seen);
      }
    });
    events.emit("call", seen);
    return seen;
  }
  function finish(seen: SeenCall, how: "ok" | "error"): void {
    if (seen.end !== undefined) return;
    seen.end = how;
    active--;
    events.emit("end", seen);
  }
  function reply(seen: SeenCall, req: TestRequest, index: number): TestReply {
    return {
      backend: name,
      payload: Buffer.alloc(req.responseSize ?? 0, 0x61),
      receivedBytes: seen.bytes,
      receivedMessages: seen.messages,
      index,
      authority: seen.authority,
      metadata: seen.metadata,
      path: seen.path,
    };
  }
  function failure(req: TestRequest | undefined): grpc.ServiceError | undefined {
    const code = req?.failCode ? req.failCode : opts.error?.code;
    if (!code) return undefined;
    const message = req?.failCode ? (req.failMessage ?? "") : (opts.error?.message ?? "");
    const err = new Error(message) as grpc.ServiceError;
    err.code = code;
    err.details = message;
    err.metadata = answerMetadata(name, opts.trailers);
    return err;
  }
  function after(ms: number | undefined, fn: () => void): void {
    const d = (ms ?? 0) + (opts.delayMs ?? 0);
    if (d > 0) setTimeout(fn, d);
    else fn();
  }
  function count(seen: SeenCall, req: TestRequest): void {
    seen.messages++;
    seen.bytes += req.payload?.length ?? 0;
    events.emit("message", seen);
  }
  /** Reads a request stream, pausing after each message when readDelayMs is set. */
  function readAll(
    seen: SeenCall,
    call: grpc.ServerReadableStream<TestRequest, TestReply> | grpc.ServerDuplexStream<TestRequest, TestReply>,
    onMessage: (req: TestRequest) => void,
    onEnd: () => void,
  ): void {
    call.on("data", (req: TestRequest) => {
      count(seen, req);
      onMessage(req);
      if (opts.readDelayMs) {
        call.pause();
        setTimeout(() => call.resume(), opts.readDelayMs);
      }
    });
    call.on("end", onEnd);
    call.on("error", () => finish(seen, "error"));
  }

  const testerImpl: grpc.UntypedServiceImplementation = {
    Unary(call: grpc.ServerUnaryCall<TestRequest, TestReply>, cb: grpc.sendUnaryData<TestReply>) {
      const seen = begin(call);
      count(seen, call.request);
      if (!opts.trailersOnly) call.sendMetadata(answerMetadata(name, opts.headers));
      after(call.request.delayMs, () => {
        const err = failure(call.request);
        finish(seen, err ? "error" : "ok");
        if (err) cb(err);
        else cb(null, reply(seen, call.request, 0), answerMetadata(name, opts.trailers));
      });
    },
    ClientStream(call: grpc.ServerReadableStream<TestRequest, TestReply>, cb: grpc.sendUnaryData<TestReply>) {
      const seen = begin(call);
      if (!opts.trailersOnly) call.sendMetadata(answerMetadata(name, opts.headers));
      let last: TestRequest = {};
      readAll(
        seen,
        call,
        (req) => {
          last = req;
        },
        () =>
          after(last.delayMs, () => {
            const err = failure(last);
            finish(seen, err ? "error" : "ok");
            if (err) cb(err);
            else cb(null, reply(seen, last, 0), answerMetadata(name, opts.trailers));
          }),
      );
    },
    ServerStream(call: grpc.ServerWritableStream<TestRequest, TestReply>) {
      const seen = begin(call);
      count(seen, call.request);
      call.sendMetadata(answerMetadata(name, opts.headers));
      const req = call.request;
      const total = req.responseCount || 1;
      let i = 0;
      // Honours backpressure: waits for 'drain' when write() says the stream is full.
      const pump = (): void => {
        while (i < total) {
          if (seen.end !== undefined) return;
          const r = reply(seen, req, i++);
          sent += r.payload.length;
          const ok = call.write(r);
          if (req.intervalMs) {
            setTimeout(pump, req.intervalMs);
            return;
          }
          if (!ok) {
            events.emit("blocked", { sentBytes: sent });
            call.once("drain", pump);
            return;
          }
        }
        const err = failure(req);
        finish(seen, err ? "error" : "ok");
        if (err) call.destroy(err);
        else call.end(answerMetadata(name, opts.trailers));
      };
      after(req.delayMs, pump);
    },
    Bidi(call: grpc.ServerDuplexStream<TestRequest, TestReply>) {
      const seen = begin(call);
      call.sendMetadata(answerMetadata(name, opts.headers));
      let last: TestRequest = {};
      readAll(
        seen,
        call,
        (req) => {
          last = req;
          if (!req.silent) {
            const err = failure(req);
            if (err) {
              finish(seen, "error");
              call.destroy(err);
              return;
            }
            const r = reply(seen, req, seen.messages - 1);
            sent += r.payload.length;
            call.write(r);
          }
        },
        () =>
          after(last.delayMs, () => {
            if (seen.end !== undefined) return;
            finish(seen, "ok");
            call.end(answerMetadata(name, opts.trailers));
          }),
      );
    },
  };
  const otherImpl: grpc.UntypedServiceImplementation = { Unary: testerImpl.Unary! };
  const greeterImpl: grpc.UntypedServiceImplementation = {
    SayHello(call: grpc.ServerUnaryCall<HelloRequest, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const seen = begin(call);
      seen.messages = 1;
      if (!opts.trailersOnly) call.sendMetadata(answerMetadata(name, opts.headers));
      after(0, () => {
        const err = failure(undefined);
        finish(seen, err ? "error" : "ok");
        if (err) cb(err);
        else
          cb(
            null,
            { message: `Hello ${call.request.name} from ${name}` },
            answerMetadata(name, opts.trailers),
          );
      });
    },
  };
  let health = opts.health;
  const healthChecks: { peer: string; service: string }[] = [];
  if (health !== undefined) {
    server.addService(Health.service, {
      Check(call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
        healthChecks.push({ peer: call.getPeer(), service: call.request.service });
        events.emit("health", health);
        cb(null, { status: health });
      },
    });
  }
  let reflections = 0;
  const served = opts.services ?? ["Tester", "Other", "Greeter"];
  if (served.includes("Tester")) server.addService(Tester.service, testerImpl);
  if (served.includes("Other")) server.addService(Other.service, otherImpl);
  if (served.includes("Greeter")) server.addService(Greeter.service, greeterImpl);
  if (opts.reflection === true) {
    const names = served.map((s) => (s === "Greeter" ? GREETER_SERVICE : `grpcroute.test.${s}`));
    // Counted, so tests can tell which backend the gateway asked.
    new ReflectionService(TEST_PACKAGES, { services: names }).addToServer({
      addService: (def, impl) => {
        const counted: grpc.UntypedServiceImplementation = {};
        for (const [k, fn] of Object.entries(impl)) {
          counted[k] = ((call: grpc.ServerDuplexStream<unknown, unknown>) => {
            reflections++;
            (fn as (c: typeof call) => void)(call);
          }) as grpc.handleBidiStreamingCall<unknown, unknown>;
        }
        server.addService(def, counted);
      },
    });
  }

  const host = opts.host ?? "127.0.0.1";
  const creds = opts.tls
    ? grpc.ServerCredentials.createSsl(null, [
        { cert_chain: Buffer.from(opts.tls.certPem), private_key: Buffer.from(opts.tls.keyPem) },
      ])
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${opts.port ?? 0}`, creds, (err, p) => (err ? reject(err) : resolve(p)));
  });

  let closed = false;
  const backend = Object.assign(events, {
    name,
    port,
    address: `${host}:${port}`,
    calls,
    active: () => active,
    reflectionCalls: () => reflections,
    sentBytes: () => sent,
    ended: (seen: SeenCall) =>
      new Promise<SeenCall>((resolve) => {
        if (seen.end !== undefined) return resolve(seen);
        const onEnd = (s: SeenCall) => {
          if (s !== seen) return;
          events.off("end", onEnd);
          resolve(s);
        };
        events.on("end", onEnd);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        const force = setTimeout(() => server.forceShutdown(), 2000);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
    kill: () => {
      closed = true;
      server.forceShutdown();
    },
    setHealth: (status: HealthStatus) => {
      health = status;
    },
    healthChecks,
  });
  return backend as Backend;
}
