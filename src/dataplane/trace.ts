/**
 * Tracing for the data plane, off by default and free when off: `NODE_DEBUG=grpcroute` prints gateway-made
 * errors and upstream session events to stderr (Node's `util.debuglog`, as `GRPC_TRACE` does for grpc-js).
 * Access logs and metrics come from `onCallEnd`, not from here.
 */
import { debuglog } from "node:util";

/** Writes a trace line when `NODE_DEBUG` includes `grpcroute`; check `trace.enabled` before building args. */
export const trace = debuglog("grpcroute");
