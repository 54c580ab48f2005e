// Types of greeter-server.mjs, for the TypeScript tests that start example backends.

/** Absolute path of examples/helloworld.proto. */
export const PROTO_PATH: string;

/** A running greeter backend. */
export interface Greeter {
  name: string;
  /** `host:port` actually bound. */
  address: string;
  /** Stops it; calls in flight get up to a second. */
  close(): Promise<void>;
}

/** Starts a helloworld.Greeter backend (h2c) that names itself in every answer. Port 0 picks a free port. */
export function startGreeter(opts: { name: string; host?: string; port: number }): Promise<Greeter>;

/** The helloworld.Greeter client constructor (grpc-js service client). */
export function greeterDefinition(): unknown;
