import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BackendClient } from "../../src/dataplane/local/backend-client.js";
import { BackendReflection, REFLECTION_CACHE_ENTRIES } from "../../src/dataplane/local/backend-reflection.js";
import { type Backend, cluster, startBackend, within } from "../helpers/index.js";

/** The gateway's cache of backends' reflection answers stays bounded whatever clients ask. */
describe("backend reflection cache", { timeout: 60_000 }, () => {
  let b: Backend;
  const client = new BackendClient();

  before(async () => {
    b = await startBackend({ name: "refl", services: ["Greeter"], reflection: true });
  });
  after(async () => {
    client.close();
    await b?.close();
  });

  it("keeps at most REFLECTION_CACHE_ENTRIES answers while a client asks for ever new symbols", async () => {
    const c = cluster("refl", [b.port]);
    const br = new BackendReflection(client, { pickEndpoint: (x) => x.endpoints[0] });
    const asks: Promise<unknown>[] = [];
    for (let i = 0; i < REFLECTION_CACHE_ENTRIES + 200; i++) {
      asks.push(br.ask(c, { fileContainingSymbol: `no.such.Symbol${i}` }));
      assert.ok(br.cacheSize <= REFLECTION_CACHE_ENTRIES, `cache holds ${br.cacheSize}`);
    }
    await within(Promise.all(asks), "the backend's answers to every ask");
    // A well-behaved ask still gets its answer.
    const ok = await within(br.services(c), "the list of services");
    assert.deepEqual(ok, { ok: true, services: ["helloworld.Greeter"] });
  });
});
