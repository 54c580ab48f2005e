/**
 * A cluster for controller tests: the fake API server over TLS with a bearer token, the bundled greeter
 * example applied to it (backend ports pointed at real greeter servers), and the real controller process.
 * Waits are on events (requests the fake logs, objects it stores, the controller's log lines), each with a
 * limit that names what it waited for.
 * @internal test-only
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { type Greeter, startGreeter } from "../../examples/greeter-server.mjs";
import { GatewayProcess, ROOT, TempDir } from "../e2e/support/gateway-process.js";
import { FakeApiServer, type FakeApiServerOptions, type RequestRecord } from "./fake/apiserver.js";
import type { Obj } from "./fake/store.js";

export const WAIT_MS = 20_000;

const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(":") + 1));

/** YAML text to objects. */
export function objects(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

/** The TrafficPolicies of the README's "Traffic policy" example (its first YAML block). */
export function readmeTrafficPolicies(): Obj[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Traffic policy"));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  return objects(block).filter((o) => o.kind === "TrafficPolicy");
}

export class Cluster {
  readonly dir = new TempDir();
  fake!: FakeApiServer;
  kubeconfig = "";
  /** Serves Service port 50051 (`grpc`). */
  a!: Greeter;
  /** Serves Service port 443 (`grpc-alt`). */
  b!: Greeter;
  /** A third greeter, for EndpointSlice changes. */
  c!: Greeter;
  readonly procs: GatewayProcess[] = [];

  static async start(opts: FakeApiServerOptions = {}): Promise<Cluster> {
    const c = new Cluster();
    c.fake = await FakeApiServer.start({ bookmarkMs: 500, ...opts });
    c.kubeconfig = c.fake.kubeconfig(c.dir.path);
    c.a = await startGreeter({ name: "greeter-grpc-server:50051", port: 0 });
    c.b = await startGreeter({ name: "greeter-grpc-server:443", port: 0 });
    c.c = await startGreeter({ name: "greeter-c", port: 0 });
    c.fake.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "greeter" } });
    c.fake.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "grpcroute-system" } });
    for (const o of c.exampleObjects()) c.fake.apply(o);
    return c;
  }

  /** The bundled example's objects, backend ports rewritten to the test greeters. */
  exampleObjects(): Obj[] {
    const src = join(ROOT, "examples", "greeter");
    return readdirSync(src)
      .sort()
      .flatMap((name) =>
        objects(
          readFileSync(join(src, name), "utf8")
            .replaceAll("50151", String(portOf(this.a.address)))
            .replaceAll("50152", String(portOf(this.b.address))),
        ),
      );
  }

  portOf(g: Greeter): number {
    return portOf(g.address);
  }

  /** Starts `grpcroute controller` against the fake, one data-plane process, debug logs. */
  controller(args: string[] = [], env: NodeJS.ProcessEnv = {}): GatewayProcess {
    const p = new GatewayProcess(
      [
        "--kubeconfig",
        this.kubeconfig,
        "--admin",
        "127.0.0.1:0",
        "--port-map",
        "8080=0",
        "--port-map",
        "8443=0",
        "--workers",
        "1",
        "--log-level",
        "debug",
        ...args,
      ],
      { POD_IP: "127.0.0.1", ...env },
      "controller",
    );
    this.procs.push(p);
    return p;
  }

  /** Resolves with the first request (logged after `from`) that matches. */
  waitRequest(
    pred: (r: RequestRecord) => boolean,
    what: string,
    from = 0,
    ms = WAIT_MS,
  ): Promise<RequestRecord> {
    const hit = this.fake.requests.slice(from).find(pred);
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fake.off("request", on);
        reject(new Error(`timed out after ${ms} ms waiting for ${what} at the fake API server`));
      }, ms);
      const on = (r: RequestRecord): void => {
        if (!pred(r)) return;
        clearTimeout(timer);
        this.fake.off("request", on);
        resolve(r);
      };
      this.fake.on("request", on);
    });
  }

  /** Resolves with the object once `pred` holds for it (now or after a later change). */
  waitObject(
    kind: string,
    ns: string,
    name: string,
    pred: (o: Obj) => boolean,
    what: string,
    ms = WAIT_MS,
  ): Promise<Obj> {
    const now = this.fake.get(kind, ns, name);
    if (now !== undefined && pred(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(
          new Error(
            `timed out after ${ms} ms waiting for ${kind} ${ns}/${name}: ${what}; it is ${JSON.stringify(this.fake.get(kind, ns, name))}`,
          ),
        );
      }, ms);
      const off = this.fake.store.onEvent((def, ev) => {
        if (
          def.kind !== kind ||
          ev.object.metadata.name !== name ||
          (ev.object.metadata.namespace ?? "") !== ns
        )
          return;
        const cur = this.fake.get(kind, ns, name);
        if (cur !== undefined && pred(cur)) {
          clearTimeout(timer);
          off();
          resolve(cur);
        }
      });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
    await this.fake?.close();
    await Promise.all([this.a?.close(), this.b?.close(), this.c?.close()]);
    this.dir.cleanup();
  }
}

/** The conditions of our parent entry in a route's status, by type. */
export function ourConditions(
  route: Obj | undefined,
  controller = "grpcroute.dev/gateway-controller",
): Record<string, Record<string, unknown>> {
  const parents = (
    (route?.status as { parents?: Record<string, unknown>[] } | undefined)?.parents ?? []
  ).filter((p) => p.controllerName === controller);
  const out: Record<string, Record<string, unknown>> = {};
  for (const c of (parents[0]?.conditions as Record<string, unknown>[] | undefined) ?? [])
    out[String(c.type)] = c;
  return out;
}
