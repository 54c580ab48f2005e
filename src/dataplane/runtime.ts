/**
 * The immutable runtime form of one applied routing table: routers per listener port, the compiled forward
 * actions (weights, clusters, mirrors) and the cluster pickers. A call reads one `TableRuntime` when it
 * starts and keeps it to the end, which is what makes `apply()` atomic for calls in flight.
 */
import type {
  IrBackend,
  IrCluster,
  IrDirect,
  IrForward,
  IrHeaderModifier,
  RoutingTable,
} from "../ir/routing-table.js";
import { GrpcCode } from "./grpc-status.js";
import { compileRouters, type Router } from "./router.js";
import { type Balancer, ClusterRuntime, type EndpointState } from "./upstream/cluster.js";

/** One backendRef of a forward action, ready to use. */
export interface BackendPlan {
  /** Running sum of weights up to and including this backend. */
  readonly upTo: number;
  readonly backend: IrBackend;
  /** The cluster to call; undefined when the backend answers `direct` instead. */
  readonly cluster: ClusterRuntime | undefined;
  /** What this backend's share gets when it cannot be called (invalid backendRef, unknown cluster). */
  readonly direct: IrDirect | undefined;
  readonly requestHeaders: readonly IrHeaderModifier[];
  readonly responseHeaders: readonly IrHeaderModifier[];
}

export interface MirrorPlan {
  readonly cluster: ClusterRuntime;
  readonly numerator: number;
  readonly denominator: number;
}

/** A compiled `IrForward`. */
export interface ForwardPlan {
  /** Sum of weights; 0 means every backend has weight 0 (then `allZero` answers). */
  readonly total: number;
  readonly backends: readonly BackendPlan[];
  readonly mirrors: readonly MirrorPlan[];
  readonly allZero: IrDirect;
}

export interface TableRuntime {
  readonly version: number;
  readonly routers: ReadonlyMap<number, Router>;
  readonly forwards: ReadonlyMap<IrForward, ForwardPlan>;
  readonly clusters: ReadonlyMap<string, ClusterRuntime>;
}

/** Looks up (or creates) the shared state of an endpoint. */
export type EndpointFactory = (cluster: IrCluster, host: string, port: number) => EndpointState;

function modifiers(...ms: (IrHeaderModifier | undefined)[]): IrHeaderModifier[] {
  return ms.filter((m): m is IrHeaderModifier => m !== undefined);
}

/** Builds the runtime of a table. Pure apart from `endpoint()`, which shares endpoint state across tables. */
export function buildRuntime(
  table: RoutingTable,
  endpoint: EndpointFactory,
  balancer: Balancer,
): TableRuntime {
  const clusters = new Map<string, ClusterRuntime>();
  for (const [name, c] of Object.entries(table.clusters)) {
    clusters.set(
      name,
      new ClusterRuntime(
        c,
        c.endpoints.map((e) => endpoint(c, e.host, e.port)),
        balancer,
      ),
    );
  }
  const forwards = new Map<IrForward, ForwardPlan>();
  for (const l of table.listeners) {
    for (const r of l.routes) {
      const a = r.action;
      if (a.kind !== "forward" || forwards.has(a)) continue;
      let total = 0;
      const backends: BackendPlan[] = [];
      for (const b of a.backends) {
        if (!(b.weight > 0)) continue;
        total += b.weight;
        const cluster = b.cluster === undefined ? undefined : clusters.get(b.cluster);
        let direct: IrDirect | undefined;
        if (b.invalid !== undefined) direct = b.invalid;
        else if (cluster === undefined)
          direct = {
            kind: "direct",
            grpcStatus: GrpcCode.UNAVAILABLE,
            message: `backend ${b.source.namespace}/${b.source.name} has no cluster`,
          };
        backends.push({
          upTo: total,
          backend: b,
          cluster: direct === undefined ? cluster : undefined,
          direct,
          requestHeaders: modifiers(a.requestHeaders, b.requestHeaders),
          responseHeaders: modifiers(a.responseHeaders, b.responseHeaders),
        });
      }
      const mirrors: MirrorPlan[] = [];
      for (const m of a.mirrors) {
        const cluster = clusters.get(m.cluster);
        if (cluster !== undefined && m.numerator > 0 && m.denominator > 0)
          mirrors.push({ cluster, numerator: m.numerator, denominator: m.denominator });
      }
      forwards.set(a, {
        total,
        backends,
        mirrors,
        allZero: {
          kind: "direct",
          grpcStatus: GrpcCode.UNAVAILABLE,
          message: `every backend of route ${r.name} has weight 0`,
        },
      });
    }
  }
  return { version: table.version, routers: compileRouters(table.listeners), forwards, clusters };
}

/** Weighted pick of a backend for one call. */
export function pickBackend(plan: ForwardPlan): BackendPlan | undefined {
  const bs = plan.backends;
  if (bs.length === 1) return bs[0];
  const r = Math.random() * plan.total;
  for (const b of bs) if (r < b.upTo) return b;
  return bs[bs.length - 1];
}
