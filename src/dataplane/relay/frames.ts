/**
 * HTTP/2 frame layout (RFC 9113 section 4 and 6): constants and serialisers. Parsing is done inline by the
 * connection, which reads the 9-byte header in place and slices payloads without copying.
 */

/** Frame types (RFC 9113 section 6). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags. */
export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Error codes (RFC 9113 section 7). */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** SETTINGS identifiers (RFC 9113 section 6.5.2). */
export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** The client connection preface (RFC 9113 section 3.4). */
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
export const FRAME_HEADER_LENGTH = 9;
/** Default and minimum SETTINGS_MAX_FRAME_SIZE. */
export const DEFAULT_MAX_FRAME_SIZE = 16384;
export const DEFAULT_WINDOW = 65535;
export const MAX_WINDOW = 0x7fffffff;

/** Writes a frame header into `b` at `o`. */
export function writeFrameHeader(
  b: Buffer,
  o: number,
  length: number,
  type: number,
  flags: number,
  id: number,
): void {
  b[o] = (length >>> 16) & 0xff;
  b[o + 1] = (length >>> 8) & 0xff;
  b[o + 2] = length & 0xff;
  b[o + 3] = type;
  b[o + 4] = flags;
  b.writeUInt32BE(id & 0x7fffffff, o + 5);
}

/** A whole frame with a small payload copied in. */
export function frame(type: number, flags: number, id: number, payload?: Buffer): Buffer {
  const len = payload === undefined ? 0 : payload.length;
  const b = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + len);
  writeFrameHeader(b, 0, len, type, flags, id);
  if (payload !== undefined) payload.copy(b, FRAME_HEADER_LENGTH);
  return b;
}

/** SETTINGS frame from `[id, value]` pairs (empty with `ack`). */
export function settingsFrame(settings: readonly (readonly [number, number])[], ack = false): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + settings.length * 6);
  writeFrameHeader(b, 0, settings.length * 6, FrameType.SETTINGS, ack ? Flag.ACK : 0, 0);
  let o = FRAME_HEADER_LENGTH;
  for (const [id, v] of settings) {
    b.writeUInt16BE(id, o);
    b.writeUInt32BE(v, o + 2);
    o += 6;
  }
  return b;
}

export function windowUpdateFrame(id: number, increment: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 4);
  writeFrameHeader(b, 0, 4, FrameType.WINDOW_UPDATE, 0, id);
  b.writeUInt32BE(increment & 0x7fffffff, FRAME_HEADER_LENGTH);
  return b;
}

export function rstStreamFrame(id: number, code: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 4);
  writeFrameHeader(b, 0, 4, FrameType.RST_STREAM, 0, id);
  b.writeUInt32BE(code, FRAME_HEADER_LENGTH);
  return b;
}

export function goawayFrame(lastStreamId: number, code: number, debug = ""): Buffer {
  const dbg = Buffer.from(debug, "utf8");
  const b = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 8 + dbg.length);
  writeFrameHeader(b, 0, 8 + dbg.length, FrameType.GOAWAY, 0, 0);
  b.writeUInt32BE(lastStreamId & 0x7fffffff, FRAME_HEADER_LENGTH);
  b.writeUInt32BE(code, FRAME_HEADER_LENGTH + 4);
  dbg.copy(b, FRAME_HEADER_LENGTH + 8);
  return b;
}

export function pingFrame(data: Buffer, ack: boolean): Buffer {
  return frame(FrameType.PING, ack ? Flag.ACK : 0, 0, data);
}
