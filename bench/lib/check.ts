/**
 * A real gRPC call through a target before it is measured: h2load counts HTTP/2 responses and cannot see a
 * `grpc-status` in trailers, so a target that answers every call with an error would otherwise look fast.
 */
import { readFileSync } from "node:fs";
import { connect, constants } from "node:http2";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

type GreeterClient = grpc.Client & {
  SayHello(
    req: { name: string },
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: { message: string }) => void,
  ): void;
};

let definition: protoLoader.PackageDefinition | undefined;

/** The helloworld package as proto-loader reads it, once per process. */
function helloworld(): protoLoader.PackageDefinition {
  if (definition === undefined) {
    const file = fileURLToPath(new URL("../proto/helloworld.proto", import.meta.url));
    definition = protoLoader.loadSync(file, { keepCase: true, defaults: true });
  }
  return definition;
}

let Greeter: (new (address: string, creds: grpc.ChannelCredentials) => GreeterClient) | undefined;

function greeterCtor(): new (address: string, creds: grpc.ChannelCredentials) => GreeterClient {
  if (Greeter === undefined) {
    const pkg = grpc.loadPackageDefinition(helloworld()) as unknown as {
      helloworld: { Greeter: new (address: string, creds: grpc.ChannelCredentials) => GreeterClient };
    };
    Greeter = pkg.helloworld.Greeter;
  }
  return Greeter;
}

/** SayHello's definition: its path and the HelloReply (de)serializers. */
function sayHello(): protoLoader.MethodDefinition<{ message: string }, { message: string }> {
  const service = helloworld()["helloworld.Greeter"] as protoLoader.ServiceDefinition;
  return service.SayHello as unknown as protoLoader.MethodDefinition<
    { message: string },
    { message: string }
  >;
}

/** A gRPC message on the wire: the 5-byte prefix (not compressed, big-endian length), then the message. */
function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/**
 * The answer every benchmark call should get: HelloReply{message: "Hello world"} behind its gRPC prefix
 * (18 bytes, the ones `backends/fixed.mjs` sends).
 */
export function helloReply(): Buffer {
  return grpcFrame(sayHello().responseSerialize({ message: "Hello world" }));
}

/**
 * Calls SayHello("world") on 127.0.0.1:`port` and resolves when the answer is "Hello world"; rejects with the
 * gRPC status otherwise.
 */
export async function checkGreeter(port: number, label: string): Promise<void> {
  const Ctor = greeterCtor();
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const reply = await new Promise<{ message: string }>((resolve, reject) => {
      client.SayHello({ name: "world" }, { deadline: Date.now() + 10_000 }, (err, res) => {
        if (err) reject(new Error(`${label}: SayHello failed: ${grpc.status[err.code]} ${err.details}`));
        else resolve(res ?? { message: "" });
      });
    });
    if (reply.message !== "Hello world") {
      throw new Error(`${label}: SayHello answered ${JSON.stringify(reply.message)}, expected "Hello world"`);
    }
  } finally {
    client.close();
  }
}

/** What one raw SayHello got back. */
interface RawAnswer {
  status: number | undefined;
  body: Buffer;
  headers: Record<string, unknown>;
  trailers: Record<string, unknown>;
}

/**
 * SayHello as raw HTTP/2 (`node:http2`), for backends a grpc-js client refuses: nghttpd answers without a
 * `content-type`, which grpc-js rejects before it reads the reply. Sends the suite's request body
 * (`bodyFile`, HelloRequest{name: "world"}) with the headers h2load sends, and resolves when the answer is
 * `:status` 200, exactly {@link helloReply} (decoding to "Hello world") and `grpc-status: 0` in the trailers;
 * rejects with what differed otherwise, or after 10 s.
 */
export async function checkGreeterRaw(port: number, label: string, bodyFile: string): Promise<void> {
  const method = sayHello();
  const body = readFileSync(bodyFile);
  const session = connect(`http://127.0.0.1:${port}`);
  let answer: RawAnswer;
  try {
    answer = await new Promise<RawAnswer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${label}: no complete answer in 10 s`)), 10_000);
      // Later events of a settled call (the stream's close, an error while the session is torn down) are
      // ignored: the promise keeps its first outcome.
      const fail = (e: Error) => {
        clearTimeout(timer);
        reject(new Error(`${label}: SayHello failed: ${e.message}`));
      };
      session.on("error", fail);
      const got: RawAnswer = { status: undefined, body: Buffer.alloc(0), headers: {}, trailers: {} };
      const chunks: Buffer[] = [];
      const req = session.request({
        [constants.HTTP2_HEADER_METHOD]: "POST",
        [constants.HTTP2_HEADER_PATH]: method.path,
        "content-type": "application/grpc",
        te: "trailers",
      });
      req.on("error", fail);
      req.once("response", (h) => {
        got.status = Number(h[constants.HTTP2_HEADER_STATUS]);
        got.headers = h;
      });
      req.on("data", (c: Buffer) => chunks.push(c));
      req.once("trailers", (t) => {
        got.trailers = t;
      });
      req.once("end", () => {
        clearTimeout(timer);
        got.body = Buffer.concat(chunks);
        resolve(got);
      });
      req.once("close", () =>
        fail(new Error(`the stream closed before its end (RST_STREAM ${req.rstCode})`)),
      );
      req.end(body);
    });
  } finally {
    // Nothing else runs on this session: closing it at once also ends a stream that never answered.
    session.destroy();
  }
  if (answer.status !== 200) throw new Error(`${label}: SayHello answered :status ${answer.status}`);
  // A trailers-only answer (an error before any reply) carries grpc-status in the headers.
  const grpcStatus = answer.trailers["grpc-status"] ?? answer.headers["grpc-status"];
  if (grpcStatus !== "0") {
    const msg = answer.trailers["grpc-message"] ?? answer.headers["grpc-message"];
    throw new Error(
      `${label}: SayHello ended with grpc-status ${grpcStatus ?? "(none)"}` +
        (msg === undefined ? "" : ` (${String(msg)})`) +
        (grpcStatus === undefined ? "; expected grpc-status 0 in the trailers" : ""),
    );
  }
  const want = helloReply();
  const got = answer.body;
  let message: string | undefined;
  // One uncompressed message whose prefix gives the length of the rest.
  if (got.length >= 5 && got[0] === 0 && got.readUInt32BE(1) === got.length - 5) {
    try {
      message = method.responseDeserialize(got.subarray(5)).message;
    } catch {
      message = undefined;
    }
  }
  if (message !== "Hello world" || !got.equals(want)) {
    throw new Error(
      `${label}: SayHello answered ${got.length} bytes (${got.toString("hex")}` +
        `${message === undefined ? ", not one HelloReply" : `, decoding to ${JSON.stringify(message)}`}), ` +
        `expected ${want.length} (${want.toString("hex")}: "Hello world")`,
    );
  }
}
