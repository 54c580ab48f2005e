import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { isManifestName } from "./files.js";
import { formatIssue, loadPaths, parseText } from "./parse.js";

const ROUTE = `
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: greeter
spec:
  parentRefs:
  - name: gw
  rules:
  - matches:
    - method:
        service: helloworld.Greeter
      headers:
      - name: x-env
        value: canary
    filters:
    - type: RequestMirror
      requestMirror:
        backendRef: {name: shadow, port: 9000}
    backendRefs:
    - name: greeter
      port: 50051
`;

describe("defaults", () => {
  test("GRPCRoute gets the API server's defaults", () => {
    const res = parseText(ROUTE, "r.yaml");
    assert.deepEqual(res.fatal, []);
    assert.deepEqual(
      res.issues.filter((i) => i.severity === "error"),
      [],
    );
    const r = res.resources.grpcRoutes[0]!;
    assert.equal(r.metadata.namespace, "default");
    assert.equal(r.metadata.generation, 1);
    assert.equal(r.metadata.creationTimestamp, "");
    assert.deepEqual(r.metadata.labels, {});
    assert.deepEqual(r.spec.parentRefs, [
      { group: "gateway.networking.k8s.io", kind: "Gateway", name: "gw" },
    ]);
    assert.deepEqual(r.spec.hostnames, []);
    const rule = r.spec.rules[0]!;
    assert.deepEqual(rule.matches, [
      {
        method: { type: "Exact", service: "helloworld.Greeter" },
        headers: [{ type: "Exact", name: "x-env", value: "canary" }],
      },
    ]);
    assert.deepEqual(rule.backendRefs, [
      { group: "", kind: "Service", name: "greeter", port: 50051, weight: 1, filters: [] },
    ]);
    assert.deepEqual(rule.filters, [
      {
        type: "RequestMirror",
        requestMirror: { backendRef: { group: "", kind: "Service", name: "shadow", port: 9000 } },
      },
    ]);
    assert.deepEqual(r.origin, { file: "r.yaml", index: 0, line: 2 });
    assert.equal(r.apiVersion, "gateway.networking.k8s.io/v1");
    assert.equal((r.raw.metadata as { name: string }).name, "greeter");
    assert.equal("namespace" in (r.raw.metadata as object), false, "raw is the object as read");
  });

  test("Gateway listeners get allowedRoutes Same and tls mode Terminate", () => {
    const res = parseText(
      `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra, generation: 3, creationTimestamp: "2024-01-02T03:04:05Z"}
spec:
  gatewayClassName: grpcroute
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    hostname: "*.example.com"
    tls:
      certificateRefs: [{name: cert}]
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces: {from: Selector, selector: {matchLabels: {team: a}}}
      kinds: [{kind: GRPCRoute}]
`,
      "g.yaml",
    );
    assert.deepEqual(res.issues, []);
    const g = res.resources.gateways[0]!;
    assert.equal(g.metadata.namespace, "infra");
    assert.equal(g.metadata.generation, 3);
    assert.equal(g.metadata.creationTimestamp, "2024-01-02T03:04:05Z");
    assert.deepEqual(g.spec.listeners[0], {
      name: "https",
      port: 443,
      protocol: "HTTPS",
      hostname: "*.example.com",
      allowedRoutes: { namespaces: { from: "Same" } },
      tls: { mode: "Terminate", certificateRefs: [{ group: "", kind: "Secret", name: "cert" }] },
    });
    assert.deepEqual(g.spec.listeners[1]!.allowedRoutes, {
      namespaces: { from: "Selector", selector: { matchLabels: { team: "a" } } },
      kinds: [{ group: "gateway.networking.k8s.io", kind: "GRPCRoute" }],
    });
  });

  test("core objects, ReferenceGrant v1beta1 and cluster-scoped kinds", () => {
    const res = parseText(
      `
apiVersion: v1
kind: Service
metadata: {name: greeter}
spec:
  ports: [{name: grpc, port: 50051, targetPort: grpc, appProtocol: kubernetes.io/h2c}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: greeter-1, labels: {kubernetes.io/service-name: greeter}}
addressType: IPv4
endpoints:
- addresses: [127.0.0.1]
  conditions: {ready: true}
ports: [{name: grpc, port: 50051}]
---
apiVersion: v1
kind: Secret
metadata: {name: cert}
type: kubernetes.io/tls
data:
  tls.crt: ${Buffer.from("CERT").toString("base64")}
  tls.key: ${Buffer.from("old").toString("base64")}
stringData:
  tls.key: KEY
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: backends}
spec:
  from: [{group: gateway.networking.k8s.io, kind: GRPCRoute, namespace: default}]
  to: [{group: "", kind: Service, name: greeter}]
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {team: a}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: grpcroute}
spec: {controllerName: grpcroute.dev/gateway-controller}
`,
      "core.yaml",
    );
    assert.deepEqual(res.issues, []);
    const s = res.resources;
    assert.deepEqual(s.services[0]!.spec, {
      type: "ClusterIP",
      ports: [
        { name: "grpc", port: 50051, protocol: "TCP", targetPort: "grpc", appProtocol: "kubernetes.io/h2c" },
      ],
    });
    assert.deepEqual(s.endpointSlices[0]!.spec, {
      serviceName: "greeter",
      addressType: "IPv4",
      endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
      ports: [{ name: "grpc", port: 50051, protocol: "TCP" }],
    });
    assert.deepEqual(s.secrets[0]!.spec, {
      type: "kubernetes.io/tls",
      data: { "tls.crt": "CERT", "tls.key": "KEY" },
    });
    assert.equal(s.referenceGrants[0]!.apiVersion, "gateway.networking.k8s.io/v1beta1");
    assert.deepEqual(s.referenceGrants[0]!.spec.to, [{ group: "", kind: "Service", name: "greeter" }]);
    assert.equal(s.namespaces[0]!.metadata.namespace, "", "cluster-scoped");
    assert.deepEqual(s.namespaces[0]!.metadata.labels, { team: "a" });
    assert.equal(s.gatewayClasses[0]!.metadata.namespace, "");
    assert.equal(s.gatewayClasses[0]!.spec.controllerName, "grpcroute.dev/gateway-controller");
  });

  test("a Secret error names the key, never the value", () => {
    const res = parseText(
      `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"tls.key":"c2VjcmV0!!"}}`,
      "s.json",
    );
    const text = res.issues.map(formatIssue).join("\n");
    assert.match(text, /data\[tls\.key\]/);
    assert.doesNotMatch(text, /c2VjcmV0/);
  });
});

