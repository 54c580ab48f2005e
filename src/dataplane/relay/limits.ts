/**
 * The relay's protocol limits against abusive HTTP/2 peers (docs/security.md): their defaults, the `serve`
 * flags that set them, and the small counters a connection keeps to enforce them.
 *
 * Where the numbers come from: nghttp2 (the HTTP/2 library under node:http2 and so under every grpc-js
 * server) allows 8 CONTINUATION frames per header block and rate-limits incoming RST_STREAM with a token
 * bucket of 1000 tokens refilled at 33 per second; nghttp2, Envoy and Go close a connection that lets 1000
 * (Go: 10000) control frames queue up unsent; Go's server also refuses to run more handlers than its stream
 * limit for a client that resets streams, and closes the connection when it keeps going.
 */
import { MAX_CLIENT_STREAMS } from "../types.js";

/** Every limit, with defaults applied. */
export interface ProtocolLimits {
  /** CONTINUATION frames one header block may take after its HEADERS frame. */
  maxContinuationFrames: number;
  /** Streams the client may reset before their response is complete: the bucket's size... */
  resetBurst: number;
  /** ...and how many of them it regains per second. */
  resetRate: number;
  /** Answers to control frames (SETTINGS and PING ACKs, RST_STREAM) queued for a peer that is not reading. */
  maxQueuedControlFrames: number;
  /** Frames that cost work and do nothing useful ("glitches"): the bucket's size... */
  glitchBurst: number;
  /** ...and how many of them are forgiven per second. */
  glitchRate: number;
  /** How long a client has to acknowledge our SETTINGS (RFC 9113 section 6.5.3), in ms. */
  settingsTimeoutMs: number;
  /** How long a client connection may stay open without a stream, in ms. */
  idleTimeoutMs: number;
  /** How long a header block may stay incomplete (HEADERS without END_HEADERS), in ms. */
  headerTimeoutMs: number;
  /**
   * Largest decoded header list (RFC 9113 section 6.5.2 counting) of a request, and of a backend's response:
   * SETTINGS_MAX_HEADER_LIST_SIZE. A larger request gets RESOURCE_EXHAUSTED; compressed header blocks may
   * be twice as large before the connection is closed.
   */
  maxHeaderListSize: number;
  /** Streams one client connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: number;
  /** HTTP/1.1: bytes of a request line and headers (llhttp's limit; past it: 431). */
  http1MaxHeaderBytes: number;
  /**
   * HTTP/1.1: time a client has to send a request's headers once it connected or began the request; also how
   * long a cleartext connection may take to send its first bytes (HTTP/2 preface or request line), in ms.
   */
  http1HeadersTimeoutMs: number;
  /** HTTP/1.1: how long a keep-alive connection may stay open between requests, in ms. */
  http1IdleTimeoutMs: number;
  /** gRPC-Web: decoded request body of one call (a browser sends its whole request at once). */
  grpcWebMaxRequestBytes: number;
}

export const DEFAULT_LIMITS: Readonly<ProtocolLimits> = Object.freeze({
  maxContinuationFrames: 8,
  resetBurst: 1000,
  resetRate: 33,
  maxQueuedControlFrames: 1000,
  glitchBurst: 1000,
  glitchRate: 100,
  settingsTimeoutMs: 10_000,
  idleTimeoutMs: 180_000,
  headerTimeoutMs: 10_000,
  maxHeaderListSize: 65_536,
  maxConcurrentStreams: MAX_CLIENT_STREAMS,
  http1MaxHeaderBytes: 16_384,
  http1HeadersTimeoutMs: 10_000,
  http1IdleTimeoutMs: 60_000,
  grpcWebMaxRequestBytes: 4 << 20,
});

/** One `serve` flag per limit: its name, the limit it sets, its range and what it means. */
export interface LimitFlag {
  readonly flag: string;
  readonly key: keyof ProtocolLimits;
  readonly min: number;
  readonly max: number;
  readonly unit: "N" | "MS" | "BYTES";
  readonly help: string;
}

