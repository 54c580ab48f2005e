import assert from "node:assert/strict";
import type { IncomingHttpHeaders } from "node:http2";
import { describe, it } from "node:test";
import {
  applyHeaderModifier,
  downstreamResponseHeaders,
  forwardTrailers,
  upstreamRequestHeaders,
} from "./headers.js";

describe("proxy headers", () => {
  it("forwards request headers without hop-by-hop ones and keeps te: trailers", () => {
    const out = upstreamRequestHeaders(
      {
        ":method": "POST",
        ":path": "/a/b",
        ":authority": "x",
        ":scheme": "http",
        te: "trailers",
        "content-type": "application/grpc",
        connection: "keep-alive",
        "keep-alive": "timeout=5",
        "transfer-encoding": "chunked",
        upgrade: "h2c",
        host: "x",
        "x-custom": ["1", "2"],
        "grpc-timeout": "1S",
      },
      "POST",
      "/a/b",
      "x",
      true,
    );
    assert.deepEqual(out, {
      ":method": "POST",
      ":scheme": "https",
      ":path": "/a/b",
      ":authority": "x",
      te: "trailers",
      "content-type": "application/grpc",
      "x-custom": ["1", "2"],
      "grpc-timeout": "1S",
    });
    assert.equal(upstreamRequestHeaders({ te: "gzip" }, "POST", "/a/b", "x", false).te, undefined);
  });

  it("forwards response headers and trailers without pseudo or hop-by-hop headers", () => {
    assert.deepEqual(
      downstreamResponseHeaders({
        ":status": 200,
        "content-type": "application/grpc",
        connection: "close",
      } as unknown as IncomingHttpHeaders),
      {
        ":status": 200,
        "content-type": "application/grpc",
      },
    );
    assert.deepEqual(forwardTrailers({ "grpc-status": "0", "x-t": "1", connection: "close" }), {
      "grpc-status": "0",
      "x-t": "1",
    });
  });

  it("applies set, add and remove, names without regard to case, never touching pseudo-headers", () => {
    const cases: {
      name: string;
      before: Record<string, string | string[]>;
      want: Record<string, string | string[]>;
    }[] = [
      { name: "set replaces", before: { "x-a": "old" }, want: { "x-a": "new", "x-b": "b" } },
      { name: "add appends", before: { "x-b": "first" }, want: { "x-a": "new", "x-b": ["first", "b"] } },
      { name: "remove deletes", before: { "x-gone": "1" }, want: { "x-a": "new", "x-b": "b" } },
    ];
    for (const c of cases) {
      const h: Record<string, string | string[]> = { ":path": "/a/b", ...c.before };
      applyHeaderModifier(h, {
        set: [
          { name: "X-A", value: "new" },
          { name: ":path", value: "/evil/x" },
        ],
        add: [{ name: "X-B", value: "b" }],
        remove: ["X-Gone", "connection"],
      });
      assert.deepEqual(h, { ":path": "/a/b", ...c.want }, c.name);
    }
  });
});
