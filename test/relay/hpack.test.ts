import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HpackDecoder, HpackEncoder, HpackError, writeInt } from "../../src/dataplane/relay/hpack.js";
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from "../../src/dataplane/relay/huffman.js";

/** RFC 7541 Appendix C: each group shares one decoder; `size` is the dynamic table size after the block. */
const VECTORS: {
  group: string;
  tableSize: number;
  blocks: { hex: string; size: number; fields: string[] }[];
}[] = [
  {
    group: "C.2.1 literal with indexing",
    tableSize: 4096,
    blocks: [
      {
        hex: "400a637573746f6d2d6b65790d637573746f6d2d686561646572",
        size: 55,
        fields: ["custom-key", "custom-header"],
      },
    ],
  },
  {
    group: "C.2.2 literal without indexing",
    tableSize: 4096,
    blocks: [{ hex: "040c2f73616d706c652f70617468", size: 0, fields: [":path", "/sample/path"] }],
  },
  {
    group: "C.2.3 literal never indexed",
    tableSize: 4096,
    blocks: [{ hex: "100870617373776f726406736563726574", size: 0, fields: ["password", "secret"] }],
  },
  { group: "C.2.4 indexed", tableSize: 4096, blocks: [{ hex: "82", size: 0, fields: [":method", "GET"] }] },
  {
    group: "C.3 requests without Huffman",
    tableSize: 4096,
    blocks: [
      {
        hex: "828684410f7777772e6578616d706c652e636f6d",
        size: 57,
        fields: [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "www.example.com"],
      },
      {
        hex: "828684be58086e6f2d6361636865",
        size: 110,
        fields: [
          ":method",
          "GET",
          ":scheme",
          "http",
          ":path",
          "/",
          ":authority",
          "www.example.com",
          "cache-control",
          "no-cache",
        ],
      },
      {
        hex: "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
        size: 164,
        fields: [
          ":method",
          "GET",
          ":scheme",
          "https",
          ":path",
          "/index.html",
          ":authority",
          "www.example.com",
          "custom-key",
          "custom-value",
        ],
      },
    ],
  },
  {
    group: "C.4 requests with Huffman",
    tableSize: 4096,
    blocks: [
      {
        hex: "828684418cf1e3c2e5f23a6ba0ab90f4ff",
        size: 57,
        fields: [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "www.example.com"],
      },
      {
        hex: "828684be5886a8eb10649cbf",
        size: 110,
        fields: [
          ":method",
          "GET",
          ":scheme",
          "http",
          ":path",
          "/",
          ":authority",
          "www.example.com",
          "cache-control",
          "no-cache",
        ],
      },
      {
        hex: "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
        size: 164,
        fields: [
          ":method",
          "GET",
          ":scheme",
          "https",
          ":path",
          "/index.html",
          ":authority",
          "www.example.com",
          "custom-key",
          "custom-value",
        ],
      },
    ],
  },
  {
    group: "C.5 responses without Huffman, table size 256 (evictions)",
    tableSize: 256,
    blocks: [
      {
        hex: "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
        size: 222,
        fields: RESPONSE_1(),
      },
      { hex: "4803333037c1c0bf", size: 222, fields: RESPONSE_2() },
      {
        hex: "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
        size: 215,
        fields: RESPONSE_3(),
      },
    ],
  },
  {
    group: "C.6 responses with Huffman, table size 256 (evictions)",
    tableSize: 256,
    blocks: [
      {
        hex: "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
        size: 222,
        fields: RESPONSE_1(),
      },
      { hex: "4883640effc1c0bf", size: 222, fields: RESPONSE_2() },
      {
        hex: "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
        size: 215,
        fields: RESPONSE_3(),
      },
    ],
  },
];

function RESPONSE_1(): string[] {
  return [
    ":status",
    "302",
    "cache-control",
    "private",
    "date",
    "Mon, 21 Oct 2013 20:13:21 GMT",
    "location",
    "https://www.example.com",
  ];
}
function RESPONSE_2(): string[] {
  const r = RESPONSE_1();
  r[1] = "307";
  return r;
}
function RESPONSE_3(): string[] {
  return [
    ":status",
    "200",
    "cache-control",
    "private",
    "date",
    "Mon, 21 Oct 2013 20:13:22 GMT",
    "location",
    "https://www.example.com",
    "content-encoding",
    "gzip",
    "set-cookie",
    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
  ];
}

