/**
 * The translator consults a Gateway's profile at every hook. A test profile (registered in place of the
 * Lattice one for the duration of the test) changes each answer, and the output must follow it.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { parseText } from "../../src/api/parse.js";
import { validateRoutingTable } from "../../src/ir/validate.js";
import type { GatewayProfile } from "../../src/translate/profile.js";
import { PROFILES } from "../../src/translate/profiles/index.js";
import { GRPCROUTE_KIND, standardProfile } from "../../src/translate/profiles/standard.js";
import { translate } from "../../src/translate/translator.js";

const testProfile: GatewayProfile = {
  ...standardProfile,
  name: "lattice",
  defaultRouteKinds: (protocol) => (protocol === "HTTPS" ? [{ ...GRPCROUTE_KIND }] : []),
  routeKindAllowed: (protocol, kind) => protocol === "HTTPS" && kind.kind === "GRPCRoute",
  checkRule: (route, i) =>
    (route.spec.rules[i]?.matches.length ?? 0) > 1
      ? [{ path: `spec.rules[${i}].matches`, message: "one match per rule (test limit)" }]
      : [],
  checkRoute: () => ({ problems: [], notes: ["a quota note"] }),
  methodCaseInsensitive: () => true,
  headerValueCaseInsensitive: () => true,
  ruleOrder: (_route, valid) => [...valid].reverse(),
  orderEntries: (entries) => [...entries].sort((a, b) => a.rulePosition - b.rulePosition),
  routeHostnames: (route) => [`${route.metadata.name}.assigned.test`],
  ruleAction: () => ({ kind: "direct", httpStatus: 500, message: "test action" }),
  noRoute: () => ({ kind: "direct", httpStatus: 404, message: "test no route" }),
  missingCertificates: () => "generate",
  generatedTlsNames: (_l, routes) => routes.map((r) => `${r.metadata.name}.assigned.test`),
  routeAnnotations: (route) => ({ "test/assigned": `${route.metadata.name}.assigned.test` }),
};

const MANIFESTS = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: amazon-vpc-lattice
  listeners:
    - {name: https, port: 443, protocol: HTTPS}
    - {name: http, port: 80, protocol: HTTP}
    - name: http-listed
      port: 81
      protocol: HTTP
      allowedRoutes: {kinds: [{kind: GRPCRoute}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw, sectionName: https}, {name: gw, sectionName: http}]
  rules:
    - matches: [{method: {service: a.A}}]
    - matches: [{method: {service: b.B}, headers: [{name: X-K, value: V}]}]
    - matches: [{method: {service: c.C}}, {method: {service: d.D}}]
`;

let saved: GatewayProfile | undefined;
before(() => {
  saved = PROFILES.lattice;
  PROFILES.lattice = testProfile;
});
after(() => {
  if (saved === undefined) delete PROFILES.lattice;
  else PROFILES.lattice = saved;
});

test("every hook of the Gateway's profile shapes the output", () => {
  const { resources, issues } = parseText(MANIFESTS, "m.yaml");
  assert.deepEqual(
    issues.filter((i) => i.severity === "error"),
    [],
  );
  const { table, status } = translate(resources);
  validateRoutingTable(table);

  const gw = status.gateways.get("default/gw");
  const listener = (name: string) => gw?.listeners.find((l) => l.name === name);
  const cond = (cs: { type: string; status: string; reason: string }[] | undefined, type: string) =>
    cs?.find((c) => c.type === type);
  // Kinds per protocol: HTTPS carries GRPCRoute; HTTP does not, and listing it there is InvalidRouteKinds.
  assert.deepEqual(listener("https")?.supportedKinds, [GRPCROUTE_KIND]);
  assert.deepEqual(listener("http")?.supportedKinds, []);
  assert.equal(cond(listener("http-listed")?.conditions, "ResolvedRefs")?.reason, "InvalidRouteKinds");
  // HTTPS without certificateRefs is programmed with a generated certificate.
  assert.equal(cond(listener("https")?.conditions, "Programmed")?.status, "True");

  const parents = status.grpcRoutes.get("default/r")?.parents ?? [];
  assert.equal(cond(parents[0]?.conditions, "Accepted")?.status, "True");
  assert.match(parents[0]?.conditions[0]?.message ?? "", /a quota note/);
  assert.match(cond(parents[0]?.conditions, "PartiallyInvalid")?.reason ?? "", /UnsupportedValue/);
  assert.equal(cond(parents[1]?.conditions, "Accepted")?.reason, "NotAllowedByListeners");
  assert.deepEqual(status.routeAnnotations.get("default/r"), { "test/assigned": "r.assigned.test" });

  const https = table.listeners.find((l) => l.listener === "https");
  assert.equal(https?.profile, "lattice");
  assert.deepEqual(https?.noRoute, { kind: "direct", httpStatus: 404, message: "test no route" });
  assert.deepEqual(https?.tls, { certificates: [], generate: { dnsNames: ["r.assigned.test"] } });
  // Rule order reversed, the invalid rule 2 dropped, hostnames and action from the profile.
  assert.deepEqual(
    https?.routes.map((r) => r.name),
    ["grpcroute/default/r/rule/1/match/0", "grpcroute/default/r/rule/0/match/0"],
  );
  const first = https?.routes[0];
  assert.deepEqual(first?.hostnames, ["r.assigned.test"]);
  assert.equal(first?.match.method?.caseInsensitive, true);
  assert.deepEqual(first?.match.headers, [{ type: "Exact", name: "x-k", value: "V", caseInsensitive: true }]);
  assert.deepEqual(first?.action, { kind: "direct", httpStatus: 500, message: "test action" });
  assert.equal(
    table.listeners.some((l) => l.listener === "http"),
    false,
  );
});
