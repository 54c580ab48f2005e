/**
 * A small gRPC-Web client for tests: protobuf of the test messages by hand (a few fields), gRPC-Web frames,
 * text-mode base64, and calls over `fetch` (undici: HTTP/1.1), `node:http` (chunked request bodies) and
 * `node:http2`.
 * @internal test-only
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import { within } from "./wait.js";

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** A protobuf message from fields: numbers as varints, strings and buffers length-delimited. */
export function pb(fields: [number, number | string | Buffer][]): Buffer {
  const parts: Buffer[] = [];
  for (const [no, v] of fields) {
    if (typeof v === "number") parts.push(Buffer.from([...varint(no << 3), ...varint(v)]));
    else {
      const b = typeof v === "string" ? Buffer.from(v) : v;
      parts.push(Buffer.from([...varint((no << 3) | 2), ...varint(b.length)]), b);
    }
  }
  return Buffer.concat(parts);
}

/** The fields of a protobuf message: varints as numbers, length-delimited ones as buffers. */
export function unpb(b: Buffer): Map<number, (number | Buffer)[]> {
  const out = new Map<number, (number | Buffer)[]>();
  let i = 0;
  const read = (): number => {
    let n = 0;
    let shift = 0;
    for (;;) {
      const c = b[i++]!;
      n += (c & 0x7f) * 2 ** shift;
      shift += 7;
      if (c < 0x80) return n;
    }
  };
  while (i < b.length) {
    const key = read();
    const no = key >>> 3;
    let v: number | Buffer;
    if ((key & 7) === 0) v = read();
    else {
      const len = read();
      v = b.subarray(i, i + len);
      i += len;
    }
    const list = out.get(no) ?? [];
    list.push(v);
    out.set(no, list);
  }
  return out;
}

/** A gRPC-Web (and gRPC) message frame. */
export function frame(msg: Buffer, flag = 0): Buffer {
  const h = Buffer.alloc(5);
  h[0] = flag;
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}

/** helloworld.HelloRequest{name}, framed. */
export function helloRequest(name: string): Buffer {
  return frame(pb([[1, name]]));
}

/** A gRPC-Web response body: its messages and its trailers (from the 0x80 frame). */
export interface WebBody {
  messages: Buffer[];
  trailers: Record<string, string>;
  /** Frames with the trailer flag seen. */
  trailerFrames: number;
}

/** Decodes a text-mode body: base64 quanta, padding allowed at the end of any of them. */
export function decodeText(s: string): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < s.length; i += 4) parts.push(Buffer.from(s.slice(i, i + 4), "base64"));
  return Buffer.concat(parts);
}

export function parseBody(raw: Buffer, text: boolean): WebBody {
  const b = text ? decodeText(raw.toString("latin1")) : raw;
  const out: WebBody = { messages: [], trailers: {}, trailerFrames: 0 };
  let i = 0;
  while (i + 5 <= b.length) {
    const flag = b[i]!;
    const len = b.readUInt32BE(i + 1);
    const body = b.subarray(i + 5, i + 5 + len);
    i += 5 + len;
    if (flag & 0x80) {
      out.trailerFrames++;
      for (const line of body.toString("latin1").split("\r\n")) {
        const at = line.indexOf(":");
        if (at > 0) out.trailers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
    } else out.messages.push(body);
  }
  if (i !== b.length) throw new Error(`gRPC-Web body has ${b.length - i} trailing bytes`);
  return out;
}

export interface WebResponse {
  status: number;
  headers: Record<string, string>;
  body: WebBody;
  raw: Buffer;
}

export interface WebCallOptions {
  text?: boolean;
  headers?: Record<string, string>;
  /** Body pieces written one at a time (HTTP/1.1 chunked via node:http, or HTTP/2 DATA frames). */
  pieces?: Buffer[];
}

function contentType(text: boolean | undefined): string {
  return text ? "application/grpc-web-text+proto" : "application/grpc-web+proto";
}

function encode(msg: Buffer, text: boolean | undefined): Buffer {
  return text ? Buffer.from(msg.toString("base64")) : msg;
}

function parse(status: number, headers: Record<string, string>, raw: Buffer, text: boolean): WebResponse {
  const ct = headers["content-type"] ?? "";
  const body = ct.startsWith("application/grpc-web")
    ? parseBody(raw, text)
    : { messages: [], trailers: {}, trailerFrames: 0 };
  return { status, headers, body, raw };
}

/** A gRPC-Web call with `fetch` (undici speaks HTTP/1.1). */
export async function webFetch(
  target: string,
  path: string,
  msg: Buffer,
  o: WebCallOptions = {},
): Promise<WebResponse> {
  const res = await fetch(`http://${target}${path}`, {
    method: "POST",
    headers: { "content-type": contentType(o.text), "x-grpc-web": "1", ...o.headers },
    body: encode(msg, o.text),
    signal: AbortSignal.timeout(15_000),
  });
  const raw = Buffer.from(await res.arrayBuffer());
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    headers[k] = v;
  });
  return parse(res.status, headers, raw, o.text === true);
}

