/**
 * The frame-level HTTP/2 relay data path: `new RelayDataplane(opts)` has the same API as the node:http2
 * `Dataplane` (`apply`, `boundPorts`, `stats`, `close`, `onCallEnd`), so `grpcroute serve` can choose either.
 */

export type { ConnectionOptions } from "./connection.js";
export { RelayDataplane, type RelayOptions } from "./relay.js";
export type { UpstreamOptions } from "./upstream.js";
