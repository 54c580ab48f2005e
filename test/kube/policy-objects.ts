/**
 * Objects and backends of the policy tests (policies.test.ts): Services with their EndpointSlices, a route
 * with one rule per backend, TrafficPolicies and BackendTLSPolicies, and a backend that never answers.
 * @internal test-only
 */
import { once } from "node:events";
import { createServer, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import type { Obj } from "./fake/store.js";

/**
 * An h2c backend that takes every call and never answers (a grpc-js server would end a call at the deadline
 * the gateway passes on, racing the gateway's own DEADLINE_EXCEEDED): only the gateway or the client ends them.
 */
export async function hangingBackend(): Promise<{ port: number; close(): void }> {
  const streams = new Set<ServerHttp2Stream>();
  const server = createServer();
  server.on("stream", (st) => {
    streams.add(st);
    st.on("close", () => streams.delete(st));
    st.on("error", () => {});
    st.resume();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const st of streams) st.destroy();
      server.close();
    },
  };
}

/** A Service `name` (port 443) with an EndpointSlice on 127.0.0.1:`port`, in namespace greeter. */
export function service(name: string, port: number): Obj[] {
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: "greeter" },
      spec: { ports: [{ name: "grpc", port: 443 }] },
    },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name, namespace: "greeter", labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: [{ name: "grpc", port }],
      endpoints: [{ addresses: ["127.0.0.1"] }],
    },
  ];
}

/** A route in greeter sending SayHello calls with `x-to: <name>` to Service `<name>`, one rule each. */
export function route(names: string[]): Obj {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GRPCRoute",
    metadata: { name: "policies", namespace: "greeter" },
    spec: {
      parentRefs: [{ name: "my-hotel" }],
      rules: names.map((n) => ({
        name: n,
        matches: [
          {
            method: { service: "helloworld.Greeter", method: "SayHello" },
            headers: [{ name: "x-to", value: n }],
          },
        ],
        backendRefs: [{ name: n, port: 443 }],
      })),
    },
  };
}

export function trafficPolicy(name: string, request: string): Obj {
  return {
    apiVersion: "grpcroute.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name, namespace: "greeter" },
    spec: {
      targetRefs: [{ group: "gateway.networking.k8s.io", kind: "GRPCRoute", name: "policies" }],
      timeouts: { request },
    },
  };
}

export function backendTLSPolicy(apiVersion: string, extra: Record<string, unknown> = {}): Obj {
  return {
    apiVersion,
    kind: "BackendTLSPolicy",
    metadata: { name: "secure", namespace: "greeter" },
    spec: {
      targetRefs: [{ group: "", kind: "Service", name: "secure" }],
      validation: {
        caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "greeter-ca" }],
        hostname: "greeter.internal",
        ...extra,
      },
    },
  };
}
