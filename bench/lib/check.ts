/**
 * A real gRPC call through a target before it is measured: h2load counts HTTP/2 responses and cannot see a
 * `grpc-status` in trailers, so a target that answers every call with an error would otherwise look fast.
 */
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

let Greeter: (new (address: string, creds: grpc.ChannelCredentials) => GreeterClient) | undefined;

function greeterCtor(): new (address: string, creds: grpc.ChannelCredentials) => GreeterClient {
  if (Greeter === undefined) {
    const file = fileURLToPath(new URL("../proto/helloworld.proto", import.meta.url));
    const def = protoLoader.loadSync(file, { keepCase: true, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      helloworld: { Greeter: new (address: string, creds: grpc.ChannelCredentials) => GreeterClient };
    };
    Greeter = pkg.helloworld.Greeter;
  }
  return Greeter;
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
