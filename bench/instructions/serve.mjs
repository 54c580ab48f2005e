// node serve.mjs <tree> <backend port>: a one-route relay from <tree>/dist in this process, prints
// LISTENING <port>. With RETRY=1 the route carries a retrying TrafficPolicy (3 attempts on UNAVAILABLE and
// RESOURCE_EXHAUSTED) that the backend, answering at once, never makes it use.
const [tree, bport] = process.argv.slice(2);
const { Dataplane } = await import(`${tree}/dist/dataplane/index.js`);
const c = "service/default/greeter/port/50051";
const retry = {
  attempts: 3,
  retryOn: [14, 8],
  perTryTimeoutMs: 0,
  backoffBaseMs: 25,
  backoffMaxMs: 250,
  maxBufferedBytes: 65536,
  budgetPercent: 20,
  source: "TrafficPolicy default/bench-retry",
};
const route = {
  name: "grpcroute/default/greeter/rule/0/match/0",
  source: { kind: "GRPCRoute", namespace: "default", name: "greeter", rule: 0, match: 0 },
  hostnames: [],
  match: { headers: [] },
  action: {
    kind: "forward",
    mirrors: [],
    backends: [{ weight: 1, cluster: c, source: { kind: "Service", namespace: "default", name: "greeter" } }],
  },
};
if (process.env.RETRY === "1") route.policy = { retry };
const table = {
  version: 1,
  clusters: {
    [c]: {
      name: c,
      source: { kind: "Service", namespace: "default", name: "greeter" },
      endpoints: [{ host: "127.0.0.1", port: Number(bport) }],
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
      routes: [route],
    },
  ],
};
const dp = new Dataplane({ address: "127.0.0.1", portMap: new Map([[80, 0]]) });
await dp.apply(table);
console.log(`LISTENING ${dp.boundPorts().get(80)}`);
process.on("SIGTERM", () => void dp.close(0).then(() => process.exit(0)));
