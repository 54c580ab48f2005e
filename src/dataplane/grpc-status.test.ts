import assert from "node:assert/strict";
import { constants as h2 } from "node:http2";
import { describe, it } from "node:test";
import {
  decodeGrpcMessage,
  encodeGrpcMessage,
  formatGrpcTimeout,
  GrpcCode,
  grpcCodeFromError,
  grpcCodeFromHttpStatus,
  grpcCodeFromRstCode,
  parseGrpcTimeout,
} from "./grpc-status.js";

describe("grpc-status mappings", { timeout: 120_000 }, () => {
  it("maps HTTP status per the HTTP-to-gRPC table", () => {
    const cases: [number, number][] = [
      [400, GrpcCode.INTERNAL],
      [401, GrpcCode.UNAUTHENTICATED],
      [403, GrpcCode.PERMISSION_DENIED],
      [404, GrpcCode.UNIMPLEMENTED],
      [429, GrpcCode.UNAVAILABLE],
      [502, GrpcCode.UNAVAILABLE],
      [503, GrpcCode.UNAVAILABLE],
      [504, GrpcCode.UNAVAILABLE],
      [500, GrpcCode.UNKNOWN],
      [302, GrpcCode.UNKNOWN],
    ];
    for (const [http, code] of cases) assert.equal(grpcCodeFromHttpStatus(http), code, String(http));
  });
  it("maps RST_STREAM codes", () => {
    assert.equal(grpcCodeFromRstCode(h2.NGHTTP2_REFUSED_STREAM), GrpcCode.UNAVAILABLE);
    assert.equal(grpcCodeFromRstCode(h2.NGHTTP2_CANCEL), GrpcCode.CANCELLED);
    assert.equal(grpcCodeFromRstCode(h2.NGHTTP2_CANCEL, true), GrpcCode.UNAVAILABLE);
    assert.equal(grpcCodeFromRstCode(h2.NGHTTP2_ENHANCE_YOUR_CALM), GrpcCode.RESOURCE_EXHAUSTED);
    assert.equal(grpcCodeFromRstCode(h2.NGHTTP2_INTERNAL_ERROR), GrpcCode.INTERNAL);
  });
  it("maps Node errors through the cause chain", () => {
    const refused = Object.assign(new Error("connect"), { code: "ECONNREFUSED" });
    assert.equal(grpcCodeFromError(refused), GrpcCode.UNAVAILABLE);
    assert.equal(grpcCodeFromError(new Error("wrapped", { cause: refused })), GrpcCode.UNAVAILABLE);
    const rst = Object.assign(new Error("Stream closed with error code NGHTTP2_REFUSED_STREAM"), {
      code: "ERR_HTTP2_STREAM_ERROR",
    });
    assert.equal(grpcCodeFromError(rst), GrpcCode.UNAVAILABLE);
    assert.equal(grpcCodeFromError("odd"), GrpcCode.UNKNOWN);
  });
  it("percent-encodes grpc-message", () => {
    const cases: [string, string][] = [
      ["plain text", "plain text"],
      ["100%", "100%25"],
      ["héllo\n", "h%C3%A9llo%0A"],
    ];
    for (const [raw, enc] of cases) {
      assert.equal(encodeGrpcMessage(raw), enc);
      assert.equal(decodeGrpcMessage(enc), raw);
    }
  });
  it("parses and formats grpc-timeout", () => {
    const cases: [string, number | undefined][] = [
      ["1S", 1000],
      ["250m", 250],
      ["2M", 120_000],
      ["1H", 3_600_000],
      ["5000u", 5],
      ["123456789m", undefined],
      ["10x", undefined],
      ["m", undefined],
      ["-1m", undefined],
    ];
    for (const [v, ms] of cases) assert.equal(parseGrpcTimeout(v), ms, v);
    assert.equal(formatGrpcTimeout(1500), "1500m");
    assert.equal(parseGrpcTimeout(formatGrpcTimeout(3e9)) !== undefined, true);
  });
});