describe("HPACK decoder: RFC 7541 Appendix C", () => {
  for (const v of VECTORS) {
    it(v.group, () => {
      const dec = new HpackDecoder(v.tableSize);
      for (const b of v.blocks) {
        const buf = Buffer.from(b.hex, "hex");
        const got = dec.decode(buf, 0, buf.length);
        assert.deepEqual(got.fields, b.fields);
        assert.equal(dec.tableSize, b.size);
      }
    });
  }
});

describe("HPACK integers: RFC 7541 C.1", () => {
  const cases = [
    { value: 10, prefix: 5, hex: "0a" },
    { value: 1337, prefix: 5, hex: "1f9a0a" },
    { value: 42, prefix: 8, hex: "2a" },
  ];
  for (const c of cases) {
    it(`${c.value} with a ${c.prefix}-bit prefix`, () => {
      const b = Buffer.alloc(8);
      const n = writeInt(b, 0, c.prefix, 0, c.value);
      assert.equal(b.subarray(0, n).toString("hex"), c.hex);
    });
  }
});

describe("Huffman", () => {
  const strings = ["www.example.com", "no-cache", "custom-key", "", "application/grpc", "\x00\xff\x7f~ }"];
  for (const s of strings) {
    it(`round-trips ${JSON.stringify(s)}`, () => {
      const n = huffmanEncodedLength(s);
      const b = Buffer.alloc(n);
      assert.equal(huffmanEncode(s, b, 0), n);
      assert.equal(huffmanDecode(b, 0, n), s);
    });
  }
  it("round-trips every byte value", () => {
    let s = "";
    for (let i = 0; i < 256; i++) s += String.fromCharCode(i);
    const b = Buffer.alloc(huffmanEncodedLength(s));
    huffmanEncode(s, b, 0);
    assert.equal(huffmanDecode(b, 0, b.length), s);
  });
  it("encodes www.example.com as in RFC 7541 C.4.1", () => {
    const b = Buffer.alloc(huffmanEncodedLength("www.example.com"));
    huffmanEncode("www.example.com", b, 0);
    assert.equal(b.toString("hex"), "f1e3c2e5f23a6ba0ab90f4ff");
  });
  const invalid = [
    { name: "padding longer than 7 bits", hex: "ffff" },
    { name: "EOS inside the string", hex: "ffffffff" },
    { name: "padding not all ones", hex: "00" /* '0' (00000) then 000 padding */ },
  ];
  for (const c of invalid) {
    it(`rejects ${c.name}`, () => {
      const b = Buffer.from(c.hex, "hex");
      assert.equal(huffmanDecode(b, 0, b.length), undefined);
    });
  }
});

describe("HPACK decoder: malformed blocks", () => {
  const cases = [
    { name: "index 0", hex: "80" },
    { name: "index beyond the tables", hex: "ff00" },
    { name: "truncated integer", hex: "ff" },
    { name: "string longer than the block", hex: "400a6162" },
    { name: "invalid Huffman", hex: "4081ff0161" },
    { name: "table size update above the limit", hex: "3fe21f" },
    { name: "table size update after a field", hex: "8220" },
    { name: "integer too large", hex: "7fffffffffff7f" },
  ];
  for (const c of cases) {
    it(`throws HpackError for ${c.name}`, () => {
      const b = Buffer.from(c.hex, "hex");
      assert.throws(() => new HpackDecoder().decode(b, 0, b.length), HpackError);
    });
  }
  it("flags a header list above maxHeaderListSize but keeps the table in step", () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder(4096, 100);
    const big = enc.encode(["x-a", "a".repeat(80)]);
    const r = dec.decode(big, 0, big.length);
    assert.equal(r.oversized, true);
    assert.deepEqual(r.fields, []);
    const next = enc.encode(["x-a", "a".repeat(80)].slice(0, 2));
    const r2 = dec.decode(next, 0, next.length);
    assert.equal(r2.oversized, true);
    const small = enc.encode(["x-b", "b"]);
    assert.deepEqual(dec.decode(small, 0, small.length).fields, ["x-b", "b"]);
  });
});

