/**
 * The data plane of `serve --workers N` with the constructor of the in-process data planes, so the data-plane
 * test suite can run through worker processes (GRPCROUTE_TEST_WORKERS=N, see test/helpers/gateway.ts). Each finished
 * call is forwarded to the test process. GRPCROUTE_TEST_WORKERS (default 2) says how many workers.
 * @internal test-only
 */
import type { DataplaneOptions } from "../../src/dataplane/types.js";
import { ClusterDataplane, type ClusterDataplaneOptions } from "../../src/runner/workers.js";

export class Dataplane extends ClusterDataplane {
  constructor(opts: DataplaneOptions = {}, upstream: object = {}) {
    const cfg: ClusterDataplaneOptions = {
      workers: Number(process.env.GRPCROUTE_TEST_WORKERS ?? "2"),
      upstream: { ...upstream },
      record: opts.onCallEnd !== undefined ? "forward" : "none",
      logLevel: "silent",
    };
    if (opts.address !== undefined) cfg.address = opts.address;
    if (opts.portMap !== undefined) cfg.portMap = opts.portMap;
    if (opts.balancer !== undefined) cfg.balancer = opts.balancer;
    if (opts.onCallEnd !== undefined) cfg.onCallEnd = opts.onCallEnd;
    if (opts.onCertificateGenerated !== undefined) cfg.onCertificateGenerated = opts.onCertificateGenerated;
    if (opts.onEndpointEvent !== undefined) cfg.onEndpointEvent = opts.onEndpointEvent;
    if (opts.retryBufferBytes !== undefined) cfg.retryBufferBytes = opts.retryBufferBytes;
    super(cfg);
  }
}
