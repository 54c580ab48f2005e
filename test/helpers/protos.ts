/**
 * Loads the test protos (`helloworld.Greeter` and `grpcroute.test.Tester`) with @grpc/proto-loader.
 * @internal test-only
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/** Directory holding `helloworld.proto` and `test.proto`. */
export const PROTO_DIR = fileURLToPath(new URL("./protos/", import.meta.url));

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

function load(file: string): grpc.GrpcObject {
  const def = protoLoader.loadSync(`${PROTO_DIR}${file}`, LOADER_OPTIONS);
  return grpc.loadPackageDefinition(def);
}

function lookup(root: grpc.GrpcObject, dotted: string): grpc.ServiceClientConstructor {
  let cur: unknown = root;
  for (const part of dotted.split(".")) cur = (cur as Record<string, unknown>)[part];
  if (typeof cur !== "function") throw new Error(`test proto: service ${dotted} not found`);
  return cur as grpc.ServiceClientConstructor;
}

/** The package definitions of `helloworld.proto` and `test.proto` together (what reflection describes). */
export const TEST_PACKAGES: protoLoader.PackageDefinition = protoLoader.loadSync(
  [`${PROTO_DIR}helloworld.proto`, `${PROTO_DIR}test.proto`],
  LOADER_OPTIONS,
);

const helloRoot = load("helloworld.proto");
const healthRoot = load("health.proto");
const testRoot = load("test.proto");

/** `helloworld.Greeter` client constructor (service definition on `.service`). */
export const Greeter = lookup(helloRoot, "helloworld.Greeter");
/** `grpcroute.test.Tester`: one method of each call kind. */
export const Tester = lookup(testRoot, "grpcroute.test.Tester");
/** `grpc.health.v1.Health`: what the gateway's health checks call. */
export const Health = lookup(healthRoot, "grpc.health.v1.Health");

/** `grpcroute.test.Other`: a second service with a Unary method, for routing by service. */
export const Other = lookup(testRoot, "grpcroute.test.Other");

export const GREETER_SERVICE = "helloworld.Greeter";
export const TESTER_SERVICE = "grpcroute.test.Tester";
export const OTHER_SERVICE = "grpcroute.test.Other";

/** `helloworld.HelloRequest` */
export interface HelloRequest {
  name: string;
}
/** `helloworld.HelloReply` */
export interface HelloReply {
  message: string;
}

/** `grpcroute.test.Request` (all fields optional when sending). */
export interface TestRequest {
  payload?: Buffer;
  responseSize?: number;
  responseCount?: number;
  delayMs?: number;
  failCode?: number;
  failMessage?: string;
  intervalMs?: number;
  silent?: boolean;
}

/** `grpcroute.test.Reply` as decoded (defaults filled in). */
export interface TestReply {
  backend: string;
  payload: Buffer;
  receivedBytes: number;
  receivedMessages: number;
  index: number;
  authority: string;
  metadata: Record<string, string>;
  path: string;
}
