/**
 * A fake Kubernetes API server for tests, faithful to the wire protocol where controllers and kubectl
 * depend on it: HTTPS with a bearer token, discovery, list (resourceVersion, limit/continue, label and field
 * selectors), watch (chunked JSON lines, BOOKMARK, 410 Gone as an ERROR event or an HTTP answer), create,
 * update (409 on a stale resourceVersion), JSON merge patch, the `/status` subresource, delete, Leases.
 * Strict where real servers are: 422 for a Gateway API condition without lastTransitionTime or for a
 * TargetGroupPolicy condition the AWS CRD refuses, 400 for a Lease time without six fractional digits,
 * generation bumped by spec changes only, the AWS CRD's default status on a new TargetGroupPolicy.
 *
 * Fault hooks: {@link dropWatches}, {@link expireWatches} (410), {@link unavailable} (503 for a while),
 * {@link conflictNextWrite}. Every request is logged ({@link requests}) and emitted as `request`.
 * @internal test-only
 */
import { EventEmitter } from "node:events";
import { writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { generateCertificate } from "../../../src/util/self-signed.js";
import {
  ApiError,
  matchesFields,
  matchesLabels,
  type Obj,
  RESOURCES,
  type ResourceDef,
  Store,
  type WatchEvent,
} from "./store.js";

/** One request, as RBAC sees it. */
export interface RequestRecord {
  method: string;
  path: string;
  verb: string;
  group: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  status: number;
  /** Who asked: the bearer token's user. */
  user: string;
}

export interface FakeApiServerOptions {
  /** token -> user name. Default `{ "test-token": "grpcroute" }`. */
  tokens?: Record<string, string>;
  /** Serve ReferenceGrant at v1 (default) or only at v1beta1. */
  referenceGrantV1?: boolean;
  /** How often open watches get a BOOKMARK, in ms. Default 1000. */
  bookmarkMs?: number;
  /** The one version BackendTLSPolicy is served at: v1 (Gateway API v1.4, default) or v1alpha3 (v1.1-v1.3). */
  backendTLSPolicy?: "v1" | "v1alpha3";
  /** Kinds whose CRD is not installed (not in discovery, 404 on every request) until {@link installCrd}. */
  absent?: string[];
}

interface OpenWatch {
  res: ServerResponse;
  def: ResourceDef;
  close(): void;
}

export class FakeApiServer extends EventEmitter {
  readonly store = new Store();
  readonly requests: RequestRecord[] = [];
  readonly #server: Server;
  readonly #tokens: Record<string, string>;
  readonly #watches = new Set<OpenWatch>();
  readonly #rgV1: boolean;
  readonly #bookmarkMs: number;
  readonly #btlsVersion: string;
  readonly #absent: Set<string>;
  #unavailableUntil = 0;
  /** Requests this answers 403 (RBAC that does not allow them). */
  forbid: ((r: RequestRecord) => boolean) | undefined;
  #conflicts = 0;
  #goneNext = 0;
  url = "";
  caPem = "";

  private constructor(server: Server, opts: FakeApiServerOptions) {
    super();
    this.#server = server;
    this.#tokens = opts.tokens ?? { "test-token": "grpcroute" };
    this.#rgV1 = opts.referenceGrantV1 ?? true;
    this.#bookmarkMs = opts.bookmarkMs ?? 1000;
    this.#btlsVersion = opts.backendTLSPolicy ?? "v1";
    this.#absent = new Set(opts.absent ?? []);
    server.on("request", (req, res) => {
      this.#handle(req, res).catch((err: unknown) => this.#fail(res, err));
    });
  }

  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const cert = await generateCertificate(["localhost", "127.0.0.1"]);
    const server = createServer({ cert: cert.certPem, key: cert.keyPem });
    const fake = new FakeApiServer(server, opts);
    fake.caPem = cert.certPem;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    fake.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return fake;
  }

  /** Writes a kubeconfig for this server into `dir` and returns its path. */
  kubeconfig(dir: string, token = "test-token", name = "kubeconfig"): string {
    const file = join(dir, name);
    const ca = Buffer.from(this.caPem).toString("base64");
    writeFileSync(
      file,
      `apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: ${this.url}
    certificate-authority-data: ${ca}
users:
- name: grpcroute
  user:
    token: ${token}
contexts:
- name: fake
  context: {cluster: fake, user: grpcroute, namespace: grpcroute-system}
current-context: fake
`,
    );
    return file;
  }

  async close(): Promise<void> {
    for (const w of this.#watches) w.close();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // ----- fault hooks

  /** Ends every open watch abruptly (the connection is destroyed). */
  dropWatches(): number {
    const n = this.#watches.size;
    for (const w of [...this.#watches]) w.res.destroy();
    return n;
  }

  /** Forgets the event history and tells every open watch `410 Gone`; the next `n` watch requests get 410 too. */
  expireWatches(n = 0): void {
    this.store.compact();
    this.#goneNext = n;
    for (const w of [...this.#watches]) {
      w.res.write(
        `${JSON.stringify({ type: "ERROR", object: status(410, "Expired", "too old resource version") })}\n`,
      );
      w.close();
    }
  }

  /** Answers 503 to every request for `ms` (and ends open watches). */
  unavailable(ms: number): void {
    this.#unavailableUntil = performance.now() + ms;
    this.dropWatches();
  }

  /** The next `n` writes (PUT, PATCH) of objects answer 409 Conflict. */
  conflictNextWrite(n = 1): void {
    this.#conflicts += n;
  }

  /** Installs the CRD of a kind started {@link FakeApiServerOptions.absent}: served from now on. */
  installCrd(kind: string): void {
    this.#absent.delete(kind);
  }

  /** Removes the CRD of a kind: its objects are deleted, its watches end, and it answers 404. */
  removeCrd(kind: string): void {
    const def = this.def(kind);
    for (const o of this.store.list(def, undefined, {}))
      this.store.delete(def, o.metadata.namespace ?? "", o.metadata.name);
    this.#absent.add(kind);
    for (const w of [...this.#watches]) if (w.def === def) w.close();
  }

  /** Sends a BOOKMARK to every open watch now. */
  bookmark(): void {
    for (const w of this.#watches) this.#sendBookmark(w);
  }

  // ----- helpers for tests

  def(kind: string): ResourceDef {
    const d = RESOURCES.find((r) => r.kind === kind);
    if (d === undefined) throw new Error(`fake API server: no kind ${kind}`);
    return d;
  }

  /** Creates or replaces an object as kubectl apply would (no resourceVersion needed). */
  apply(obj: Obj): Obj {
    const def = this.def(String(obj.kind));
    const ns = def.namespaced ? (obj.metadata.namespace ?? "default") : "";
    const existing = this.store.table(def).get(`${ns}/${obj.metadata.name}`);
    if (existing === undefined) return this.store.create(def, ns, obj);
    const body = {
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: existing.metadata.resourceVersion },
    };
    return this.store.update(def, ns, obj.metadata.name, body, "");
  }

  get(kind: string, namespace: string, name: string): Obj | undefined {
    return this.store.table(this.def(kind)).get(`${namespace}/${name}`);
  }

  remove(kind: string, namespace: string, name: string): void {
    this.store.delete(this.def(kind), namespace, name);
  }

  /** Requests logged after `from` that match. */
  writes(from = 0): RequestRecord[] {
    return this.requests.slice(from).filter((r) => ["create", "update", "patch", "delete"].includes(r.verb));
  }

  // ----- HTTP

  #fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const e = err instanceof ApiError ? err : new ApiError(500, "InternalError", String(err));
    send(res, e.code, status(e.code, e.reason, e.message));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "https://x");
    const rec: RequestRecord = {
      method: req.method ?? "GET",
      path: `${url.pathname}${url.search}`,
      verb: "",
      group: "",
      resource: "",
      subresource: "",
      namespace: "",
      name: "",
      status: 0,
      user: "",
    };
    const finish = (code: number): void => {
      rec.status = code;
      this.requests.push(rec);
      this.emit("request", rec);
    };
    res.on("finish", () => {
      if (rec.status === 0) finish(res.statusCode);
    });
    res.on("close", () => {
      if (rec.status === 0) finish(res.statusCode);
    });

    const auth = req.headers.authorization ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    const user = this.#tokens[token];
    if (user === undefined) {
      send(res, 401, status(401, "Unauthorized", "Unauthorized"));
      return;
    }
    rec.user = user;
    if (performance.now() < this.#unavailableUntil) {
      send(
        res,
        503,
        status(503, "ServiceUnavailable", "the server is currently unable to handle the request"),
      );
      return;
    }
    const body = await readJson(req);

    // Discovery.
    const p = url.pathname.replace(/\/+$/, "");
    if (p === "/version") return send(res, 200, { major: "1", minor: "32", gitVersion: "v1.32.0-fake" });
    if (p === "/api")
      return send(res, 200, { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] });
    if (p === "/apis") return send(res, 200, this.#groupList());
    if (p.startsWith("/openapi"))
      return send(res, 404, status(404, "NotFound", "the server could not find the requested resource"));
    const gv = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(p);
    if (gv) {
      const list = this.#resourceList(gv[2] ?? "", gv[1] ?? gv[3] ?? "");
      // A group version nothing is served at is not found, as on a real server.
      return list === undefined
        ? send(res, 404, status(404, "NotFound", "the server could not find the requested resource"))
        : send(res, 200, list);
    }
    const g = /^\/apis\/([^/]+)$/.exec(p);
    if (g) {
      const group = this.#groupList().groups.find((x) => x.name === g[1]);
      return group === undefined
        ? send(res, 404, status(404, "NotFound", "not found"))
        : send(res, 200, { kind: "APIGroup", apiVersion: "v1", ...group });
    }

    // Resources: /api/v1/[namespaces/NS/]PLURAL[/NAME[/SUB]] or /apis/G/V/...
    const m =
      /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(
        p,
      );
    if (!m)
      return send(res, 404, status(404, "NotFound", "the server could not find the requested resource"));
    const group = m[2] ?? "";
    const version = m[1] ?? m[3] ?? "";
    const ns = m[4] !== undefined ? decodeURIComponent(m[4]) : undefined;
    const plural = m[5] ?? "";
    const name = m[6] !== undefined ? decodeURIComponent(m[6]) : "";
    const sub = m[7] ?? "";
    const def = RESOURCES.find((r) => r.group === group && r.plural === plural && this.#served(r, version));
    if (def === undefined)
      return send(
        res,
        404,
        status(404, "NotFound", `the server could not find the requested resource (${plural})`),
      );
    Object.assign(rec, { group, resource: def.plural, subresource: sub, namespace: ns ?? "", name });
    const method0 = req.method ?? "GET";
    rec.verb =
      method0 === "GET"
        ? name === ""
          ? url.searchParams.get("watch") === "true"
            ? "watch"
            : "list"
          : "get"
        : (({ POST: "create", PUT: "update", PATCH: "patch", DELETE: "delete" } as Record<string, string>)[
            method0
          ] ?? method0);
    if (this.forbid?.(rec) === true) {
      const what = `${def.plural}${sub === "" ? "" : `/${sub}`}${def.group === "" ? "" : `.${def.group}`}`;
      throw new ApiError(
        403,
        "Forbidden",
        `${what} is forbidden: User "${user}" cannot ${rec.verb} resource "${def.plural}" in API group "${def.group}"${ns === undefined ? " at the cluster scope" : ` in the namespace "${ns}"`}`,
      );
    }
    const nsKey = def.namespaced ? (ns ?? "") : "";
    const method = req.method ?? "GET";

    if (method === "GET" && name === "") {
      if (url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1") {
        rec.verb = "watch";
        return this.#watch(req, res, def, ns, url.searchParams, rec);
      }
      rec.verb = "list";
      return this.#list(res, def, ns, url.searchParams, version);
    }
    if (name === "" && method === "POST") {
      rec.verb = "create";
      if (def.namespaced && ns === undefined) throw new ApiError(404, "NotFound", "a namespace is required");
      const created = this.store.create(def, nsKey, body as Obj);
      return send(res, 201, asVersion(created, version));
    }
    if (name === "") throw new ApiError(405, "MethodNotAllowed", `${method} on a collection`);
    if (sub !== "" && sub !== "status") throw new ApiError(404, "NotFound", `no subresource ${sub}`);
    if (sub === "status" && !def.status)
      throw new ApiError(404, "NotFound", `${def.plural} has no status subresource`);
    const subres = sub === "status" ? "status" : "";
    switch (method) {
      case "GET":
        rec.verb = "get";
        return send(res, 200, asVersion(this.store.get(def, nsKey, name), version));
      case "PUT":
        rec.verb = "update";
        this.#maybeConflict(def, name);
        return send(res, 200, asVersion(this.store.update(def, nsKey, name, body as Obj, subres), version));
      case "PATCH": {
        rec.verb = "patch";
        const type = req.headers["content-type"] ?? "";
        if (!/merge-patch\+json|strategic-merge-patch\+json/.test(type))
          throw new ApiError(
            415,
            "UnsupportedMediaType",
            `the body of the request was in an unknown format: ${type}`,
          );
        this.#maybeConflict(def, name);
        return send(res, 200, asVersion(this.store.patch(def, nsKey, name, body, subres), version));
      }
      case "DELETE":
        rec.verb = "delete";
        this.store.delete(def, nsKey, name);
        return send(res, 200, status(200, "", "deleted", "Success"));
      default:
        throw new ApiError(405, "MethodNotAllowed", method);
    }
  }

  #maybeConflict(def: ResourceDef, name: string): void {
    if (this.#conflicts > 0 && def.kind !== "Lease") {
      this.#conflicts--;
      throw new ApiError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${def.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
  }

  #served(r: ResourceDef, version: string): boolean {
    if (this.#absent.has(r.kind)) return false;
    if (r.kind === "ReferenceGrant" && !this.#rgV1) return version === "v1beta1";
    if (r.kind === "BackendTLSPolicy") return version === this.#btlsVersion;
    return r.version === version || (r.alsoVersions ?? []).includes(version);
  }

  #groupList(): {
    kind: string;
    apiVersion: string;
    groups: {
      name: string;
      versions: { groupVersion: string; version: string }[];
      preferredVersion: { groupVersion: string; version: string };
    }[];
  } {
    const groups = new Map<string, Set<string>>();
    for (const r of RESOURCES) {
      if (r.group === "") continue;
      const vs = groups.get(r.group) ?? new Set<string>();
      for (const v of [r.version, ...(r.alsoVersions ?? [])]) if (this.#served(r, v)) vs.add(v);
      if (vs.size > 0) groups.set(r.group, vs);
    }
    return {
      kind: "APIGroupList",
      apiVersion: "v1",
      groups: [...groups].map(([name, vs]) => {
        const versions = [...vs]
          .sort()
          .reverse()
          .map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
        return { name, versions, preferredVersion: versions[0]! };
      }),
    };
  }

  #resourceList(group: string, version: string): unknown {
    const resources: unknown[] = [];
    const served = RESOURCES.filter((x) => x.group === group && this.#served(x, version));
    if (served.length === 0) return undefined;
    for (const r of served) {
      resources.push({
        name: r.plural,
        singularName: r.kind.toLowerCase(),
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
      });
      if (r.status) {
        resources.push({
          name: `${r.plural}/status`,
          singularName: "",
          namespaced: r.namespaced,
          kind: r.kind,
          verbs: ["get", "patch", "update"],
        });
      }
    }
    return {
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: group === "" ? version : `${group}/${version}`,
      resources,
    };
  }

  #list(
    res: ServerResponse,
    def: ResourceDef,
    ns: string | undefined,
    q: URLSearchParams,
    version: string,
  ): void {
    const all = this.store.list(def, ns, {
      ...(q.has("labelSelector") ? { labels: q.get("labelSelector") ?? "" } : {}),
      ...(q.has("fieldSelector") ? { fields: q.get("fieldSelector") ?? "" } : {}),
    });
    const limit = Number(q.get("limit") ?? "0");
    const cont = q.get("continue");
    let start = 0;
    let rv = String(this.store.rv);
    if (cont !== null && cont !== "") {
      const c = JSON.parse(Buffer.from(cont, "base64").toString("utf8")) as { start: number; rv: string };
      if (Number(c.rv) < this.store.compactedTo)
        throw new ApiError(410, "Expired", "the provided continue parameter is too old");
      start = c.start;
      rv = c.rv;
    }
    const items = limit > 0 ? all.slice(start, start + limit) : all.slice(start);
    const more = limit > 0 && start + limit < all.length;
    const apiVersion = def.group === "" ? version : `${def.group}/${version}`;
    send(res, 200, {
      kind: `${def.kind}List`,
      apiVersion,
      metadata: {
        resourceVersion: rv,
        ...(more
          ? { continue: Buffer.from(JSON.stringify({ start: start + limit, rv })).toString("base64") }
          : {}),
      },
      // Lists carry no apiVersion and kind on their items, as a real server's.
      items: items.map((o) => {
        const { apiVersion: _a, kind: _k, ...rest } = o;
        return rest;
      }),
    });
  }

  #watch(
    _req: IncomingMessage,
    res: ServerResponse,
    def: ResourceDef,
    ns: string | undefined,
    q: URLSearchParams,
    rec: RequestRecord,
  ): void {
    const labels = q.get("labelSelector") ?? undefined;
    const fields = q.get("fieldSelector") ?? undefined;
    const from = Number(q.get("resourceVersion") || String(this.store.rv));
    if (this.#goneNext > 0 || (from > 0 && from < this.store.compactedTo)) {
      if (this.#goneNext > 0) this.#goneNext--;
      // A real server answers 200 and one ERROR event with a 410 Status.
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        `${JSON.stringify({ type: "ERROR", object: status(410, "Expired", `too old resource version: ${from} (${this.store.compactedTo})`) })}\n`,
      );
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    res.flushHeaders();
    // A watch is logged when it opens, not when it ends.
    rec.status = 200;
    this.requests.push(rec);
    this.emit("request", rec);
    const match = (d: ResourceDef, ev: WatchEvent): boolean =>
      d === def &&
      (ns === undefined || (ev.object.metadata.namespace ?? "") === ns) &&
      matchesSel(ev.object, labels, fields);
    const write = (ev: WatchEvent): void => {
      res.write(`${JSON.stringify({ type: ev.type, object: ev.object })}\n`);
    };
    for (const h of this.store.history) if (h.ev.rv > from && match(h.def, h.ev)) write(h.ev);
    const off = this.store.onEvent((d, ev) => {
      if (match(d, ev)) write(ev);
    });
    const timeout = Number(q.get("timeoutSeconds") ?? "0");
    const bookmarks = q.get("allowWatchBookmarks") === "true";
    const w: OpenWatch = {
      res,
      def,
      close: () => {
        off();
        clearInterval(tick);
        clearTimeout(end);
        this.#watches.delete(w);
        if (!res.writableEnded) res.end();
      },
    };
    const tick = setInterval(() => {
      if (bookmarks) this.#sendBookmark(w);
    }, this.#bookmarkMs);
    const end = setTimeout(() => w.close(), timeout > 0 ? timeout * 1000 : 3_600_000);
    this.#watches.add(w);
    res.on("close", () => w.close());
  }

  #sendBookmark(w: OpenWatch): void {
    const apiVersion = w.def.group === "" ? w.def.version : `${w.def.group}/${w.def.version}`;
    w.res.write(
      `${JSON.stringify({ type: "BOOKMARK", object: { kind: w.def.kind, apiVersion, metadata: { resourceVersion: String(this.store.rv) } } })}\n`,
    );
  }
}

function matchesSel(o: Obj, labels: string | undefined, fields: string | undefined): boolean {
  return matchesLabels(o.metadata.labels ?? {}, labels) && matchesFields(o, fields);
}

function asVersion(o: Obj, version: string): Obj {
  if (o.apiVersion === undefined || !o.apiVersion.includes("/")) return o;
  const group = o.apiVersion.slice(0, o.apiVersion.lastIndexOf("/"));
  return { ...o, apiVersion: `${group}/${version}` };
}

function status(code: number, reason: string, message: string, st = "Failure"): Record<string, unknown> {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: st, message, reason, code };
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (chunks.length === 0) return undefined;
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    // kubectl sends JSON; YAML bodies are not accepted (a real server takes them with the right type).
    throw new ApiError(400, "BadRequest", "the body is not JSON");
  }
}