describe("documents", () => {
  test("JSON input", () => {
    const res = parseText(
      JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "a" } }),
      "n.json",
    );
    assert.equal(res.resources.namespaces.length, 1);
  });

  test("YAML merge keys are honoured, as Kubernetes' reader does", () => {
    const res = parseText(
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  <<: {labels: {team: a}}\n  name: merged\n",
      "m.yaml",
    );
    assert.deepEqual(res.issues, []);
    assert.deepEqual(res.resources.namespaces[0]!.metadata.labels, { team: "a" });
  });

  test("kind: List is expanded, items carry their position", () => {
    const res = parseText(
      JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [
          { apiVersion: "v1", kind: "Namespace", metadata: { name: "a" } },
          { apiVersion: "v1", kind: "Namespace", metadata: { name: "B" } },
          { apiVersion: "v1", kind: "Namespace", metadata: { name: "c" } },
        ],
      }),
      "list.json",
    );
    assert.deepEqual(
      res.resources.namespaces.map((n) => n.metadata.name),
      ["a", "c"],
    );
    assert.equal(res.resources.namespaces[1]!.origin.item, 2);
    const err = res.issues.find((i) => i.severity === "error")!;
    assert.equal(err.origin?.item, 1);
    assert.match(
      formatIssue(err),
      /^list\.json \(document 0, item 1, line 1\) Namespace B: metadata\.name: /,
    );
  });

  test("typed lists (GRPCRouteList) are expanded too; a kind named like an Object member is just unknown", () => {
    const res = parseText(
      JSON.stringify({
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "GRPCRouteList",
        items: [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "a" } }],
      }),
      "l.json",
    );
    assert.deepEqual(res.issues, []);
    assert.equal(res.resources.namespaces.length, 1);
    for (const kind of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      const r = parseText(JSON.stringify({ apiVersion: "v1", kind, metadata: { name: "x" } }), "k.json");
      assert.deepEqual(
        r.issues.map((i) => i.severity),
        ["note"],
        kind,
      );
    }
  });

  test("empty documents and comments are skipped; indices count every document", () => {
    const ns = (n: string) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${n}}\n`;
    const res = parseText(`# a comment\n${ns("z")}---\n# nothing\n---\n${ns("a")}---\n`, "e.yaml");
    assert.deepEqual(res.issues, []);
    assert.equal(res.resources.namespaces[1]!.origin.index, 2);
    assert.equal(res.resources.namespaces[1]!.origin.line, 8);
    assert.deepEqual(parseText("", "empty.yaml"), parseText("\n\n", "empty.yaml"));
  });

  const problems: {
    name: string;
    text: string;
    file?: string;
    fatal?: string;
    issue?: string;
    severity?: "error" | "note";
  }[] = [
    { name: "YAML syntax error", text: "a: b: c\n", fatal: "x.yaml (document 0, line 1:4): syntax error" },
    {
      name: "unclosed flow",
      text: "apiVersion: v1\nkind: Namespace\nmetadata: {name: a\n",
      fatal: "x.yaml (document 0, line",
    },
    { name: "duplicate keys", text: "kind: A\nkind: B\n", fatal: "Map keys must be unique" },
    {
      name: "JSON syntax error",
      file: "x.json",
      text: '{"kind": "Namespace",\n "a": }',
      fatal: "x.json (document 0, line 2:7): JSON syntax error",
    },
    {
      name: "JSON comment",
      file: "x.json",
      text: '// c\n{"kind": "Namespace"}',
      fatal: "x.json (document 0, line 1:1): JSON syntax error",
    },
    {
      name: "YAML flow mapping with trailing comma",
      text: '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"},}',
      issue: "",
    },
    {
      name: "too many aliases",
      text: `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [${Array(11).fill("*a").join(",")}]\nc: [${Array(120).fill("*b").join(",")}]\n`,
      fatal: "cannot read document",
    },
    {
      name: "a scalar document",
      text: "just text\n",
      issue: "a manifest must be a mapping with apiVersion and kind, not string",
    },
    { name: "a list document", text: "- a\n- b\n", issue: "not a list" },
    { name: "no kind", text: "apiVersion: v1\nmetadata: {name: a}\n", issue: "kind: Required value" },
    {
      name: "no apiVersion",
      text: "kind: Namespace\nmetadata: {name: a}\n",
      issue: "Namespace a: apiVersion: Required value",
    },
    {
      name: "HTTPRoute is skipped with a note",
      text: "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: h}\n",
      issue: "HTTPRoute h: kind HTTPRoute (gateway.networking.k8s.io/v1) is not read by grpcroute; skipped",
      severity: "note",
    },
    {
      name: "a Gateway of another API group is skipped",
      text: "apiVersion: networking.istio.io/v1beta1\nkind: Gateway\nmetadata: {name: g}\n",
      issue: "is not read by grpcroute; skipped",
      severity: "note",
    },
    {
      name: "a kind of another API is skipped",
      text: "apiVersion: v1\nkind: Pod\nmetadata: {name: c}\n",
      issue: "skipped",
      severity: "note",
    },
    {
      name: "unknown field is noted",
      text: `${ROUTE}\n  backendRef: {name: typo}\n`,
      issue: 'spec.backendRef: unknown field "spec.backendRef" ignored',
      severity: "note",
    },
    {
      name: "metadata not a mapping",
      text: "apiVersion: v1\nkind: Namespace\nmetadata: a\n",
      issue: 'metadata: Invalid value: "a": must be of type object',
    },
  ];
  for (const p of problems) {
    test(`problem: ${p.name}`, () => {
      let res: ReturnType<typeof parseText> | undefined;
      assert.doesNotThrow(() => {
        res = parseText(p.text, p.file ?? "x.yaml");
      });
      if (p.fatal !== undefined) {
        const lines = res!.fatal.map(formatIssue);
        assert.ok(
          lines.some((l) => l.includes(p.fatal!)),
          `fatal: ${lines.join("\n")}`,
        );
        assert.ok(res!.fatal.every((i) => i.code === "GW_ERR_PARSE"));
      }
      if (p.issue === "") assert.deepEqual([...res!.fatal, ...res!.issues], []);
      else if (p.issue !== undefined) {
        const lines = res!.issues.filter((i) => i.severity === (p.severity ?? "error")).map(formatIssue);
        assert.ok(
          lines.some((l) => l.includes(p.issue!)),
          `issues: ${lines.join("\n")}`,
        );
      }
    });
  }

  test("a syntax error in one document keeps the other documents", () => {
    const res = parseText("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\na: b: c\n", "m.yaml");
    assert.equal(res.resources.namespaces.length, 1);
    assert.equal(res.fatal.length, 1);
    assert.equal(res.fatal[0]!.origin?.index, 1);
    assert.equal(res.fatal[0]!.origin?.line, 5);
  });

  test("duplicates: the later object is rejected and both places are named", () => {
    const ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n";
    const res = parseText(`${ns}---\n${ns}`, "d.yaml");
    assert.equal(res.resources.namespaces.length, 1);
    const [issue] = res.issues;
    assert.equal(issue?.origin?.index, 1);
    assert.match(
      formatIssue(issue!),
      /Namespace a: metadata\.name: Duplicate value: .*already defined at d\.yaml \(document 0, line 1\)/,
    );
  });

  test("same name in different namespaces or kinds is not a duplicate", () => {
    const res = parseText(
      [
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 1}]}",
        "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: other}\nspec: {ports: [{port: 1}]}",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: a}",
      ].join("\n---\n"),
      "n.yaml",
    );
    assert.deepEqual(res.issues, []);
    assert.equal(res.resources.services.length, 2);
  });

  test("rejected objects are named by API group, kind, namespace and name, with their place among their kind", () => {
    const svc = (meta: string, spec = "{ports: [{port: 1}]}") =>
      `apiVersion: v1\nkind: Service\nmetadata: ${meta}\nspec: ${spec}`;
    const route = (meta: string, weight: number) =>
      `apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: ${meta}\nspec: {rules: [{backendRefs: [{name: s, port: 1, weight: ${weight}}]}]}`;
    const cases: {
      name: string;
      docs: string[];
      want: { id: string; position: number; paths: string[] }[];
    }[] = [
      {
        name: "a spec error, after a valid object of the kind",
        docs: [route("{name: ok}", 1), route("{name: r}", -1)],
        want: [
          {
            id: "gateway.networking.k8s.io/GRPCRoute/default/r",
            position: 1,
            paths: ["spec.rules[0].backendRefs[0].weight"],
          },
        ],
      },
      {
        name: "core group, its own namespace",
        docs: [svc("{name: s, namespace: team}", "{ports: [{port: 0}]}")],
        want: [{ id: "/Service/team/s", position: 0, paths: ["spec.ports[0].port"] }],
      },
      {
        name: "cluster-scoped kind",
        docs: ["apiVersion: v1\nkind: Namespace\nmetadata: {name: n, labels: {'bad key!': x}}"],
        want: [{ id: "/Namespace//n", position: 0, paths: ["metadata.labels[bad key!]"] }],
      },
      {
        name: "a version no longer served",
        docs: [route("{name: r}", 1).replace("/v1", "/v1alpha2")],
        want: [{ id: "gateway.networking.k8s.io/GRPCRoute/default/r", position: 0, paths: ["apiVersion"] }],
      },
      {
        name: "apiVersion dropped from a kind we read",
        docs: ["kind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 1}]}"],
        want: [{ id: "/Service/default/s", position: 0, paths: ["apiVersion"] }],
      },
      { name: "no name: nothing to find it by", docs: [svc("{namespace: a}")], want: [] },
      {
        name: "another API's kind",
        docs: ["apiVersion: v1\nkind: Pod\nmetadata: {name: c}"],
        want: [],
      },
      {
        name: "a duplicate: the first definition is used",
        docs: [svc("{name: s}"), svc("{name: s}")],
        want: [],
      },
    ];
    for (const c of cases) {
      const res = parseText(c.docs.join("\n---\n"), "x.yaml");
      assert.deepEqual(
        res.rejected.map((r) => ({ id: r.id, position: r.position, paths: r.issues.map((i) => i.path) })),
        c.want,
        c.name,
      );
      for (const r of res.rejected)
        for (const i of r.issues) assert.ok(res.issues.includes(i), `${c.name}: in issues`);
    }
  });

  test("hostile input never throws", () => {
    const inputs = [
      "\u0000\u0001",
      "{{{{",
      "- - - - -",
      "apiVersion: v1\nkind: List\nitems: 5\n",
      "apiVersion: v1\nkind: List\nitems: [1, null, {kind: Namespace}]\n",
      "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: r}\nspec: {rules: [1, [2], {matches: [null, 3, {method: 7, headers: {}}], backendRefs: 'x', filters: [{type: 5}]}]}\n",
      "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g, labels: {a: 1}}\nspec: {listeners: [{tls: 3, allowedRoutes: {namespaces: 2, kinds: 3}}]}\n",
      "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: 3\nstringData: {a: {b: 1}}\n",
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\nendpoints: [{addresses: 3, conditions: {ready: yes}}]\nports: [{port: x}]\n",
      "apiVersion: 5\nkind: [a]\n",
      "? [a, b]\n: c\n",
      "__proto__: {polluted: true}\nkind: Namespace\napiVersion: v1\nmetadata: {name: p}\n",
    ];
    for (const text of inputs) assert.doesNotThrow(() => parseText(text, "h.yaml"), text);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe("loadPaths", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "grpcroute-parse-"));
    await mkdir(join(dir, "sub", "deeper"), { recursive: true });
    await mkdir(join(dir, ".hidden"));
    const ns = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}}\n`;
    await writeFile(join(dir, "b.yaml"), ns("b"));
    await writeFile(join(dir, "a.yml"), ns("a"));
    await writeFile(
      join(dir, "sub", "c.json"),
      JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "c" } }),
    );
    await writeFile(join(dir, "sub", "deeper", "d.YAML"), ns("d"));
    await writeFile(join(dir, "sub", "notes.txt"), "not a manifest");
    await writeFile(join(dir, ".hidden", "e.yaml"), ns("e"));
    await writeFile(join(dir, ".#b.yaml"), ns("swap"));
    await writeFile(join(dir, "sub", "broken.yaml"), "a: b: c\n");
    await symlink(dir, join(dir, "sub", "loop"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("walks folders recursively in sorted order, skipping hidden files and other extensions", async () => {
    const res = await loadPaths([dir]);
    assert.deepEqual(
      res.resources.namespaces.map((n) => n.metadata.name),
      ["a", "b", "c", "d"],
    );
    assert.deepEqual(
      res.resources.namespaces.map((n) => n.origin.file),
      [
        join(dir, "a.yml"),
        join(dir, "b.yaml"),
        join(dir, "sub", "c.json"),
        join(dir, "sub", "deeper", "d.YAML"),
      ],
    );
    assert.equal(res.fatal.length, 1);
    assert.equal(res.fatal[0]!.origin?.file, join(dir, "sub", "broken.yaml"));
  });

  test("a missing file is fatal with GW_ERR_READ; the others still load", async () => {
    const missing = join(dir, "missing.yaml");
    const res = await loadPaths([missing, join(dir, "a.yml")]);
    assert.equal(res.resources.namespaces.length, 1);
    assert.equal(res.fatal.length, 1);
    assert.equal(res.fatal[0]!.code, "GW_ERR_READ");
    assert.equal(
      formatIssue(res.fatal[0]!),
      `${missing} (document 0): cannot read: no such file or directory`,
    );
  });

  test("a file named twice (directly and through its folder) is read once", async () => {
    const res = await loadPaths([join(dir, "a.yml"), dir]);
    assert.deepEqual(
      res.issues.filter((i) => i.severity === "error"),
      [],
    );
    assert.equal(res.resources.namespaces.filter((n) => n.metadata.name === "a").length, 1);
  });

  test("duplicates across files name both files", async () => {
    const other = await mkdtemp(join(tmpdir(), "grpcroute-parse-dup-"));
    try {
      await writeFile(join(other, "x.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n");
      const res = await loadPaths([join(dir, "a.yml"), other]);
      const dup = res.issues.find((i) => i.message.startsWith("Duplicate value"));
      assert.ok(dup !== undefined);
      assert.equal(dup.origin?.file, join(other, "x.yaml"));
      assert.match(dup.message, /a\.yml \(document 0, line 1\)/);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  test("an explicitly named file is read whatever its extension; an empty folder gets a note", async () => {
    const other = await mkdtemp(join(tmpdir(), "grpcroute-parse-empty-"));
    try {
      const res = await loadPaths([join(dir, "sub", "notes.txt"), other]);
      assert.equal(
        res.issues.filter((i) => i.severity === "error").length,
        1,
        "the text is read as a document",
      );
      assert.ok(res.issues.some((i) => i.severity === "note" && i.message.startsWith("no *.yaml")));
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  test("isManifestName", () => {
    const cases: [string, boolean][] = [
      ["a.yaml", true],
      ["a.yml", true],
      ["a.json", true],
      ["A.YAML", true],
      [".a.yaml", false],
      ["a.yaml~", false],
      ["a.yaml.swp", false],
      ["a.txt", false],
    ];
    for (const [name, want] of cases) assert.equal(isManifestName(name), want, name);
  });
});
