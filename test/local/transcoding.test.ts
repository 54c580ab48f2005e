import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import type { IrRoute } from "../../src/ir/routing-table.js";
import {
  backend,
  cluster,
  forward,
  listener,
  route,
  startGateway,
  type TestGateway,
  table,
  within,
} from "../helpers/index.js";
import { LIBRARY_SERVICE, type LibraryBackend, startLibraryBackend } from "../helpers/library-backend.js";

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

interface Req {
  method: string;
  path: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  authority?: string;
}

/** One request over HTTP/2 (node:http2), on a shared session. */
function h2(session: http2.ClientHttp2Session, r: Req): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ":method": r.method,
      ":path": r.path,
      ":authority": r.authority ?? "library.example.com",
      ...(r.body !== undefined ? { "content-type": "application/json" } : {}),
      ...r.headers,
    });
    let status = 0;
    let contentType = "";
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      status = Number(h[":status"]);
      contentType = String(h["content-type"] ?? "");
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve({ status, contentType, text: Buffer.concat(chunks).toString("utf8") }));
    req.on("error", reject);
    req.end(r.body);
  });
}

/** One request over HTTP/1.1 with fetch (the gateway picks the listener by Host). */
/** One request over HTTP/1.1 (node:http: `fetch` may not set the Host header the listeners are chosen by). */
function viaHttp1(target: string, r: Req): Promise<Answer> {
  const [hostname, port] = target.split(":");
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        hostname,
        port: Number(port),
        method: r.method,
        path: r.path,
        headers: {
          host: r.authority ?? "library.example.com",
          ...(r.body !== undefined ? { "content-type": "application/json" } : {}),
          ...r.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers["content-type"] ?? ""),
            text: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(r.body);
  });
}

interface Case {
  name: string;
  req: Req;
  status: number;
  /** The JSON answer (deep equal), or each NDJSON line. */
  json?: unknown;
  lines?: unknown[];
  /** A substring of the answer's message. */
  message?: RegExp;
}

const book = (shelf: string, id: string, extra: Record<string, unknown> = {}) => ({
  shelf,
  bookId: id,
  displayTitle: `Book ${id} of ${shelf}`,
  created: "2023-11-14T22:13:20Z",
  ...extra,
});

const cases: Case[] = [
  {
    name: "POST /Service/Method with a JSON body",
    req: { method: "POST", path: `/${LIBRARY_SERVICE}/GetBook`, body: '{"shelf":"s1","bookId":"7"}' },
    status: 200,
    json: book("s1", "7"),
  },
  {
    name: "proto field names are accepted too",
    req: { method: "POST", path: `/${LIBRARY_SERVICE}/GetBook`, body: '{"shelf":"s1","book_id":8}' },
    status: 200,
    json: book("s1", "8"),
  },
  {
    name: "google.api.http GET with path variables and a query parameter",
    req: { method: "GET", path: "/v1/shelves/s2/books/9?hardcover=true" },
    status: 200,
    json: book("s2", "9", { hardcover: true }),
  },
  {
    name: "google.api.http POST with body: book",
    req: { method: "POST", path: "/v1/shelves/s3/books", body: '{"bookId":"5","displayTitle":"Dune"}' },
    status: 200,
    json: { ...book("s3", "5"), displayTitle: "Dune" },
  },
  {
    name: "server streaming as NDJSON",
    req: { method: "GET", path: "/v1/shelves/s4/books?count=3" },
    status: 200,
    lines: [book("s4", "1"), book("s4", "2"), book("s4", "3")],
  },
  {
    name: "a server stream that fails after two messages ends with an error line",
    req: { method: "GET", path: "/v1/shelves/s5/books?count=2&failCode=9" },
    status: 200,
    lines: [
      book("s5", "1"),
      book("s5", "2"),
      { error: { code: 9, message: "the shelf gave way", details: [] } },
    ],
  },
  ...(
    [
      [3, 400],
      [5, 404],
      [7, 403],
      [8, 429],
      [14, 503],
      [16, 401],
    ] as const
  ).map(
    ([code, status]): Case => ({
      name: `gRPC code ${code} is HTTP ${status}`,
      req: {
        method: "POST",
        path: `/${LIBRARY_SERVICE}/Fail`,
        body: `{"code":${code},"message":"failed ${code}"}`,
      },
      status,
      json: { code, message: `failed ${code}`, details: [] },
    }),
  ),
  {
    name: "a path no method is bound to",
    req: { method: "GET", path: "/v1/nothing/here" },
    status: 404,
    message: /no method with transcoding enabled is bound to GET \/v1\/nothing\/here/,
  },
  {
    name: "a body that is not JSON",
    req: { method: "POST", path: `/${LIBRARY_SERVICE}/GetBook`, body: "{not json" },
    status: 400,
    message: /not JSON/,
  },
  {
    name: "a field the request type does not have",
    req: { method: "POST", path: `/${LIBRARY_SERVICE}/GetBook`, body: '{"shelf":"s","colour":"red"}' },
    status: 400,
    message: /colour/,
  },
  {
    name: "a backend without reflection: 501 saying why",
    req: { method: "POST", path: `/${LIBRARY_SERVICE}/GetBook`, body: "{}", authority: "bare.example.com" },
    status: 501,
    message: /reflection/,
  },
];

