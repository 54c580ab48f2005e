/**
 * A grpc-js backend of `grpcroute.library.Library` (test/helpers/protos/transcode.proto) for the JSON
 * transcoding tests, serving reflection with `@grpc/reflection`, optionally without it.
 *
 * proto-loader's file descriptors carry no custom method options, so the `google.api.http` rules are put
 * back into them here from protobufjs's parse of the same file (a backend built with protoc has them as
 * they are). The rules are encoded with protobufjs's descriptor types, to which grpcroute adds the option.
 * @internal test-only
 */
import { createRequire } from "node:module";
import { dirname } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import protobuf from "protobufjs";
import descriptorModule from "protobufjs/ext/descriptor/index.js";
import { HTTP_OPTION } from "../../src/dataplane/local/descriptors.js";
import { PROTO_DIR } from "./protos.js";

const require = createRequire(import.meta.url);
const PROTOBUFJS_DIR = dirname(require.resolve("protobufjs/package.json"));

export const LIBRARY_SERVICE = "grpcroute.library.Library";

export interface LibraryBackend {
  port: number;
  /** Metadata of every call received, in order. */
  metadata: Record<string, string>[];
  close(): Promise<void>;
}

/** The method options (`google.api.http`) of the Library service, parsed by protobufjs. */
function httpRules(): Map<string, Record<string, string>> {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) =>
    target.startsWith("google/protobuf/") ? `${PROTOBUFJS_DIR}/${target}` : `${PROTO_DIR}${target}`;
  root.loadSync("transcode.proto", { keepCase: true });
  const out = new Map<string, Record<string, string>>();
  for (const m of root.lookupService(LIBRARY_SERVICE).methodsArray) {
    const parsed = (m.parsedOptions ?? []) as Record<string, unknown>[];
    const rule = parsed.find((o) => o["(google.api.http)"] !== undefined)?.["(google.api.http)"];
    if (rule !== undefined) out.set(m.name, rule as Record<string, string>);
  }
  return out;
}

/** The package definition with the http rules put back into its file descriptors. */
function packageDefinition(): protoLoader.PackageDefinition {
  const def = protoLoader.loadSync("transcode.proto", {
    includeDirs: [PROTO_DIR],
    // Proto field names in the descriptors, as protoc writes them.
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  const rules = httpRules();
  const FileDescriptorProto = (descriptorModule as unknown as protobuf.Root).lookupType(
    "google.protobuf.FileDescriptorProto",
  );
  const MethodOptions = (descriptorModule as unknown as protobuf.Root).lookupType(
    "google.protobuf.MethodOptions",
  );
  const optionName = MethodOptions.fieldsById[HTTP_OPTION]!.name;
  const patched = new Map<Buffer, Buffer>();
  for (const entry of Object.values(def)) {
    const list = (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos;
    if (!Array.isArray(list)) continue;
    for (let i = 0; i < list.length; i++) {
      const bytes = list[i]!;
      let out = patched.get(bytes);
      if (out === undefined) {
        const fd = FileDescriptorProto.decode(bytes) as unknown as {
          service?: { name: string; method?: { name: string; options?: Record<string, unknown> }[] }[];
        };
        for (const s of fd.service ?? []) {
          for (const m of s.method ?? []) {
            const rule = rules.get(m.name);
            if (rule !== undefined) m.options = { ...(m.options ?? {}), [optionName]: rule };
          }
        }
        out = Buffer.from(FileDescriptorProto.encode(fd as unknown as protobuf.Message).finish());
        patched.set(bytes, out);
      }
      list[i] = out;
    }
  }
  return def;
}

interface Book {
  shelf: string;
  book_id: string;
  display_title: string;
  created?: { seconds: string; nanos: number };
  hardcover: boolean;
}

function book(shelf: string, id: string | number, hardcover = false): Book {
  return {
    shelf,
    book_id: String(id),
    display_title: `Book ${id} of ${shelf}`,
    created: { seconds: "1700000000", nanos: 0 },
    hardcover,
  };
}

export async function startLibraryBackend(opts: { reflection?: boolean } = {}): Promise<LibraryBackend> {
  const def = packageDefinition();
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpcroute: { library: { Library: grpc.ServiceClientConstructor } };
  };
  const metadata: Record<string, string>[] = [];
  const seen = (call: { metadata: grpc.Metadata }): void => {
    const md: Record<string, string> = {};
    for (const [k, v] of Object.entries(call.metadata.getMap())) md[k] = String(v);
    metadata.push(md);
  };
  const server = new grpc.Server();
  server.addService(pkg.grpcroute.library.Library.service, {
    GetBook(
      call: grpc.ServerUnaryCall<{ shelf: string; book_id: string; hardcover: boolean }, Book>,
      cb: grpc.sendUnaryData<Book>,
    ) {
      seen(call);
      cb(null, book(call.request.shelf, call.request.book_id, call.request.hardcover));
    },
    CreateBook(
      call: grpc.ServerUnaryCall<{ shelf: string; book?: Book }, Book>,
      cb: grpc.sendUnaryData<Book>,
    ) {
      seen(call);
      const b = call.request.book;
      cb(null, { ...book(call.request.shelf, b?.book_id ?? "0"), display_title: b?.display_title ?? "" });
    },
    ListBooks(call: grpc.ServerWritableStream<{ shelf: string; count: number; fail_code: number }, Book>) {
      seen(call);
      for (let i = 1; i <= call.request.count; i++) call.write(book(call.request.shelf, i));
      if (call.request.fail_code !== 0) {
        call.emit("error", { code: call.request.fail_code, details: "the shelf gave way" });
        return;
      }
      call.end();
    },
    Fail(call: grpc.ServerUnaryCall<{ code: number; message: string }, Book>, cb: grpc.sendUnaryData<Book>) {
      seen(call);
      if (call.request.code === 0) {
        cb(null, book("fail", 0));
        return;
      }
      cb({ code: call.request.code, details: call.request.message } as grpc.ServiceError);
    },
  });
  if (opts.reflection !== false) new ReflectionService(def).addToServer(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    );
  });
  return {
    port,
    metadata,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => server.forceShutdown(), 2000).unref();
      }),
  };
}
