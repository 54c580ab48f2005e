import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseText } from "../api/parse.js";
import type { K8sObject, ResourceSet } from "../api/types.js";
import { LastAccepted } from "./last-accepted.js";

const route = (name: string, weight: number, marker = "") =>
  `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: ${name}${marker === "" ? "" : `, labels: {v: "${marker}"}`}}
spec: {rules: [{backendRefs: [{name: s, port: 80, weight: ${weight}}]}]}`;

/** A valid and an invalid version of one object of each kind (the invalid one names the field it breaks). */
const KINDS: { kind: string; valid: (v: string) => string; invalid: string; field: string }[] = [
  {
    kind: "GRPCRoute",
    valid: (v) => route("obj", 1, v),
    invalid: route("obj", -1),
    field: "spec.rules[0].backendRefs[0].weight",
  },
  {
    kind: "Gateway",
    valid: (v) =>
      `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: obj, labels: {v: "${v}"}}\nspec: {gatewayClassName: c, listeners: [{name: l, port: 80, protocol: HTTP}]}`,
    invalid:
      "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: obj}\nspec: {gatewayClassName: c, listeners: [{name: l, port: 0, protocol: HTTP}]}",
    field: "spec.listeners[0].port",
  },
  {
    kind: "Service",
    valid: (v) =>
      `apiVersion: v1\nkind: Service\nmetadata: {name: obj, labels: {v: "${v}"}}\nspec: {ports: [{port: 80}]}`,
    invalid: "apiVersion: v1\nkind: Service\nmetadata: {name: obj}\nspec: {ports: [{port: 70000}]}",
    field: "spec.ports[0].port",
  },
  {
    kind: "EndpointSlice",
    valid: (v) =>
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: obj, labels: {v: "${v}", kubernetes.io/service-name: s}}\naddressType: IPv4\nendpoints: [{addresses: [127.0.0.1]}]`,
    invalid:
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: obj, labels: {kubernetes.io/service-name: s}}\naddressType: Pigeon\nendpoints: []",
    field: "addressType",
  },
  {
    kind: "Secret",
    valid: (v) =>
      `apiVersion: v1\nkind: Secret\nmetadata: {name: obj, labels: {v: "${v}"}}\nstringData: {a: b}`,
    invalid: "apiVersion: v1\nkind: Secret\nmetadata: {name: obj}\ntype: 5",
    field: "type",
  },
];

type AnyObject = K8sObject<string, unknown>;
function all(set: ResourceSet): AnyObject[] {
  return Object.values(set).flat() as AnyObject[];
}
/** `Kind name@v` for each object, `v` its label (which version it is). */
function served(set: ResourceSet): string[] {
  return all(set).map((o) => `${o.kind} ${o.metadata.name}@${o.metadata.labels.v ?? ""}`);
}

describe("LastAccepted", () => {
  for (const k of KINDS) {
    test(`${k.kind}: an invalid edit keeps the previous version; invalid then valid applies; a deletion deletes; a new invalid object is skipped`, () => {
      const state = new LastAccepted();
      const steps: { what: string; text: string; serves: string[]; kept: string[] }[] = [
        { what: "first version", text: k.valid("1"), serves: [`${k.kind} obj@1`], kept: [] },
        { what: "edit to invalid", text: k.invalid, serves: [`${k.kind} obj@1`], kept: [k.field] },
        { what: "still invalid", text: k.invalid, serves: [`${k.kind} obj@1`], kept: [k.field] },
        { what: "fixed", text: k.valid("2"), serves: [`${k.kind} obj@2`], kept: [] },
        { what: "deleted", text: "", serves: [], kept: [] },
        { what: "comes back invalid: new, so skipped", text: k.invalid, serves: [], kept: [] },
        { what: "comes back valid", text: k.valid("3"), serves: [`${k.kind} obj@3`], kept: [] },
      ];
      for (const s of steps) {
        const fresh = parseText(s.text, "m.yaml");
        const merged = state.merge(fresh);
        assert.deepEqual(served(merged.resources), s.serves, `${k.kind}, ${s.what}: served`);
        assert.deepEqual(
          merged.kept.map((x) => x.rejected.issues.map((i) => i.path).join(",")),
          s.kept,
          `${k.kind}, ${s.what}: kept`,
        );
        const skipped = s.what.includes("skipped");
        assert.equal(
          merged.issues.some((i) => i.severity === "error"),
          skipped,
          `${k.kind}, ${s.what}: errors left in issues only for objects not kept`,
        );
      }
    });
  }

  test("a kept object keeps its place among its kind, and the others follow their new versions", () => {
    const state = new LastAccepted();
    const text = (b: number, c: string) =>
      [route("a", 1, "1"), route("b", b, "1"), route("c", 1, c)].join("\n---\n");
    state.merge(parseText(text(1, "1"), "m.yaml"));
    const merged = state.merge(parseText(text(-1, "2"), "m.yaml"));
    assert.deepEqual(served(merged.resources), ["GRPCRoute a@1", "GRPCRoute b@1", "GRPCRoute c@2"]);
    assert.equal(merged.kept[0]?.previous.metadata.name, "b");
    assert.equal(merged.kept[0]?.rejected.origin.index, 1, "the rejected version's place in the file");
  });

  test("a renamed object is a deletion and a new object", () => {
    const state = new LastAccepted();
    state.merge(parseText(route("old", 1, "1"), "m.yaml"));
    const merged = state.merge(parseText(route("new", -1), "m.yaml"));
    assert.deepEqual(served(merged.resources), []);
    assert.deepEqual(merged.kept, []);
  });

  test("the same name in another namespace or of another kind is another object", () => {
    const state = new LastAccepted();
    state.merge(parseText(route("r", 1, "1"), "m.yaml"));
    const other = route("r", -1).replace("metadata: {name: r}", "metadata: {name: r, namespace: other}");
    const merged = state.merge(parseText(`${route("r", 1, "1")}\n---\n${other}`, "m.yaml"));
    assert.deepEqual(merged.kept, [], "default/r is valid; other/r is new");
    assert.deepEqual(served(merged.resources), ["GRPCRoute r@1"]);
  });

  test("a merge that is not committed (a load that will not be applied) leaves the accepted versions as they were", () => {
    const state = new LastAccepted();
    state.merge(parseText(route("r", 1, "1"), "m.yaml"));
    // Unreadable input: the route's file is missing from this load, which is not a deletion.
    state.merge(parseText("", "m.yaml"), false);
    const merged = state.merge(parseText(route("r", -1), "m.yaml"));
    assert.deepEqual(served(merged.resources), ["GRPCRoute r@1"]);
  });
});
