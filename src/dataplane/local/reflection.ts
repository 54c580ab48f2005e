/**
 * `grpc.reflection.v1(alpha).ServerReflection/ServerReflectionInfo`, answered by the gateway for a listener
 * and host (see `listing.ts` for what it lists). Each request message gets one response, in order:
 * `list_services` from the services calls can reach; `file_containing_symbol` from the backend a call to the
 * symbol's service goes to (for a message or enum type: the first backend of the listener that defines it);
 * `file_by_filename`, `file_containing_extension` and `all_extension_numbers_of_type` from the first backend
 * that answers. A symbol of a service that calls cannot reach is not found, whichever backend defines it.
 */
import type { RoutingTable } from "../../ir/routing-table.js";
import { encodeGrpcMessage, GrpcCode } from "../grpc-status.js";
import type { CompiledListener, RequestHeaders } from "../router.js";
import type { BackendReflection } from "./backend-reflection.js";
import { decodeFile } from "./descriptors.js";
import { type Reachable, reachable } from "./listing.js";
import { GRPC_RESPONSE_HEADERS, type LocalCall, type LocalResponse } from "./local-call.js";
import {
  frameMessage,
  MessageReader,
  ReflectionRequest,
  type ReflectionRequestObject,
  ReflectionResponse,
  type ReflectionResponseObject,
} from "./messages.js";

/** Largest reflection request message accepted (requests are a name or two). */
const REQUEST_LIMIT = 64 * 1024;

export interface ReflectionContext {
  listener: CompiledListener;
  table: RoutingTable;
  /** The call's host (port stripped, lowercase). */
  host: string;
  headers: RequestHeaders;
  backends: BackendReflection;
}

type Payload = Omit<ReflectionResponseObject, "validHost" | "originalRequest">;

function notFound(message: string): Payload {
  return { errorResponse: { errorCode: GrpcCode.NOT_FOUND, errorMessage: message } };
}

export class ReflectionCall implements LocalCall {
  private readonly reader = new MessageReader(REQUEST_LIMIT);
  private chain: Promise<void> = Promise.resolve();
  private reach: Promise<Reachable> | undefined;
  private aborted = false;

  constructor(
    private readonly ctx: ReflectionContext,
    private readonly res: LocalResponse,
  ) {
    res.head(200, GRPC_RESPONSE_HEADERS);
  }

  data(chunk: Buffer, end: boolean): void {
    if (this.aborted) return;
    for (const m of this.reader.push(chunk)) this.chain = this.chain.then(() => this.answer(m));
    if (this.reader.error !== "") {
      this.aborted = true;
      this.res.end(
        [
          "grpc-status",
          String(GrpcCode.RESOURCE_EXHAUSTED),
          "grpc-message",
          encodeGrpcMessage(this.reader.error),
        ],
        GrpcCode.RESOURCE_EXHAUSTED,
      );
      return;
    }
    if (end) {
      this.chain = this.chain.then(() => {
        if (this.reader.pending > 0) {
          this.res.end(
            ["grpc-status", String(GrpcCode.INTERNAL), "grpc-message", "the request ended inside a message"],
            GrpcCode.INTERNAL,
          );
        } else this.res.end(["grpc-status", "0"], GrpcCode.OK);
      });
    }
  }

  abort(): void {
    this.aborted = true;
  }

  private reachable(): Promise<Reachable> {
    this.reach ??= reachable(
      this.ctx.listener,
      this.ctx.table,
      this.ctx.host,
      this.ctx.headers,
      this.ctx.backends,
    );
    return this.reach;
  }

