/** The data plane's public surface. */
export { Dataplane, DEFAULT_GRACE_MS, type UpstreamOptions } from "./dataplane.js";
export {
  compileRouter,
  compileRouters,
  hostFromAuthority,
  parseGrpcPath,
  type RouteMatch,
  type Router,
} from "./router.js";
export type { CallInfo, DataplaneApi, DataplaneOptions, DataplaneStats } from "./types.js";
