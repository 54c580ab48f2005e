/**
 * The gateway under attack, in its own process so its memory is measured apart from the attacker's:
 * `node --expose-gc --import tsx test/attacks/gateway-process.ts <backend host:port> [limits JSON]` serves
 * every call of the test services through the relay on 127.0.0.1 (ephemeral port) and prints
 * `LISTENING <port>`. On stdin, `mem` answers `MEM <json>`: the heap and external bytes after a full
 * collection, the RSS, and the client connections open with the bytes read on them.
 * @internal test-only
 */
import { createInterface } from "node:readline";
import type { ProtocolLimits } from "../../src/dataplane/relay/limits.js";
import { RelayDataplane } from "../../src/dataplane/relay/relay.js";
import type { RoutingTable } from "../../src/ir/routing-table.js";

const [backend, limitsJson] = process.argv.slice(2);
if (backend === undefined) {
  console.error("usage: gateway-process.ts <backend host:port> [limits JSON]");
  process.exit(2);
}
const limits = JSON.parse(limitsJson ?? "{}") as Partial<ProtocolLimits>;
const i = backend.lastIndexOf(":");
const clusterName = "service/default/b/port/50051";
const table: RoutingTable = {
  version: 1,
  clusters: {
    [clusterName]: {
      name: clusterName,
      source: { kind: "Service", namespace: "default", name: "b" },
      endpoints: [{ host: backend.slice(0, i), port: Number(backend.slice(i + 1)) }],
      tls: false,
    },
  },
  listeners: [
    {
      name: "gateway/default/gw/listener/http",
      gateway: { namespace: "default", name: "gw" },
      listener: "http",
      profile: "standard",
      port: 80,
      protocol: "HTTP",
      noRoute: { kind: "direct", grpcStatus: 12, message: "no route" },
      routes: [
        {
          name: "grpcroute/default/all/rule/0/match/0",
          source: { kind: "GRPCRoute", namespace: "default", name: "all", rule: 0, match: 0 },
          hostnames: [],
          match: { headers: [] },
          action: {
            kind: "forward",
            mirrors: [],
            backends: [
              {
                weight: 1,
                cluster: clusterName,
                source: { kind: "Service", namespace: "default", name: "b" },
              },
            ],
          },
        },
      ],
    },
  ],
};
const dp = new RelayDataplane({ address: "127.0.0.1", portMap: new Map([[80, 0]]), limits });
await dp.apply(table);
console.log(`LISTENING ${dp.boundPorts().get(80)}`);

const gc = (globalThis as { gc?: () => void }).gc;
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "mem") {
    gc?.();
    const m = process.memoryUsage();
    const mem = { heap: m.heapUsed, external: m.external, rss: m.rss, clients: dp.clientConnections() };
    console.log(`MEM ${JSON.stringify(mem)}`);
  }
});
process.stdin.on("end", () => {
  void dp.close(0).then(() => process.exit(0));
});
