import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ErrorCode, Flag } from "../../src/dataplane/relay/frames.js";
import { malformedRequests } from "../helpers/attacker.js";
import { closeAll, TESTER_SERVICE, testerClient, unary } from "../helpers/index.js";
import {
  Attacker,
  type AttackGateway,
  FrameType,
  frame,
  GoodClient,
  type RawBackend,
  startAttackGateway,
  startRawBackend,
} from "./support.js";

const PATH = `/${TESTER_SERVICE}/Unary`;
const BASE = [":method", "POST", ":scheme", "http", ":path", PATH, ":authority", "x"];
const GRPC = ["content-type", "application/grpc", "te", "trailers"];

/** Malformed requests (RFC 9113 sections 8.2 and 8.3): each must get RST_STREAM(PROTOCOL_ERROR) and never reach the backend. */
const requests = malformedRequests(PATH);

describe("attack: malformed requests are reset, never forwarded", { timeout: 60_000 }, () => {
  let backend: RawBackend;
  let gw: AttackGateway;
  before(async () => {
    backend = await startRawBackend();
    gw = await startAttackGateway(backend.address);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  it("each variant gets RST_STREAM PROTOCOL_ERROR on its stream; the connection and the good client live on", async () => {
    const good = new GoodClient(gw.target);
    const a = await Attacker.open(gw.port);
    let id = 1;
    const ids = new Map<string, number>();
    for (const r of requests) {
      ids.set(r.name, id);
      const marked = [...r.fields, "x-case", r.name.replace(/[^a-z]/g, "-")];
      await a.send(
        Buffer.concat([
          frame(FrameType.HEADERS, Flag.END_HEADERS, id, a.enc.encode(marked)),
          frame(FrameType.DATA, Flag.END_STREAM, id, r.data ?? Buffer.alloc(5)),
        ]),
      );
      id += 2;
    }
    // A well-formed request after them: once it is answered, the backend has seen whatever came before.
    const last = id;
    await a.send(
      Buffer.concat([
        frame(
          FrameType.HEADERS,
          Flag.END_HEADERS,
          last,
          a.enc.encode([...BASE, ...GRPC, "x-case", "sentinel"]),
        ),
        frame(FrameType.DATA, Flag.END_STREAM, last, Buffer.alloc(5)),
      ]),
    );
    await a.until(
      () => a.headerBlocks(last).some((h) => h.includes("grpc-status")),
      "the well-formed request's answer",
    );
    await good.more(3, "after the malformed requests");
    const seen = await good.stop();
    const wrong: string[] = [];
    for (const r of requests) {
      const code = a.resetCode(ids.get(r.name)!);
      const reached = backend.find("x-case", r.name.replace(/[^a-z]/g, "-"));
      if (code !== ErrorCode.PROTOCOL_ERROR)
        wrong.push(`${r.name}: RST_STREAM ${code} instead of PROTOCOL_ERROR`);
      if (reached?.ended) wrong.push(`${r.name}: reached the backend whole`);
      else if (reached !== undefined && r.data === undefined)
        wrong.push(`${r.name}: its headers reached the backend`);
    }
    assert.deepEqual(wrong, []);
    assert.equal(a.goawayCode(), undefined);
    assert.deepEqual(seen.failures, []);
    a.destroy();
  });

  it("request trailers with a pseudo-header are malformed", async () => {
    const a = await Attacker.open(gw.port);
    await a.send(
      Buffer.concat([
        frame(FrameType.HEADERS, Flag.END_HEADERS, 1, a.enc.encode([...BASE, ...GRPC])),
        frame(FrameType.DATA, 0, 1, Buffer.alloc(5)),
        frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, a.enc.encode([":path", "/x"])),
      ]),
    );
    await a.until(() => a.resetCode(1) !== undefined, "RST_STREAM on stream 1", 5000);
    assert.equal(a.resetCode(1), ErrorCode.PROTOCOL_ERROR);
    a.destroy();
  });
});

/** Malformed responses: the client gets a gRPC error saying so, never the malformed fields. */
const responses: { name: string; headers?: string[]; trailers?: string[] }[] = [
  { name: "uppercase", headers: [":status", "200", "content-type", "application/grpc", "X-Upper", "1"] },
  {
    name: "connection",
    headers: [":status", "200", "content-type", "application/grpc", "connection", "close"],
  },
  { name: "request-pseudo", headers: [":status", "200", ":path", "/x", "content-type", "application/grpc"] },
  { name: "no-status", headers: ["content-type", "application/grpc"] },
  { name: "two-status", headers: [":status", "200", ":status", "200", "content-type", "application/grpc"] },
  { name: "late-pseudo", headers: ["content-type", "application/grpc", ":status", "200"] },
  { name: "bad-value", headers: [":status", "200", "content-type", "application/grpc", "x-v", " padded"] },
  { name: "trailer-pseudo", trailers: ["grpc-status", "0", ":status", "200"] },
  { name: "trailer-uppercase", trailers: ["grpc-status", "0", "X-Upper", "1"] },
];

describe("malformed responses from a backend", { timeout: 60_000 }, () => {
  let backend: RawBackend;
  let gw: AttackGateway;
  before(async () => {
    backend = await startRawBackend((fields) => {
      const i = fields.indexOf("x-respond");
      if (i < 0) return undefined;
      return responses.find((r) => r.name === fields[i + 1]);
    });
    gw = await startAttackGateway(backend.address);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  for (const r of responses) {
    it(`${r.name}: INTERNAL or UNAVAILABLE with a message, without the malformed fields`, async () => {
      const client = testerClient(gw.target);
      const res = await unary(client, "Unary", {}, { metadata: { "x-respond": r.name }, timeoutMs: 10_000 });
      closeAll(client);
      assert.ok(res.code === 13 || res.code === 14, `code ${res.code}: ${res.details}`);
      assert.match(res.details, /malformed/);
      const got = { ...res.headers, ...res.trailers };
      for (const k of Object.keys(got))
        assert.ok(!/[A-Z]/.test(k) && k !== "connection" && k !== "x-v", `forwarded ${k}`);
    });
  }
});
