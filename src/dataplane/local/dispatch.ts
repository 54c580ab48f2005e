/**
 * Which calls of a listener port the gateway answers itself, decided per routing table: reflection (on
 * every listener whose routes do not take the reflection service themselves) and, on listeners where a
 * TrafficPolicy enables transcoding for some rule, requests that are not gRPC (JSON transcoding). `claim`
 * is asked for every call after routing; for a plain gRPC call it compares the path with the two
 * reflection paths and reads one flag.
 */
import type { IrCluster, IrEndpoint, IrListener, RoutingTable } from "../../ir/routing-table.js";
import type { RelayCall } from "../relay/call.js";
import { fieldValue, headerRecord } from "../relay/headers.js";
import {
  type CompiledListener,
  CompiledRouter,
  compileListener,
  hostFromAuthority,
  type RequestHeaders,
  type RouteMatch,
  type Router,
} from "../router.js";
import type { BackendClient } from "./backend-client.js";
import type { BackendReflection } from "./backend-reflection.js";
import { BodyQueue } from "./body-queue.js";
import { routesReflection } from "./listing.js";
import { RelayLocalResponse } from "./local-call.js";
import { isReflectionPath } from "./messages.js";
import { ReflectionCall } from "./reflection.js";
import {
  type TranscodeContext,
  type TranscodeRequest,
  type TranscodeResponse,
  transcode,
} from "./transcode.js";

/** What local handlers share across tables: the backends' reflection and the gateway-made calls. */
export interface LocalEnv {
  backends: BackendReflection;
  client: BackendClient;
  pickEndpoint(cluster: IrCluster): IrEndpoint | undefined;
  /** Largest transcoded request body (bytes). */
  transcodingBodyLimit: number;
}

interface ListenerInfo {
  compiled: CompiledListener;
  /** A route of the listener takes the reflection service: its calls are routed like any other. */
  routesReflection: boolean;
  /** Some rule of the listener enables transcoding. */
  transcodes: boolean;
}

const EMPTY = Buffer.alloc(0);

export class LocalServices {
  private readonly listeners = new Map<IrListener, ListenerInfo>();
  /** Some listener of the port transcodes: calls that are not gRPC are looked at. */
  private readonly transcoding: boolean;

  constructor(
    private readonly router: Router,
    private readonly table: RoutingTable,
    private readonly env: LocalEnv,
  ) {
    const compiled =
      router instanceof CompiledRouter ? router.compiled : router.listeners.map(compileListener);
    let any = false;
    for (const c of compiled) {
      const transcodes = c.listener.routes.some((r) => r.policy?.transcoding?.enabled === true);
      any ||= transcodes;
      this.listeners.set(c.listener, { compiled: c, routesReflection: routesReflection(c), transcodes });
    }
    this.transcoding = any;
  }

  /**
   * Takes `call` when the gateway answers it itself (its answer then goes out through `call`); false for a
   * call to relay. `fields` hold the request's regular headers; `endStream`: the request has no body.
   */
  claim(
    call: RelayCall,
    m: RouteMatch,
    method: string,
    fields: readonly string[],
    endStream: boolean,
  ): boolean {
    if (isReflectionPath(call.path)) return this.claimReflection(call, m, fields, endStream);
    if (!this.transcoding || m.listener === undefined) return false;
    const l = this.listeners.get(m.listener);
    if (l === undefined || !l.transcodes) return false;
    const ct = fieldValue(fields, "content-type") ?? "";
    if (ct.startsWith("application/grpc")) return false;
    const body = new BodyQueue();
    call.local = { data: (c, end) => body.push(c, end), abort: () => body.abort() };
    call.gatewayError = "answered by the gateway (JSON transcoding)";
    if (endStream) body.push(EMPTY, true);
    const headers = headerRecord(fields);
    const res = new RelayLocalResponse(call);
    const out: TranscodeResponse = {
      writeHead: (status, h) => res.head(status, Object.entries(h).flat()),
      write: (chunk) => res.write(chunk),
      end: (code) => res.end(null, code),
      get closed() {
        return res.closed;
      },
      queued: () => res.queued(),
    };
    void transcode({ method, path: call.path, headers, body }, out, this.context(l, call.authority, headers));
    return true;
  }

  /**
   * JSON transcoding of a request that did not come through the relay's HTTP/2 path (an HTTP/1.1 server):
   * true when the listener chosen by `authority` transcodes and the request is not gRPC, and then `res`
   * gets the answer; false when the caller should answer it another way.
   */
  serveHttp(req: TranscodeRequest, res: TranscodeResponse, authority: string): boolean {
    const q = req.path.indexOf("?");
    const m = this.router.match(authority, q < 0 ? req.path : req.path.slice(0, q), req.headers);
    const l = m.listener === undefined ? undefined : this.listeners.get(m.listener);
    if (l === undefined || !l.transcodes) return false;
    const ct = req.headers["content-type"];
    if (typeof ct === "string" && ct.startsWith("application/grpc")) return false;
    void transcode(req, res, this.context(l, authority, req.headers));
    return true;
  }

  /** Whether the gateway answers reflection on `listener` (for `explain` and tests). */
  answersReflection(listener: IrListener): boolean {
    const l = this.listeners.get(listener);
    return l !== undefined && !l.routesReflection;
  }

  private context(l: ListenerInfo, authority: string, headers: RequestHeaders): TranscodeContext {
    return {
      listener: l.compiled,
      table: this.table,
      host: hostFromAuthority(authority),
      authority,
      headers,
      route: (p) => this.router.match(authority, p, headers),
      backends: this.env.backends,
      client: this.env.client,
      pickEndpoint: this.env.pickEndpoint,
      bodyLimit: this.env.transcodingBodyLimit,
    };
  }

  private claimReflection(
    call: RelayCall,
    m: RouteMatch,
    fields: readonly string[],
    endStream: boolean,
  ): boolean {
    const l = m.listener === undefined ? undefined : this.listeners.get(m.listener);
    if (l === undefined || l.routesReflection) return false;
    const handler = new ReflectionCall(
      {
        listener: l.compiled,
        table: this.table,
        host: hostFromAuthority(call.authority),
        headers: headerRecord(fields),
        backends: this.env.backends,
      },
      new RelayLocalResponse(call),
    );
    call.local = handler;
    call.route = undefined;
    call.gatewayError = "answered by the gateway (reflection)";
    if (endStream) handler.data(EMPTY, true);
    return true;
  }
}