/** Any HTTP/1.1 request with node:http (or node:https with `ca`), body written in `pieces`. */
export function http1Request(
  target: string,
  opts: { method?: string; path: string; headers?: Record<string, string>; pieces?: Buffer[]; ca?: string },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; raw: Buffer; alpn?: string }> {
  const [host, port] = target.split(":");
  const p = new Promise<{ status: number; headers: http.IncomingHttpHeaders; raw: Buffer; alpn?: string }>(
    (resolve, reject) => {
      const mod = opts.ca !== undefined ? https : http;
      const req = mod.request(
        {
          host,
          port: Number(port),
          method: opts.method ?? "POST",
          path: opts.path,
          headers: opts.headers,
          agent: false,
          ...(opts.ca !== undefined
            ? { ca: opts.ca, servername: "localhost", ALPNProtocols: ["http/1.1"] }
            : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const alpn = (res.socket as { alpnProtocol?: string | false }).alpnProtocol;
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              raw: Buffer.concat(chunks),
              ...(typeof alpn === "string" ? { alpn } : {}),
            });
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      const pieces = opts.pieces ?? [];
      let i = 0;
      // One piece per turn, so each goes out as its own chunk.
      const next = (): void => {
        if (i >= pieces.length) {
          req.end();
          return;
        }
        req.write(pieces[i++]!);
        setImmediate(next);
      };
      next();
    },
  );
  return within(p, `an HTTP/1.1 answer to ${opts.method ?? "POST"} ${opts.path}`);
}

/** A gRPC-Web call over HTTP/1.1 with node:http (chunked body in `pieces`, or TLS with `ca`). */
export async function webHttp1(
  target: string,
  path: string,
  msg: Buffer,
  o: WebCallOptions & { ca?: string } = {},
): Promise<WebResponse & { alpn?: string }> {
  const body = encode(msg, o.text);
  const r = await http1Request(target, {
    path,
    headers: { "content-type": contentType(o.text), ...o.headers },
    pieces: o.pieces ?? [body],
    ...(o.ca !== undefined ? { ca: o.ca } : {}),
  });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) if (typeof v === "string") headers[k] = v;
  return {
    ...parse(r.status, headers, r.raw, o.text === true),
    ...(r.alpn !== undefined ? { alpn: r.alpn } : {}),
  };
}

/** A request over HTTP/2 with node:http2 (cleartext, or TLS with `ca`); body in `pieces`. */
export function h2Request(
  target: string,
  headers: Record<string, string>,
  pieces: Buffer[],
  ca?: string,
): Promise<{ status: number; headers: Record<string, string>; raw: Buffer; alpn?: string }> {
  const url = ca !== undefined ? `https://${target}` : `http://${target}`;
  const p = new Promise<{ status: number; headers: Record<string, string>; raw: Buffer; alpn?: string }>(
    (resolve, reject) => {
      const session = http2.connect(url, ca !== undefined ? { ca, servername: "localhost" } : {});
      session.on("error", reject);
      const req = session.request(headers);
      const chunks: Buffer[] = [];
      let status = 0;
      const got: Record<string, string> = {};
      req.on("response", (h) => {
        status = Number(h[":status"]);
        for (const [k, v] of Object.entries(h)) if (typeof v === "string") got[k] = v;
      });
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const alpn = session.alpnProtocol;
        session.close();
        resolve({
          status,
          headers: got,
          raw: Buffer.concat(chunks),
          ...(alpn !== undefined ? { alpn } : {}),
        });
      });
      req.on("error", reject);
      let i = 0;
      const next = (): void => {
        if (i >= pieces.length) {
          req.end();
          return;
        }
        req.write(pieces[i++]!);
        setImmediate(next);
      };
      next();
    },
  );
  return within(p, `an HTTP/2 answer to ${headers[":method"] ?? "POST"} ${headers[":path"]}`);
}

/** A gRPC-Web call over HTTP/2. */
export async function webH2(
  target: string,
  path: string,
  msg: Buffer,
  o: WebCallOptions & { ca?: string } = {},
): Promise<WebResponse & { alpn?: string }> {
  const body = encode(msg, o.text);
  const r = await h2Request(
    target,
    { ":method": "POST", ":path": path, "content-type": contentType(o.text), ...o.headers },
    o.pieces ?? [body],
    o.ca,
  );
  return {
    ...parse(r.status, r.headers, r.raw, o.text === true),
    ...(r.alpn !== undefined ? { alpn: r.alpn } : {}),
  };
}

/** The `message` of a helloworld.HelloReply. */
export function helloMessage(msg: Buffer | undefined): string {
  const f = msg === undefined ? undefined : unpb(msg).get(1)?.[0];
  return Buffer.isBuffer(f) ? f.toString() : "";
}
