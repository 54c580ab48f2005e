/**
 * Just enough of a net.Socket for an H2Connection, driven by the fuzzer: reads are pushed with
 * `emit("data")`; writes go to `onWrite` at once, or, after `congest()`, also pile up in `writableLength`
 * (a peer that does not read) until `drain()`.
 */
import { EventEmitter } from "node:events";
import { SOCKET_HIGH_WATER } from "../../src/dataplane/relay/frame-writer.js";

export class FakeSocket extends EventEmitter {
  writableLength = 0;
  destroyed = false;
  /** Set by `end()`: the connection half-closed the socket. */
  ended = false;
  congested = false;
  /** Bytes written in all, and the writes themselves when `keep` is set. */
  written = 0;
  readonly chunks: Buffer[] = [];
  keep = true;
  onWrite: (b: Buffer) => void = () => {};

  setNoDelay(): void {}
  cork(): void {}
  uncork(): void {}

  write(b: Buffer): boolean {
    this.written += b.length;
    if (this.keep) this.chunks.push(Buffer.from(b));
    if (this.congested) this.writableLength += b.length;
    this.onWrite(b);
    return !this.congested;
  }

  end(): void {
    this.ended = true;
  }

  destroy(): void {
    this.destroyed = true;
  }

  /** The peer stops reading, its socket buffer full: writes pile up here and DATA must wait. */
  congest(): void {
    this.congested = true;
    this.writableLength = Math.max(this.writableLength, SOCKET_HIGH_WATER + 1);
  }

  /** The peer read everything: the socket's buffer empties and 'drain' fires. */
  drain(): void {
    this.congested = false;
    this.writableLength = 0;
    this.emit("drain");
  }
}
