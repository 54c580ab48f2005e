/**
 * The AWS GRPCRoute page's example end to end over TLS: real grpc-js greeter backends, an in-process data plane fed by
 * translate(), and real grpc-js clients that trust the certificate the gateway generated for the Lattice
 * listener (it has no certificateRefs). Which rule and backend served a call is read from the backend's
 * answer and from the data plane's call report.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseText } from "../../src/api/parse.js";
import type { ResourceSet } from "../../src/api/types.js";
import { Dataplane } from "../../src/dataplane/index.js";
import type { CallInfo } from "../../src/dataplane/types.js";
import { routeAuthorities } from "../../src/lattice/domains.js";
import { translate } from "../../src/translate/translator.js";
import { generateCertificate } from "../../src/util/self-signed.js";
import {
  type Backend,
  type CallResult,
  closeAll,
  greeterClient,
  grpc,
  type HelloReply,
  onceWithin,
  sayHello,
  startBackend,
  unary,
} from "../helpers/index.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/lattice/", import.meta.url));
const SEED_ROUTE = "grpcroute/default/greeter-grpc-route";

/** The example's Service and EndpointSlices, pointed at the test's backends. */
function servicesYaml(port50051: number, port443: number): string {
  const slice = (name: string, portName: string, port: number): string => `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}
  labels:
    kubernetes.io/service-name: greeter-grpc-server
addressType: IPv4
ports:
  - name: ${portName}
    port: ${port}
endpoints:
  - addresses: ["127.0.0.1"]
    conditions: { ready: true }
`;
  return `
apiVersion: v1
kind: Service
metadata:
  name: greeter-grpc-server
spec:
  ports:
    - name: grpc
      port: 50051
    - name: grpc-443
      port: 443
---${slice("greeter-a", "grpc", port50051)}---${slice("greeter-b", "grpc-443", port443)}`;
}

/** Two more routes on the same Gateway: a custom domain with a broken rule, and the case-sensitive switch. */
const EXTRA_ROUTES = `
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: extras
spec:
  parentRefs:
    - name: my-hotel
      sectionName: https
  hostnames: ["greeter.example.com"]
  rules:
    - matches:
        - method: { service: helloworld.Greeter, method: SayHello }
      backendRefs:
        - name: greeter-grpc-server
          port: 443
    - matches:
        - method: { service: grpcroute.test.Tester }
      backendRefs:
        - name: no-such-service
          port: 80
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: strict
  annotations:
    grpcroute.dev/lattice-method-match: case-sensitive
spec:
  parentRefs:
    - name: my-hotel
      sectionName: https
  rules:
    - matches:
        - method: { service: helloworld.Greeter, method: SayHello }
      backendRefs:
        - name: greeter-grpc-server
          port: 50051
`;

function merge(...sets: ResourceSet[]): ResourceSet {
  const out = structuredClone(sets[0]) as ResourceSet;
  for (const s of sets.slice(1)) {
    for (const k of Object.keys(out) as (keyof ResourceSet)[]) {
      (out[k] as unknown[]).push(...(s[k] as unknown[]));
    }
  }
  return out;
}

function load(text: string, file: string): ResourceSet {
  const r = parseText(text, file);
  assert.deepEqual([...r.fatal, ...r.issues.filter((i) => i.severity === "error")], [], file);
  return r.resources;
}

