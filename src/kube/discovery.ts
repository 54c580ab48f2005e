/**
 * API discovery, as kubectl and client-go do it: which versions of a group are served, and which resources
 * each version holds. Used once at start for the kinds controller mode needs (an API server without them is
 * an error, retried), and again with backoff for the kinds whose CRD may be missing.
 */
import { GATEWAY_GROUP } from "../api/types.js";
import { GatewayError, GW_ERR_KUBE_API } from "../util/errors.js";
import { KubeApiError, type KubeClient } from "./client.js";
import { groupVersionPath, type KindEntry } from "./kinds.js";

/** The Gateway API kinds without which there is nothing to serve. */
const REQUIRED = ["gatewayclasses", "gateways", "grpcroutes"];

export class Discovery {
  readonly #client: KubeClient;

  constructor(client: KubeClient) {
    this.#client = client;
  }

  /** Throws a {@link GatewayError} naming what to install when the API server has no GRPCRoute v1. */
  async checkRequired(signal: AbortSignal): Promise<void> {
    const group = await this.#client.request<{ versions?: { version?: string }[] }>(
      "GET",
      `/apis/${GATEWAY_GROUP}`,
      { signal },
    );
    const versions = (group.versions ?? []).map((v) => v.version);
    if (!versions.includes("v1")) {
      throw new GatewayError(
        GW_ERR_KUBE_API,
        `the API server does not serve ${GATEWAY_GROUP}/v1: install the Gateway API CRDs (standard channel)`,
      );
    }
    const names = (await this.#resources(GATEWAY_GROUP, "v1", signal)) ?? new Set<string>();
    for (const r of REQUIRED) {
      if (!names.has(r)) {
        throw new GatewayError(
          GW_ERR_KUBE_API,
          `the API server does not serve ${r}.${GATEWAY_GROUP}/v1: install the Gateway API CRDs (standard channel, v1.1 or later for GRPCRoute v1)`,
        );
      }
    }
  }

  /**
   * The first of the entry's versions the API server serves the kind at; undefined when none does (404 on
   * the group version, or a resource list without it). Other failures reject.
   */
  async version(e: KindEntry, signal: AbortSignal): Promise<string | undefined> {
    for (const v of e.versions) {
      const names = await this.#resources(e.group, v, signal);
      if (names?.has(e.plural)) return v;
    }
    return undefined;
  }

  /** The resource names of a group version; undefined when it is not served. */
  async #resources(group: string, version: string, signal: AbortSignal): Promise<Set<string> | undefined> {
    try {
      const list = await this.#client.request<{ resources?: { name?: string }[] }>(
        "GET",
        groupVersionPath(group, version),
        { signal },
      );
      return new Set((list.resources ?? []).map((r) => r.name ?? ""));
    } catch (err: unknown) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }
}
