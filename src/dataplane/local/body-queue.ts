/**
 * A request body handed over piece by piece (relay DATA frames) and read as an async iterable, the shape
 * node:http's IncomingMessage also has, so one transcoding entry point reads both.
 */
export class BodyQueue implements AsyncIterable<Uint8Array> {
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  push(chunk: Buffer, end: boolean): void {
    if (this.ended) return;
    if (chunk.length > 0) this.chunks.push(Buffer.from(chunk));
    if (end) this.ended = true;
    this.notify();
  }

  /** The client went away: the body ends here. */
  abort(): void {
    this.ended = true;
    this.chunks.length = 0;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const c = this.chunks.shift();
      if (c !== undefined) {
        yield c;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}