describe("Lattice profile end to end over TLS (the AWS GRPCRoute page's example)", {
  timeout: 120_000,
}, () => {
  let b50051: Backend;
  let b443: Backend;
  let dataplane: Dataplane;
  let target: string;
  let certPem: string;
  let names: Record<string, string[]>;
  const calls: CallInfo[] = [];
  const callEvents = new EventEmitter();
  const clients: grpc.Client[] = [];

  before(async () => {
    [b50051, b443] = await Promise.all([
      startBackend({ name: "greeter-50051" }),
      startBackend({ name: "greeter-443" }),
    ]);
    const resources = merge(
      load(readFileSync(`${EXAMPLE}gateway.yaml`, "utf8"), "gateway.yaml"),
      load(readFileSync(`${EXAMPLE}greeter-grpc-route.yaml`, "utf8"), "greeter-grpc-route.yaml"),
      load(servicesYaml(b50051.port, b443.port), "services.yaml"),
      load(EXTRA_ROUTES, "extras.yaml"),
    );
    names = Object.fromEntries(resources.grpcRoutes.map((r) => [r.metadata.name, routeAuthorities(r)]));
    const { table } = translate(resources, {});
    let generated: ((pem: string) => void) | undefined;
    const cert = new Promise<string>((resolve) => {
      generated = resolve;
    });
    dataplane = new Dataplane({
      address: "127.0.0.1",
      portMap: new Map([[443, 0]]),
      onCallEnd: (info) => {
        calls.push(info);
        callEvents.emit("call", info);
      },
      onCertificateGenerated: (_listener, dnsNames, pem) => {
        // The certificate covers every name a Lattice route answers on.
        for (const n of Object.values(names).flat())
          assert.ok(dnsNames.includes(n), `certificate names ${n}`);
        generated?.(pem);
      },
    });
    await dataplane.apply(table);
    certPem = await cert;
    target = `127.0.0.1:${dataplane.boundPorts().get(443)}`;
  });

  after(async () => {
    closeAll(...clients);
    await dataplane?.close(0);
    await Promise.all([b50051?.close(), b443?.close()]);
  });

  /** A greeter client over TLS trusting the generated certificate, sending `authority`. */
  function client(authority: string, servername: string = authority): grpc.Client {
    const c = greeterClient(target, { authority, tls: { rootCert: certPem, servername } });
    clients.push(c);
    return c;
  }

  /** The data plane's report of the call to `path` made after `seen` reports. */
  async function report(seen: number, path: string): Promise<CallInfo> {
    for (;;) {
      const found = calls.slice(seen).find((c) => c.path === path);
      if (found !== undefined) return found;
      await onceWithin(callEvents, "call", "the gateway to report the call");
    }
  }

  /** A unary call on any path with the HelloRequest encoding, for paths no generated client has. */
  function rawHello(
    c: grpc.Client,
    path: string,
    metadata: Record<string, string> = {},
  ): Promise<CallResult<HelloReply>> {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata)) md.set(k, v);
    return new Promise((resolve) => {
      const result: CallResult<HelloReply> = {
        replies: [],
        headers: {},
        trailers: {},
        code: -1,
        details: "",
      };
      const call = c.makeUnaryRequest(
        path,
        // HelloRequest { name = "lattice" }: field 1, length-delimited.
        () => Buffer.from([0x0a, 7, ...Buffer.from("lattice")]),
        (b: Buffer) => ({ message: b.toString("latin1") }) as HelloReply,
        {},
        md,
        () => undefined,
      );
      call.on("status", (s: grpc.StatusObject) => {
        result.code = s.code;
        result.details = s.details;
        resolve(result);
      });
    });
  }

  const assigned = (route: string): string => names[route]?.[0] ?? "";

  const table: {
    name: string;
    authority: () => string;
    servername?: () => string;
    path: string;
    metadata?: Record<string, string>;
    /** Backend that answers, or the gRPC code the client sees. */
    backend?: string;
    code?: number;
    /** From the data plane's report: route rule and HTTP status. */
    rule?: string;
    httpStatus?: number;
  }[] = [
    {
      name: "documented rule 2: SayHello reaches port 443",
      authority: () => assigned("greeter-grpc-route"),
      path: "/helloworld.Greeter/SayHello",
      backend: "greeter-443",
      rule: `${SEED_ROUTE}/rule/1/match/0`,
    },
    {
      name: "documented rule 1: header testKey1 reaches port 50051, on any method",
      authority: () => assigned("greeter-grpc-route"),
      path: "/helloworld.Greeter/SayHello",
      metadata: { testkey1: "testValue1" },
      backend: "greeter-50051",
      rule: `${SEED_ROUTE}/rule/0/match/0`,
    },
    {
      name: "authority with the port",
      authority: () => `${assigned("greeter-grpc-route")}:443`,
      servername: () => assigned("greeter-grpc-route"),
      path: "/helloworld.Greeter/SayHello",
      backend: "greeter-443",
    },
    {
      name: "custom domain (hostnames[0]) of another route",
      authority: () => "greeter.example.com",
      path: "/helloworld.Greeter/SayHello",
      backend: "greeter-443",
      rule: "grpcroute/default/extras/rule/0/match/0",
    },
    {
      name: "no rule matches: HTTP 404, the client sees UNIMPLEMENTED",
      authority: () => assigned("greeter-grpc-route"),
      path: "/helloworld.Greeter/SayGoodbye",
      code: grpc.status.UNIMPLEMENTED,
      httpStatus: 404,
    },
    {
      name: "an unknown authority: HTTP 404",
      authority: () => "unknown.example.com",
      servername: () => assigned("greeter-grpc-route"),
      path: "/helloworld.Greeter/SayHello",
      code: grpc.status.UNIMPLEMENTED,
      httpStatus: 404,
    },
    {
      name: "a rule without a valid target group: HTTP 500",
      authority: () => "greeter.example.com",
      path: "/grpcroute.test.Tester/Unary",
      code: grpc.status.UNKNOWN,
      httpStatus: 500,
      rule: "grpcroute/default/extras/rule/1/match/0",
    },
    {
      name: "case-sensitive switch: the exact case still matches",
      authority: () => assigned("strict"),
      path: "/helloworld.Greeter/SayHello",
      backend: "greeter-50051",
    },
    {
      name: "case-sensitive switch: another case gets 404",
      authority: () => assigned("strict"),
      path: "/helloworld.greeter/sayhello",
      code: grpc.status.UNIMPLEMENTED,
      httpStatus: 404,
    },
  ];

  for (const c of table) {
    test(c.name, async () => {
      const seen = calls.length;
      const authority = c.authority();
      const cl = client(authority, c.servername?.() ?? authority);
      const r =
        c.path === "/helloworld.Greeter/SayHello"
          ? await sayHello(cl, "lattice", c.metadata ? { metadata: c.metadata } : {})
          : await rawHello(cl, c.path, c.metadata);
      if (c.backend !== undefined) {
        assert.equal(r.code, grpc.status.OK, `${r.code} ${r.details}`);
        assert.equal(r.headers["x-backend"], c.backend);
      } else {
        assert.equal(r.code, c.code, r.details);
      }
      const info = await report(seen, c.path);
      if (c.rule !== undefined) assert.equal(info.route, c.rule);
      if (c.httpStatus !== undefined) assert.equal(info.httpStatus, c.httpStatus);
    });
  }

  test("method matching is case-insensitive by default: /helloworld.greeter/sayhello takes the SayHello rule", async () => {
    const seen = calls.length;
    const r = await rawHello(client(assigned("greeter-grpc-route")), "/helloworld.greeter/sayhello");
    // The backend is case-sensitive and refuses the path, as a real backend behind Lattice would; the gateway
    // routed it to rule 2's target group (port 443).
    const info = await report(seen, "/helloworld.greeter/sayhello");
    assert.equal(info.route, `${SEED_ROUTE}/rule/1/match/0`);
    assert.equal(info.backend, "service/default/greeter-grpc-server/port/443");
    assert.equal(r.code, grpc.status.UNIMPLEMENTED);
    assert.equal(info.httpStatus, 200, "answered by the backend, not by the gateway's 404");
  });

  test("a header-only match takes every method of every service", async () => {
    const seen = calls.length;
    const c = greeterClient(target, {
      authority: assigned("greeter-grpc-route"),
      tls: { rootCert: certPem, servername: assigned("greeter-grpc-route") },
    });
    clients.push(c);
    const r = await unary(c, "SayHello", { name: "x" }, { metadata: { testKey1: "testValue1" } });
    assert.equal(r.headers["x-backend"], "greeter-50051");
    const other = await rawHello(c, "/some.Other/Method", { testkey1: "testValue1" });
    const info = await report(seen, "/some.Other/Method");
    assert.equal(info.route, `${SEED_ROUTE}/rule/0/match/0`);
    assert.equal(info.backend, "service/default/greeter-grpc-server/port/50051");
    assert.equal(other.code, grpc.status.UNIMPLEMENTED, "the backend itself has no such method");
  });

  test("a client that does not trust the generated certificate is refused", async () => {
    const other = await generateCertificate(["other.example.com"]);
    const authority = assigned("greeter-grpc-route");
    const c = greeterClient(target, { authority, tls: { rootCert: other.certPem, servername: authority } });
    clients.push(c);
    const r = await sayHello(c, "x", { timeoutMs: 5000 });
    assert.equal(r.code, grpc.status.UNAVAILABLE, r.details);
  });
});
