/**
 * Log lines for endpoint events of TrafficPolicy health checks and outlier detection: an endpoint turning
 * unhealthy or being ejected is a warning, its return is information, and a backend entering panic routing
 * (every endpoint unhealthy, calls sent to them anyway) is a warning of its own.
 */
import type { EndpointEvent } from "../dataplane/relay/endpoint-group.js";
import type { Logger } from "./logger.js";

const MESSAGES: Record<EndpointEvent["kind"], string> = {
  unhealthy: "endpoint unhealthy: out of the pick",
  healthy: "endpoint healthy: back in the pick",
  ejected: "endpoint ejected (outlier detection)",
  returned: "endpoint back after its ejection",
  panic: "panic routing: every endpoint of the backend is unhealthy, calls go to them anyway",
  "panic-over": "panic routing over: the backend has a healthy endpoint again",
};

/** Writes one line for `e`. */
export function logEndpointEvent(log: Logger, e: EndpointEvent): void {
  const fields: Record<string, string> = { backend: e.backend, reason: e.reason };
  if (e.endpoint !== "") fields.endpoint = e.endpoint;
  const warn = e.kind === "unhealthy" || e.kind === "ejected" || e.kind === "panic";
  if (warn) log.warn(fields, MESSAGES[e.kind]);
  else log.info(fields, MESSAGES[e.kind]);
}
