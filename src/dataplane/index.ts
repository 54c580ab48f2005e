/** The data plane's public surface: the frame-level HTTP/2 relay (`relay/`) and the shared router. */
export type { ConnectionOptions } from "./relay/connection.js";
export {
  DEFAULT_GRACE_MS,
  RelayDataplane as Dataplane,
  type RelayOptions as DataplaneSettings,
} from "./relay/relay.js";
export type { UpstreamOptions } from "./relay/upstream.js";
export {
  compileRouter,
  compileRouters,
  hostFromAuthority,
  parseGrpcPath,
  type RouteMatch,
  type Router,
} from "./router.js";
export type { CallInfo, DataplaneApi, DataplaneOptions, DataplaneStats } from "./types.js";
