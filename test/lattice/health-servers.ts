/**
 * HTTP health endpoints for TargetGroupPolicy health-check tests: one per endpoint address, on one shared
 * port (as a policy's `healthCheck.port` asks), each answering the status the test sets and reporting every
 * check it answers.
 * @internal test-only
 */
import { EventEmitter } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";

/** An HTTP health endpoint whose answer the test sets; it reports each check it answers. */
export class HealthServer extends EventEmitter {
  status = 200;
  readonly seen: { path: string; version: string; connection: string }[] = [];
  constructor(readonly server: http.Server | http2.Http2Server) {
    super();
    server.on("request", (req: http.IncomingMessage | http2.Http2ServerRequest, res) => {
      this.seen.push({
        path: req.url ?? "",
        version: req.httpVersion,
        connection: String(req.headers.connection ?? ""),
      });
      res.writeHead(this.status, { "content-type": "text/plain" });
      res.end(this.status === 200 ? "ok" : "down");
      this.emit("check");
    });
  }
}

async function listenOn(s: http.Server | http2.Http2Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.listen(port, host, () => {
      s.off("error", reject);
      resolve();
    });
  });
  return (s.address() as AddressInfo).port;
}

/** Two health servers on one port number, on 127.0.0.1 and 127.0.0.2 (a few tries for a port free on both). */
export async function healthPair(
  version: 1 | 2,
): Promise<{ a: HealthServer; b: HealthServer; port: number }> {
  const make = () => (version === 1 ? http.createServer() : http2.createServer());
  for (let attempt = 0; ; attempt++) {
    const a = new HealthServer(make());
    const port = await listenOn(a.server, "127.0.0.1", 0);
    const b = new HealthServer(make());
    try {
      await listenOn(b.server, "127.0.0.2", port);
      return { a, b, port };
    } catch (e: unknown) {
      a.server.close();
      if (attempt >= 5) throw e;
    }
  }
}
