/**
 * The protobuf messages the gateway itself reads and writes: gRPC server reflection (`grpc.reflection.v1` and
 * `v1alpha` share one wire format) and `google.rpc.Status`, defined with protobufjs from their field numbers,
 * and the gRPC length-prefixed message framing.
 */
import protobuf from "protobufjs";

const root = protobuf.Root.fromJSON({
  nested: {
    reflection: {
      nested: {
        ServerReflectionRequest: {
          oneofs: {
            messageRequest: {
              oneof: [
                "fileByFilename",
                "fileContainingSymbol",
                "fileContainingExtension",
                "allExtensionNumbersOfType",
                "listServices",
              ],
            },
          },
          fields: {
            host: { type: "string", id: 1 },
            fileByFilename: { type: "string", id: 3 },
            fileContainingSymbol: { type: "string", id: 4 },
            fileContainingExtension: { type: "ExtensionRequest", id: 5 },
            allExtensionNumbersOfType: { type: "string", id: 6 },
            listServices: { type: "string", id: 7 },
          },
        },
        ExtensionRequest: {
          fields: { containingType: { type: "string", id: 1 }, extensionNumber: { type: "int32", id: 2 } },
        },
        ServerReflectionResponse: {
          oneofs: {
            messageResponse: {
              oneof: [
                "fileDescriptorResponse",
                "allExtensionNumbersResponse",
                "listServicesResponse",
                "errorResponse",
              ],
            },
          },
          fields: {
            validHost: { type: "string", id: 1 },
            originalRequest: { type: "ServerReflectionRequest", id: 2 },
            fileDescriptorResponse: { type: "FileDescriptorResponse", id: 4 },
            allExtensionNumbersResponse: { type: "ExtensionNumberResponse", id: 5 },
            listServicesResponse: { type: "ListServiceResponse", id: 6 },
            errorResponse: { type: "ErrorResponse", id: 7 },
          },
        },
        FileDescriptorResponse: {
          fields: { fileDescriptorProto: { rule: "repeated", type: "bytes", id: 1 } },
        },
        ExtensionNumberResponse: {
          fields: {
            baseTypeName: { type: "string", id: 1 },
            extensionNumber: { rule: "repeated", type: "int32", id: 2 },
          },
        },
        ListServiceResponse: { fields: { service: { rule: "repeated", type: "ServiceResponse", id: 1 } } },
        ServiceResponse: { fields: { name: { type: "string", id: 1 } } },
        ErrorResponse: {
          fields: { errorCode: { type: "int32", id: 1 }, errorMessage: { type: "string", id: 2 } },
        },
        RpcStatus: {
          fields: {
            code: { type: "int32", id: 1 },
            message: { type: "string", id: 2 },
            details: { rule: "repeated", type: "Any", id: 3 },
          },
        },
        Any: { fields: { typeUrl: { type: "string", id: 1 }, value: { type: "bytes", id: 2 } } },
      },
    },
  },
});

export const ReflectionRequest = root.lookupType("reflection.ServerReflectionRequest");
export const ReflectionResponse = root.lookupType("reflection.ServerReflectionResponse");
export const RpcStatus = root.lookupType("reflection.RpcStatus");

/** A reflection request, as protobufjs decodes it (one of the request fields is set). */
export interface ReflectionRequestObject {
  host?: string;
  fileByFilename?: string;
  fileContainingSymbol?: string;
  fileContainingExtension?: { containingType?: string; extensionNumber?: number };
  allExtensionNumbersOfType?: string;
  listServices?: string;
}

/** A reflection response, as protobufjs decodes it. */
export interface ReflectionResponseObject {
  validHost?: string;
  originalRequest?: ReflectionRequestObject;
  fileDescriptorResponse?: { fileDescriptorProto?: Uint8Array[] };
  allExtensionNumbersResponse?: { baseTypeName?: string; extensionNumber?: number[] };
  listServicesResponse?: { service?: { name?: string }[] };
  errorResponse?: { errorCode?: number; errorMessage?: string };
}

/** The two reflection services (same messages); the gateway answers both. */
export const REFLECTION_SERVICES = [
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
] as const;
export const REFLECTION_METHOD = "ServerReflectionInfo";

/** Whether `path` is `ServerReflectionInfo` of either reflection service. */
export function isReflectionPath(path: string): boolean {
  return (
    path === "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo" ||
    path === "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
  );
}

/** One gRPC message framed: flag 0 (not compressed), 4-byte length, payload. */
export function frameMessage(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = 0;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

/**
 * Cuts gRPC length-prefixed messages out of DATA as it arrives. A message above `limit` bytes, or a
 * compressed one (the gateway asks for none), is an error the caller reports.
 */
export class MessageReader {
  private buf: Buffer = Buffer.alloc(0);
  error = "";

  constructor(private readonly limit: number) {}

  /** Appends `data`; returns the whole messages now available (none after an error). */
  push(data: Buffer): Buffer[] {
    if (this.error !== "") return [];
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    const out: Buffer[] = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf[0] !== 0) {
        this.error = "compressed messages are not accepted";
        return [];
      }
      if (len > this.limit) {
        this.error = `a message of ${len} bytes exceeds the limit of ${this.limit} bytes`;
        return [];
      }
      if (this.buf.length < 5 + len) break;
      out.push(this.buf.subarray(5, 5 + len));
      this.buf = this.buf.subarray(5 + len);
    }
    return out;
  }

  /** Bytes of an incomplete message left over. */
  get pending(): number {
    return this.buf.length;
  }
}
