/**
 * A raw HTTP/2 gRPC call (node:http2), for what grpc-js clients hide: no client-side deadline, any path,
 * the exact response headers and trailers.
 * @internal test-only
 */
import { connect, type IncomingHttpHeaders } from "node:http2";

export interface RawResult {
  /** HTTP status. */
  httpStatus: number;
  /** `grpc-status` from trailers or a trailers-only response ("" when none). */
  status: string;
  message: string;
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  /** Response body bytes. */
  bytes: number;
}

/** Wraps `msg` in a gRPC length-prefixed frame (uncompressed). */
export function grpcFrame(msg: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}

/** Makes one call on a fresh connection to `target` (`host:port`), sending `body` as the whole request. */
export function rawGrpcCall(
  target: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://${target}`);
    session.on("error", reject);
    const s = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    const result: RawResult = { httpStatus: 0, status: "", message: "", headers: {}, trailers: {}, bytes: 0 };
    s.on("response", (h) => {
      result.headers = h;
      result.httpStatus = Number(h[":status"]);
      if (h["grpc-status"] !== undefined) {
        result.status = String(h["grpc-status"]);
        result.message = decodeURIComponent(String(h["grpc-message"] ?? ""));
      }
    });
    s.on("trailers", (h) => {
      result.trailers = h;
      result.status = String(h["grpc-status"] ?? "");
      result.message = decodeURIComponent(String(h["grpc-message"] ?? ""));
    });
    s.on("data", (c: Buffer) => {
      result.bytes += c.length;
    });
    s.on("error", () => {});
    s.on("close", () => {
      session.close();
      resolve(result);
    });
    s.end(body);
  });
}
