/** One HTTP/2 stream of a relay connection: its windows, queued output and state (RFC 9113 section 5.1). */
export class H2Stream {
  /** What the peer lets us send. */
  sendWindow: number;
  /** What we still accept from the peer. */
  recvWindow: number;
  /** Bytes consumed but not yet returned in a WINDOW_UPDATE. */
  recvUnacked = 0;
  /** DATA waiting for window; `outEnd` ends the stream after it; `outTrailers` are sent after it. */
  out: Buffer[] | null = null;
  outEnd = false;
  outTrailers: string[] | null = null;
  /** We sent END_STREAM / the peer did. */
  localEnded = false;
  remoteEnded = false;
  /** Reset or fully closed: no more frames either way. */
  closed = false;
  /** The relay's own state for the stream (the call it carries). */
  ctx: unknown = undefined;
  constructor(
    readonly id: number,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }
}
