/**
 * A one-route gateway process for the relay measurements: `tsx test/relay/serve-one.ts relay
 * <backend host:port>` serves every call on 127.0.0.1 (ephemeral port) through the relay and prints
 * `LISTENING <port>`. One route takes every call. The access-log callback stays on (a counter), as in
 * production.
 * @internal measurement tool
 */
import { Dataplane } from "../../src/dataplane/index.js";
import type { RoutingTable } from "../../src/ir/routing-table.js";

const [impl, backend] = process.argv.slice(2);
if (impl !== "relay" || backend === undefined) {
  console.error("usage: serve-one.ts relay <backend host:port>");
  process.exit(2);
}
const i = backend.lastIndexOf(":");
const table: RoutingTable = {
  version: 1,
  clusters: {
    "service/default/greeter/port/50051": {
      name: "service/default/greeter/port/50051",
      source: { kind: "Service", namespace: "default", name: "greeter" },
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
          name: "grpcroute/default/greeter/rule/0/match/0",
          source: { kind: "GRPCRoute", namespace: "default", name: "greeter", rule: 0, match: 0 },
          hostnames: [],
          match: { headers: [] },
          action: {
            kind: "forward",
            mirrors: [],
            backends: [
              {
                weight: 1,
                cluster: "service/default/greeter/port/50051",
                source: { kind: "Service", namespace: "default", name: "greeter" },
              },
            ],
          },
        },
      ],
    },
  ],
};
let calls = 0;
const opts = {
  address: "127.0.0.1",
  portMap: new Map([[80, 0]]),
  onCallEnd: () => {
    calls++;
  },
};
// RELAY_STREAM_WINDOW=<bytes> overrides the stream window the relay advertises, to compare windows.
const streamWindow = Number(process.env.RELAY_STREAM_WINDOW ?? "0");
const dp = new Dataplane(streamWindow > 0 ? { ...opts, connection: { streamWindow } } : opts);
await dp.apply(table);
console.log(`LISTENING ${dp.boundPorts().get(80)}`);
process.on("SIGTERM", () => {
  console.log(`CALLS ${calls}`);
  void dp.close(0).then(() => process.exit(0));
});
