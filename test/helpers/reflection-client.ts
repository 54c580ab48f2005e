/**
 * A gRPC reflection client driven with the reflection protos that `@grpc/reflection` ships (v1 and
 * v1alpha), with what `grpcurl list` and `grpcurl describe` do on top of it.
 * @internal test-only
 */
import { createRequire } from "node:module";
import { dirname } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type protobuf from "protobufjs";
import descriptorModule from "protobufjs/ext/descriptor/index.js";
import { TEST_CALL_LIMIT_MS } from "./clients.js";

const require = createRequire(import.meta.url);
const PROTO_ROOT = `${dirname(require.resolve("@grpc/reflection/package.json"))}/build/proto`;

function service(version: "v1" | "v1alpha"): grpc.ServiceClientConstructor {
  const def = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
    includeDirs: [PROTO_ROOT],
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpc: { reflection: Record<string, { ServerReflection: grpc.ServiceClientConstructor }> };
  };
  return pkg.grpc.reflection[version]!.ServerReflection;
}

const CLIENTS = { v1: service("v1"), v1alpha: service("v1alpha") };

export interface ReflectionAnswer {
  validHost?: string;
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
  allExtensionNumbersResponse?: { baseTypeName: string; extensionNumber: number[] };
}

/**
 * Sends `requests` on one ServerReflectionInfo stream and resolves with the responses; rejects with the
 * call's error.
 */
export function reflect(
  target: string,
  requests: Record<string, unknown>[],
  opts: {
    version?: "v1" | "v1alpha" | undefined;
    authority?: string | undefined;
    metadata?: Record<string, string>;
  } = {},
): Promise<ReflectionAnswer[]> {
  const Ctor = CLIENTS[opts.version ?? "v1"];
  const options: grpc.ClientOptions = {};
  if (opts.authority !== undefined) options["grpc.default_authority"] = opts.authority;
  const client = new Ctor(target, grpc.credentials.createInsecure(), options);
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
  return new Promise((resolve, reject) => {
    const out: ReflectionAnswer[] = [];
    const call = (
      client as unknown as Record<
        string,
        (m: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientDuplexStream<unknown, ReflectionAnswer>
      >
    ).serverReflectionInfo!(md, { deadline: Date.now() + TEST_CALL_LIMIT_MS });
    call.on("data", (r: ReflectionAnswer) => out.push(r));
    call.on("error", (e) => {
      client.close();
      reject(e);
    });
    call.on("end", () => {
      client.close();
      resolve(out);
    });
    for (const r of requests) call.write(r);
    call.end();
  });
}

/** `grpcurl list`: the service names, sorted. */
export async function listServices(
  target: string,
  authority?: string,
  version?: "v1" | "v1alpha",
): Promise<string[]> {
  const [r] = await reflect(target, [{ listServices: "" }], { authority, version });
  if (r?.listServicesResponse === undefined) throw new Error(`list_services failed: ${JSON.stringify(r)}`);
  return r.listServicesResponse.service.map((s) => s.name).sort();
}

const FileDescriptorProto = (descriptorModule as unknown as protobuf.Root).lookupType(
  "google.protobuf.FileDescriptorProto",
);

interface FileObject {
  name: string;
  package?: string;
  messageType?: { name: string }[];
  service?: { name: string; method?: { name: string }[] }[];
}

/**
 * `grpcurl describe SYMBOL`: the files the gateway sends for `file_containing_symbol`, decoded, with the
 * names they define; or the error it answers.
 */
export async function describe(
  target: string,
  symbol: string,
  authority?: string,
): Promise<
  { files: FileObject[]; symbols: string[] } | { error: { errorCode: number; errorMessage: string } }
> {
  const [r] = await reflect(target, [{ fileContainingSymbol: symbol }], { authority });
  if (r?.errorResponse !== undefined) return { error: r.errorResponse };
  const files = (r?.fileDescriptorResponse?.fileDescriptorProto ?? []).map(
    (b) => FileDescriptorProto.toObject(FileDescriptorProto.decode(b)) as FileObject,
  );
  const symbols: string[] = [];
  for (const f of files) {
    const pre = f.package ? `${f.package}.` : "";
    for (const m of f.messageType ?? []) symbols.push(pre + m.name);
    for (const s of f.service ?? []) {
      symbols.push(pre + s.name);
      for (const m of s.method ?? []) symbols.push(`${pre}${s.name}.${m.name}`);
    }
  }
  return { files, symbols };
}