  private async answer(bytes: Buffer): Promise<void> {
    if (this.aborted || this.res.closed) return;
    let req: ReflectionRequestObject;
    try {
      req = ReflectionRequest.toObject(ReflectionRequest.decode(bytes), {
        defaults: false,
      }) as ReflectionRequestObject;
    } catch (e: unknown) {
      this.aborted = true;
      const message = `malformed reflection request: ${(e as Error).message}`;
      this.res.end(
        ["grpc-status", String(GrpcCode.INVALID_ARGUMENT), "grpc-message", encodeGrpcMessage(message)],
        GrpcCode.INVALID_ARGUMENT,
      );
      return;
    }
    let payload: Payload;
    try {
      payload = await this.payload(req);
    } catch (e: unknown) {
      payload = { errorResponse: { errorCode: GrpcCode.INTERNAL, errorMessage: (e as Error).message } };
    }
    if (this.aborted || this.res.closed) return;
    const out = ReflectionResponse.fromObject({
      validHost: req.host ?? "",
      originalRequest: req,
      ...payload,
    });
    this.res.write(frameMessage(ReflectionResponse.encode(out).finish()));
  }

  private async payload(req: ReflectionRequestObject): Promise<Payload> {
    const br = this.ctx.backends;
    if (req.listServices !== undefined) {
      const r = await this.reachable();
      const names = [...r.services.keys()].sort();
      return { listServicesResponse: { service: names.map((name) => ({ name })) } };
    }
    if (req.fileContainingSymbol !== undefined) return this.symbol(req.fileContainingSymbol);
    let what: string;
    let ask: ReflectionRequestObject;
    if (req.fileByFilename !== undefined) {
      what = `file ${req.fileByFilename}`;
      ask = { fileByFilename: req.fileByFilename };
    } else if (req.fileContainingExtension !== undefined) {
      const e = req.fileContainingExtension;
      what = `extension ${e.extensionNumber ?? 0} of ${e.containingType ?? ""}`;
      ask = { fileContainingExtension: e };
    } else if (req.allExtensionNumbersOfType !== undefined) {
      what = `type ${req.allExtensionNumbersOfType}`;
      ask = { allExtensionNumbersOfType: req.allExtensionNumbersOfType };
    } else {
      return {
        errorResponse: { errorCode: GrpcCode.UNIMPLEMENTED, errorMessage: "unknown reflection request" },
      };
    }
    const r = await this.reachable();
    for (const c of r.clusters) {
      const a = await br.ask(c, ask);
      if (a.ok && a.response.errorResponse === undefined) return strip(a.response);
    }
    return notFound(`no backend of this listener knows ${what}`);
  }

  /** `file_containing_symbol`: the backend of the symbol's service, else the first that defines it. */
  private async symbol(sym: string): Promise<Payload> {
    const br = this.ctx.backends;
    const r = await this.reachable();
    const dot = sym.lastIndexOf(".");
    const service = r.services.has(sym)
      ? sym
      : dot > 0 && r.services.has(sym.slice(0, dot))
        ? sym.slice(0, dot)
        : undefined;
    if (service !== undefined) {
      const c = r.services.get(service);
      if (c === undefined) return notFound(`service ${service} has no valid backend`);
      const a = await br.ask(c, { fileContainingSymbol: sym });
      if (!a.ok) return notFound(`symbol ${sym}: ${a.reason}`);
      return strip(a.response);
    }
    for (const c of r.clusters) {
      const a = await br.ask(c, { fileContainingSymbol: sym });
      if (!a.ok || a.response.errorResponse !== undefined) continue;
      const first = a.response.fileDescriptorResponse?.fileDescriptorProto?.[0];
      if (first === undefined) continue;
      // A service (or a method of one) that calls on this listener cannot reach is not described.
      const f = decodeFile(first);
      if (f.services.some((s) => s.fullName === sym || sym.startsWith(`${s.fullName}.`))) continue;
      return strip(a.response);
    }
    return notFound(`symbol not found: ${sym}`);
  }
}

/** A backend's answer without its own host and request echo (the gateway sets the client's). */
function strip(r: ReflectionResponseObject): Payload {
  const { validHost: _h, originalRequest: _o, ...rest } = r;
  return rest;
}
