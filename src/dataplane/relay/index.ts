/**
 * The frame-level HTTP/2 relay data path: `new RelayDataplane(opts, upstream?)` has the same API as the
 * node:http2 `Dataplane` (`apply`, `boundPorts`, `stats`, `version`, `close`, `onCallEnd`), so
 * `grpcroute serve --dataplane relay|http2` can choose either.
 */
export type { ConnectionOptions } from "./connection.js";
export { DEFAULT_GRACE_MS, RelayDataplane, type RelayOptions } from "./relay.js";
export type { UpstreamOptions } from "./upstream.js";