describe("JSON transcoding", { timeout: 60_000 }, () => {
  let lib: LibraryBackend;
  let bare: LibraryBackend;
  let gw: TestGateway;
  let session: http2.ClientHttp2Session;

  before(async () => {
    lib = await startLibraryBackend();
    bare = await startLibraryBackend({ reflection: false });
    const cl = cluster("library", [lib.port]);
    const cb = cluster("bare", [bare.port]);
    const transcoding = (r: IrRoute): IrRoute => ({
      ...r,
      policy: { transcoding: { enabled: true, source: "TrafficPolicy default/json" } },
    });
    const svc = { method: { type: "Exact" as const, service: LIBRARY_SERVICE } };
    gw = await startGateway(
      table(
        [
          listener("lib", 8080, [transcoding(route("lib", svc, forward([backend(cl)])))], {
            hostname: "library.example.com",
          }),
          listener("bare", 8080, [transcoding(route("bare", svc, forward([backend(cb)])))], {
            hostname: "bare.example.com",
          }),
          listener("off", 8080, [route("off", svc, forward([backend(cl)]))], { hostname: "off.example.com" }),
          listener("any", 8081, [transcoding(route("any", svc, forward([backend(cl)])))]),
        ],
        [cl, cb],
      ),
    );
    session = http2.connect(`http://${gw.target(8080)}`);
  });

  after(async () => {
    session?.close();
    await gw?.close();
    await Promise.all([lib?.close(), bare?.close()]);
  });

  const check = (c: Case, a: Answer): void => {
    assert.equal(a.status, c.status, `${c.name}: ${a.text}`);
    if (c.lines !== undefined) {
      assert.match(a.contentType, /application\/x-ndjson/);
      const got = a.text
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as unknown);
      assert.deepEqual(got, c.lines);
      return;
    }
    assert.match(a.contentType, /application\/json/);
    const body = JSON.parse(a.text) as { message?: string };
    if (c.json !== undefined) assert.deepEqual(body, c.json);
    if (c.message !== undefined) assert.match(body.message ?? "", c.message);
  };

  for (const c of cases) {
    it(`HTTP/2: ${c.name}`, async () => {
      check(c, await within(h2(session, c.req), `the answer to ${c.req.method} ${c.req.path}`));
    });
  }

  for (const c of cases) {
    it(`HTTP/1.1: ${c.name}`, async () => {
      check(c, await within(viaHttp1(gw.target(8080), c.req), `the answer to ${c.req.method} ${c.req.path}`));
    });
  }

  it("fetch (HTTP/1.1) on a listener for any host: a JSON POST and a google.api.http GET", async () => {
    const post = await within(
      fetch(`http://${gw.target(8081)}/${LIBRARY_SERVICE}/GetBook`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"shelf":"s1","bookId":"7"}',
      }),
      "fetch's POST answer",
    );
    assert.equal(post.status, 200);
    assert.match(post.headers.get("content-type") ?? "", /application\/json/);
    assert.deepEqual(await post.json(), book("s1", "7"));
    const get = await within(fetch(`http://${gw.target(8081)}/v1/shelves/s2/books/9`), "fetch's GET answer");
    assert.equal(get.status, 200);
    assert.deepEqual(await get.json(), book("s2", "9"));
  });

  it("passes request headers on as metadata", async () => {
    const before = lib.metadata.length;
    const a = await h2(session, {
      method: "GET",
      path: "/v1/shelves/m/books/1",
      headers: { "x-user": "alice", authorization: "Bearer t" },
    });
    assert.equal(a.status, 200, a.text);
    const md = lib.metadata.slice(before).at(-1);
    assert.equal(md?.["x-user"], "alice");
    assert.equal(md?.authorization, "Bearer t");
  });

  it("leaves JSON requests alone where no policy enables transcoding", async () => {
    const a = await h2(session, {
      method: "POST",
      path: `/${LIBRARY_SERVICE}/GetBook`,
      body: "{}",
      authority: "off.example.com",
    });
    // Relayed as they are: the grpc-js backend answers a gRPC error, not JSON.
    assert.doesNotMatch(a.contentType, /json/, a.text);
  });

  it("refuses a body above the limit (4 MiB) next to a well-behaved request", async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const [attack, good] = await within(
      Promise.all([
        h2(session, { method: "POST", path: `/${LIBRARY_SERVICE}/GetBook`, body: big }),
        h2(session, {
          method: "POST",
          path: `/${LIBRARY_SERVICE}/GetBook`,
          body: '{"shelf":"ok","bookId":"1"}',
        }),
      ]),
      "the answers to an oversized and a normal request",
    );
    assert.equal(attack.status, 413, attack.text);
    assert.match(JSON.parse(attack.text).message, /exceeds 4194304 bytes \(serve --transcoding-body-limit\)/);
    assert.equal(good.status, 200, good.text);
    assert.deepEqual(JSON.parse(good.text), book("ok", "1"));
  });
});