describe("HPACK encoder", () => {
  it("round-trips through the decoder, and indexes repeated fields", () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder();
    const req = [
      ":method",
      "POST",
      ":scheme",
      "http",
      ":path",
      "/helloworld.Greeter/SayHello",
      ":authority",
      "localhost:50051",
      "content-type",
      "application/grpc",
      "te",
      "trailers",
      "grpc-timeout",
      "99m",
    ];
    const first = enc.encode(req);
    assert.deepEqual(dec.decode(first, 0, first.length).fields, req);
    const second = enc.encode(req);
    assert.deepEqual(dec.decode(second, 0, second.length).fields, req);
    assert.ok(
      second.length * 3 < first.length,
      `second block is ${second.length} bytes, first ${first.length}`,
    );
  });
  it("remembers lists it encoded, and never reuses bytes after the table changed", () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder(4096);
    const headers = (date: string) => [":status", "200", "content-type", "application/grpc", "date", date];
    const trailers = ["grpc-status", "0", "grpc-message", "ok"];
    let previous: Buffer | undefined;
    for (let i = 0; i < 400; i++) {
      if (i === 300) enc.setMaxTableSize(100);
      // A new date every 10 lists (a table insertion), a few long-lived lists in between.
      const lists = [headers(`d-${Math.floor(i / 10)}`), trailers, [`x-${i % 5}`, "v"]];
      for (const fields of lists) {
        const b = enc.encode(fields);
        assert.deepEqual(dec.decode(b, 0, b.length).fields, fields, `list ${i}`);
      }
      const again = enc.encode(lists[1]!);
      assert.deepEqual(dec.decode(again, 0, again.length).fields, trailers);
      // Between date changes (and once the x- entries are in) nothing is inserted: the same bytes.
      if (previous !== undefined && i >= 5 && i < 300 && i % 10 !== 0)
        assert.ok(again.equals(previous), `list ${i}`);
      previous = again;
    }
  });

  it("sends a table size update once, not again with a remembered list", () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder(4096);
    const fields = [":status", "200", "grpc-status", "0"];
    const blocks = [enc.encode(fields)];
    enc.setMaxTableSize(1024);
    blocks.push(enc.encode(fields), enc.encode(fields));
    const isSizeUpdate = (b: Buffer | undefined) => ((b?.[0] ?? 0) & 0xe0) === 0x20;
    assert.equal(isSizeUpdate(blocks[1]), true, "the block after SETTINGS starts with the update");
    assert.equal(isSizeUpdate(blocks[2]), false, "the next one does not");
    for (const b of blocks) assert.deepEqual(dec.decode(b, 0, b.length).fields, fields);
  });

  // RFC 7541 section 4.2: a table lowered and raised again between two blocks is signalled with the smallest
  // size first; nghttp2 (node:http2, nghttpd) refuses a first update above it with COMPRESSION_ERROR.
  const lowered = [
    { name: "0 then 4096", settings: [0, 4096], updates: [0, 4096] },
    { name: "3855 then 4096", settings: [3855, 4096], updates: [3855, 4096] },
    { name: "100, 50, then 200", settings: [100, 50, 200], updates: [50, 200] },
    { name: "1000 then 100", settings: [1000, 100], updates: [100] },
    { name: "lowered then back to the size in use", settings: [100, 4096, 4096], updates: [100, 4096] },
  ];
  for (const c of lowered) {
    it(`signals the smallest table size first when it was lowered and raised between blocks (${c.name})`, () => {
      const enc = new HpackEncoder();
      for (const v of c.settings) enc.setMaxTableSize(v);
      const b = enc.encode([":status", "200"]);
      const updates: number[] = [];
      let p = 0;
      while (p < b.length && (b[p]! & 0xe0) === 0x20) {
        // Each update here is one byte or the 5-bit prefix plus continuation bytes.
        let v = b[p]! & 0x1f;
        p++;
        if (v === 0x1f) {
          let m = 0;
          for (;;) {
            const x = b[p++]!;
            v += (x & 0x7f) * 2 ** m;
            m += 7;
            if ((x & 0x80) === 0) break;
          }
        }
        updates.push(v);
      }
      assert.deepEqual(updates, c.updates, `block ${b.toString("hex")}`);
      assert.deepEqual(new HpackDecoder(4096).decode(b, 0, b.length).fields, [":status", "200"]);
    });
  }

  it("stays in step with the decoder across evictions and a smaller table", () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder(4096);
    for (let i = 0; i < 300; i++) {
      if (i === 150) enc.setMaxTableSize(200);
      const fields = [`x-key-${i % 37}`, `value-${i % 53}-${"z".repeat(i % 40)}`, "x-fixed", "same"];
      const b = enc.encode(fields);
      assert.deepEqual(dec.decode(b, 0, b.length).fields, fields);
    }
  });
});
