/**
 * File descriptors learned from a backend's reflection: decoded with protobufjs's descriptor types (which
 * also read the `google.api.http` method option, extension 72295728 of MethodOptions), with every
 * dependency a file needs fetched by name from the same backend.
 */
import protobuf from "protobufjs";
import descriptorModule from "protobufjs/ext/descriptor/index.js";
import type { IrCluster } from "../../ir/routing-table.js";
import type { BackendReflection } from "./backend-reflection.js";

/** A `google.api.HttpRule` (the fields the gateway serves). */
export interface HttpRule {
  get?: string;
  put?: string;
  post?: string;
  delete?: string;
  patch?: string;
  custom?: { kind?: string; path?: string };
  body?: string;
  responseBody?: string;
  additionalBindings?: HttpRule[];
}

export interface DecodedMethod {
  name: string;
  /** Fully qualified, without the leading dot. */
  inputType: string;
  outputType: string;
  clientStreaming: boolean;
  serverStreaming: boolean;
  http: HttpRule | undefined;
}

export interface DecodedFile {
  name: string;
  package: string;
  dependency: string[];
  services: { name: string; fullName: string; methods: DecodedMethod[] }[];
  bytes: Uint8Array;
}

/** Most files one symbol may need (itself and its dependencies). */
const MAX_FILES = 256;

const descriptor = descriptorModule as unknown as protobuf.Root;
const MethodOptions = descriptor.lookupType("google.protobuf.MethodOptions");
/** The field number of the `google.api.http` option. */
export const HTTP_OPTION = 72295728;
// Read with the descriptor types (whoever loads them first adds the option; added once).
if (MethodOptions.fieldsById[HTTP_OPTION] === undefined) {
  descriptor.add(
    protobuf.Namespace.fromJSON("grpcroute_google_api", {
      nested: {
        HttpRule: {
          fields: {
            selector: { type: "string", id: 1 },
            get: { type: "string", id: 2 },
            put: { type: "string", id: 3 },
            post: { type: "string", id: 4 },
            delete: { type: "string", id: 5 },
            patch: { type: "string", id: 6 },
            body: { type: "string", id: 7 },
            custom: { type: "CustomHttpPattern", id: 8 },
            additionalBindings: { rule: "repeated", type: "HttpRule", id: 11 },
            responseBody: { type: "string", id: 12 },
          },
        },
        CustomHttpPattern: { fields: { kind: { type: "string", id: 1 }, path: { type: "string", id: 2 } } },
      },
    }),
  );
  MethodOptions.add(new protobuf.Field("googleApiHttp", HTTP_OPTION, ".grpcroute_google_api.HttpRule"));
}
const FileDescriptorProto = descriptor.lookupType("google.protobuf.FileDescriptorProto");

interface RawMethod {
  name?: string;
  inputType?: string;
  outputType?: string;
  clientStreaming?: boolean;
  serverStreaming?: boolean;
  options?: { googleApiHttp?: HttpRule };
}
interface RawFile {
  name?: string;
  package?: string;
  dependency?: string[];
  service?: { name?: string; method?: RawMethod[] }[];
}

const decoded = new WeakMap<Uint8Array, DecodedFile>();

/** Decodes one serialized FileDescriptorProto (remembered per buffer). Throws on malformed bytes. */
export function decodeFile(bytes: Uint8Array): DecodedFile {
  const known = decoded.get(bytes);
  if (known !== undefined) return known;
  const raw = FileDescriptorProto.toObject(FileDescriptorProto.decode(bytes), { defaults: false }) as RawFile;
  const pkg = raw.package ?? "";
  const f: DecodedFile = {
    name: raw.name ?? "",
    package: pkg,
    dependency: raw.dependency ?? [],
    bytes,
    services: (raw.service ?? []).map((s) => ({
      name: s.name ?? "",
      fullName: pkg === "" ? (s.name ?? "") : `${pkg}.${s.name ?? ""}`,
      methods: (s.method ?? []).map((m) => ({
        name: m.name ?? "",
        inputType: (m.inputType ?? "").replace(/^\./, ""),
        outputType: (m.outputType ?? "").replace(/^\./, ""),
        clientStreaming: m.clientStreaming === true,
        serverStreaming: m.serverStreaming === true,
        http: m.options?.googleApiHttp,
      })),
    })),
  };
  decoded.set(bytes, f);
  return f;
}

export type FilesResult =
  | { ok: true; files: DecodedFile[] }
  | { ok: false; noReflection: boolean; reason: string };

/** The file defining `symbol` on `cluster`, and every file it depends on (first the one that defines it). */
export async function filesForSymbol(
  br: BackendReflection,
  cluster: IrCluster,
  symbol: string,
): Promise<FilesResult> {
  const a = await br.ask(cluster, { fileContainingSymbol: symbol });
  if (!a.ok) return a;
  if (a.response.errorResponse !== undefined) {
    return { ok: false, noReflection: false, reason: a.response.errorResponse.errorMessage ?? "not found" };
  }
  const byName = new Map<string, DecodedFile>();
  const order: DecodedFile[] = [];
  const add = (bytes: Uint8Array[]): void => {
    for (const b of bytes) {
      const f = decodeFile(b);
      if (!byName.has(f.name)) {
        byName.set(f.name, f);
        order.push(f);
      }
    }
  };
  try {
    add(a.response.fileDescriptorResponse?.fileDescriptorProto ?? []);
    for (let i = 0; i < order.length; i++) {
      for (const dep of order[i]!.dependency) {
        if (byName.has(dep)) continue;
        if (order.length >= MAX_FILES) {
          return { ok: false, noReflection: false, reason: `${symbol} needs more than ${MAX_FILES} files` };
        }
        const d = await br.ask(cluster, { fileByFilename: dep });
        if (!d.ok) return d;
        const files = d.response.fileDescriptorResponse?.fileDescriptorProto;
        if (files === undefined || files.length === 0) {
          return {
            ok: false,
            noReflection: false,
            reason: `the backend has no file ${dep} (needed by ${symbol})`,
          };
        }
        add(files);
      }
    }
  } catch (e: unknown) {
    return { ok: false, noReflection: false, reason: `malformed file descriptor: ${(e as Error).message}` };
  }
  return { ok: true, files: order };
}

/** The method names of `service` as its files define it, or undefined when they do not. */
export function methodsOf(files: readonly DecodedFile[], service: string): DecodedMethod[] | undefined {
  for (const f of files) for (const s of f.services) if (s.fullName === service) return s.methods;
  return undefined;
}
