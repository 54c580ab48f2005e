/**
 * The gRPC test kit: real grpc-js backends and clients on 127.0.0.1, port 0.
 * @internal test-only
 */
export * from "./backend.js";
export * from "./clients.js";
export * from "./gateway.js";
export * from "./protos.js";
export * from "./raw.js";
export * from "./recovery.js";
export * from "./tables.js";
export * from "./tls.js";
export * from "./wait.js";