export const LIMIT_FLAGS: readonly LimitFlag[] = [
  {
    flag: "h2-max-continuations",
    key: "maxContinuationFrames",
    min: 0,
    max: 1000,
    unit: "N",
    help: "CONTINUATION frames per header block",
  },
  {
    flag: "h2-reset-burst",
    key: "resetBurst",
    min: 1,
    max: 1_000_000,
    unit: "N",
    help: "streams a client may reset before their answer, at once",
  },
  {
    flag: "h2-reset-rate",
    key: "resetRate",
    min: 0,
    max: 1_000_000,
    unit: "N",
    help: "... and per second after that",
  },
  {
    flag: "h2-max-queued-control",
    key: "maxQueuedControlFrames",
    min: 1,
    max: 1_000_000,
    unit: "N",
    help: "ACK and RST_STREAM frames queued for a client that does not read",
  },
  {
    flag: "h2-glitch-burst",
    key: "glitchBurst",
    min: 1,
    max: 1_000_000,
    unit: "N",
    help: "useless frames (PRIORITY, unknown types, empty DATA, frames on closed streams...) at once",
  },
  {
    flag: "h2-glitch-rate",
    key: "glitchRate",
    min: 0,
    max: 1_000_000,
    unit: "N",
    help: "... and per second after that",
  },
  {
    flag: "h2-settings-timeout",
    key: "settingsTimeoutMs",
    min: 1,
    max: 3_600_000,
    unit: "MS",
    help: "time a client has to acknowledge our SETTINGS",
  },
  {
    flag: "h2-idle-timeout",
    key: "idleTimeoutMs",
    min: 1,
    max: 86_400_000,
    unit: "MS",
    help: "time a client connection may stay open with no call",
  },
  {
    flag: "h2-header-timeout",
    key: "headerTimeoutMs",
    min: 1,
    max: 3_600_000,
    unit: "MS",
    help: "time a header block may stay incomplete",
  },
  {
    flag: "max-header-list-size",
    key: "maxHeaderListSize",
    // gRPC's own metadata needs a few hundred bytes; Envoy allows up to 8 MiB (max_request_headers_kb).
    min: 1024,
    max: 8 << 20,
    unit: "BYTES",
    help: "decoded header list of a call; larger: RESOURCE_EXHAUSTED",
  },
  {
    flag: "max-concurrent-streams",
    key: "maxConcurrentStreams",
    min: 1,
    max: 1_000_000,
    unit: "N",
    help: "calls open at once per connection; more: REFUSED_STREAM",
  },
  {
    flag: "http1-max-header-size",
    key: "http1MaxHeaderBytes",
    // Node's own default is 16 KiB; nginx allows 8 KiB lines in 4 buffers of 8 KiB.
    min: 1024,
    max: 1 << 20,
    unit: "BYTES",
    help: "HTTP/1.1 request line and headers; larger: 431",
  },
  {
    flag: "http1-headers-timeout",
    key: "http1HeadersTimeoutMs",
    min: 1,
    max: 3_600_000,
    unit: "MS",
    help: "time an HTTP/1.1 client has to send a request's headers (and a new connection its first bytes)",
  },
  {
    flag: "http1-idle-timeout",
    key: "http1IdleTimeoutMs",
    min: 1,
    max: 86_400_000,
    unit: "MS",
    help: "time an HTTP/1.1 keep-alive connection may wait for its next request",
  },
  {
    flag: "grpc-web-max-request-bytes",
    key: "grpcWebMaxRequestBytes",
    min: 5,
    max: 1 << 30,
    unit: "BYTES",
    help: "decoded request body of one gRPC-Web call; larger: RESOURCE_EXHAUSTED",
  },
];

/** `given` over the defaults (undefined values ignored). */
export function resolveLimits(given: Partial<ProtocolLimits> | undefined): ProtocolLimits {
  const out: ProtocolLimits = { ...DEFAULT_LIMITS };
  if (given === undefined) return out;
  for (const k of Object.keys(given) as (keyof ProtocolLimits)[]) {
    const v = given[k];
    if (typeof v === "number") out[k] = v;
  }
  return out;
}

/** A value for `flag` from the command line, or an error message naming the flag, the value and the range. */
export function parseLimitFlag(f: LimitFlag, text: string): number | string {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= f.min && n <= f.max)) {
    const what =
      f.unit === "MS"
        ? "a whole number of milliseconds"
        : f.unit === "BYTES"
          ? "a whole number of bytes"
          : "a whole number";
    return `--${f.flag} "${text}": expected ${what}, ${f.min}..${f.max}`;
  }
  return n;
}

/**
 * A token bucket: `burst` tokens at first, `rate` more per second up to `burst`; each event takes one. The
 * clock is read only when the bucket is empty, so events within the burst cost a decrement.
 */
export class TokenBucket {
  private tokens: number;
  private last = 0;

  constructor(
    private readonly burst: number,
    private readonly rate: number,
  ) {
    this.tokens = burst;
  }

  /** Takes a token; false when none is left (the limit is exceeded). */
  take(): boolean {
    if (this.tokens >= 1) {
      this.tokens--;
      if (this.last === 0) this.last = Date.now();
      return true;
    }
    const now = Date.now();
    const refill = ((now - this.last) * this.rate) / 1000;
    if (refill < 1) return false;
    this.tokens = Math.min(this.burst, this.tokens + refill) - 1;
    this.last = now;
    return true;
  }
}
