/**
 * Small manifest builders for end-to-end tests: a Gateway, GRPCRoutes and Services whose EndpointSlices
 * point at test backends on 127.0.0.1.
 * @internal test-only
 */

export interface ListenerSpec {
  name: string;
  port: number;
  protocol?: "HTTP" | "HTTPS";
  hostname?: string;
}

export function gatewayYaml(name: string, listeners: ListenerSpec[]): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: grpcroute
spec:
  controllerName: grpcroute.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: ${name}
spec:
  gatewayClassName: grpcroute
  listeners:
${listeners
  .map(
    (l) => `    - name: ${l.name}
      port: ${l.port}
      protocol: ${l.protocol ?? "HTTP"}${l.hostname !== undefined ? `\n      hostname: "${l.hostname}"` : ""}`,
  )
  .join("\n")}
`;
}

/** A Service with one port (80, named grpc) and an EndpointSlice pointing at 127.0.0.1:`port`. */
export function serviceYaml(name: string, port: number): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  ports:
    - name: grpc
      port: 80
      targetPort: ${port}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}-1
  labels:
    kubernetes.io/service-name: ${name}
addressType: IPv4
ports:
  - name: grpc
    port: ${port}
endpoints:
  - addresses: ["127.0.0.1"]
    conditions:
      ready: true
`;
}

export interface RuleSpec {
  service?: string;
  method?: string;
  headers?: Record<string, string>;
  /** Service name -> weight (port 80). */
  backends: Record<string, number>;
}

export function routeYaml(name: string, gateway: string, rules: RuleSpec[], sectionName?: string): string {
  const rule = (r: RuleSpec): string => {
    const match: string[] = [];
    if (r.service !== undefined || r.method !== undefined) {
      match.push("        - method:");
      if (r.service !== undefined) match.push(`            service: ${r.service}`);
      if (r.method !== undefined) match.push(`            method: ${r.method}`);
    }
    const headers = Object.entries(r.headers ?? {});
    if (headers.length > 0) {
      match.push(match.length === 0 ? "        - headers:" : "          headers:");
      for (const [k, v] of headers) match.push(`            - name: ${k}\n              value: "${v}"`);
    }
    return `    - ${match.length > 0 ? `matches:\n${match.join("\n")}\n      ` : ""}backendRefs:
${Object.entries(r.backends)
  .map(([svc, w]) => `        - name: ${svc}\n          port: 80\n          weight: ${w}`)
  .join("\n")}`;
  };
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: ${name}
spec:
  parentRefs:
    - name: ${gateway}${sectionName !== undefined ? `\n      sectionName: ${sectionName}` : ""}
  rules:
${rules.map(rule).join("\n")}
`;
}

export const DOC = "---\n";
