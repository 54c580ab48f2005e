/**
 * Which calls of a listener port the gateway answers itself, decided per routing table: reflection (on
 * every listener whose routes do not take the reflection service themselves) and, where a TrafficPolicy
 * enables it, JSON transcoding. `claim` is asked for every call after routing; for a plain gRPC call it
 * compares the path with the two reflection paths and reads one flag.
 */
import type { IrListener, RoutingTable } from "../../ir/routing-table.js";
import type { RelayCall } from "../relay/call.js";
import { headerRecord } from "../relay/headers.js";
import {
  type CompiledListener,
  CompiledRouter,
  compileListener,
  hostFromAuthority,
  type RouteMatch,
  type Router,
} from "../router.js";
import type { BackendReflection } from "./backend-reflection.js";
import { routesReflection } from "./listing.js";
import { RelayLocalResponse } from "./local-call.js";
import { isReflectionPath } from "./messages.js";
import { ReflectionCall } from "./reflection.js";

/** What local handlers share across tables: the backends' reflection and the gateway-made calls. */
export interface LocalEnv {
  backends: BackendReflection;
}

interface ListenerInfo {
  compiled: CompiledListener;
  /** A route of the listener takes the reflection service: its calls are routed like any other. */
  routesReflection: boolean;
}

const EMPTY = Buffer.alloc(0);

export class LocalServices {
  private readonly listeners = new Map<IrListener, ListenerInfo>();

  constructor(
    router: Router,
    private readonly table: RoutingTable,
    private readonly env: LocalEnv,
  ) {
    const compiled =
      router instanceof CompiledRouter ? router.compiled : router.listeners.map(compileListener);
    for (const c of compiled)
      this.listeners.set(c.listener, { compiled: c, routesReflection: routesReflection(c) });
  }

  /**
   * Takes `call` when the gateway answers it itself (its answer then goes out through `call`); false for a
   * call to relay. `fields` are the request's regular headers; `endStream`: the request has no body.
   */
  claim(call: RelayCall, m: RouteMatch, fields: readonly string[], endStream: boolean): boolean {
    if (!isReflectionPath(call.path)) return false;
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

  /** Whether the gateway answers reflection on `listener` (for `explain` and tests). */
  answersReflection(listener: IrListener): boolean {
    const l = this.listeners.get(listener);
    return l !== undefined && !l.routesReflection;
  }
}
