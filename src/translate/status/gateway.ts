/** Gateway status: addresses, Accepted and Programmed, and the listeners' status (reference section 3.2). */
import type { Gateway, GatewayStatus } from "../../api/types.js";
import type { ListenerState } from "../listeners.js";
import { condition, isTrue } from "./conditions.js";
import { CondAccepted, CondProgrammed, CondResolvedRefs, GatewayReason } from "./reasons.js";

/** Address types grpcroute can report; others make the Gateway Accepted=False / UnsupportedAddress. */
const ADDRESS_TYPES = new Set(["IPAddress", "Hostname"]);

/** The Gateway's spec.addresses of a type grpcroute cannot serve (the Gateway is then not accepted). */
export function unsupportedAddressTypes(gateway: Gateway): string[] {
  return (gateway.spec.addresses ?? [])
    .map((a) => a.type ?? "IPAddress")
    .filter((t) => !ADDRESS_TYPES.has(t));
}

/**
 * Why the Gateway's `spec.infrastructure.parametersRef` cannot be honoured, or undefined when it has none.
 * grpcroute takes no Gateway parameters, so any reference is InvalidParameters (the conformance test
 * GatewayInvalidParametersRef). Read from the raw object: the typed spec does not carry the field.
 */
export function unsupportedParameters(gateway: Gateway): string | undefined {
  const spec = gateway.raw.spec;
  if (typeof spec !== "object" || spec === null) return undefined;
  const infra = (spec as Record<string, unknown>).infrastructure;
  if (typeof infra !== "object" || infra === null) return undefined;
  const ref = (infra as Record<string, unknown>).parametersRef;
  if (typeof ref !== "object" || ref === null) return undefined;
  const r = ref as Record<string, unknown>;
  const what = [r.kind, r.name].filter((x) => typeof x === "string").join(" ");
  return `spec.infrastructure.parametersRef (${what || "?"}) cannot be honoured: grpcroute takes no Gateway parameters`;
}

export function gatewayStatus(
  gateway: Gateway,
  listeners: readonly ListenerState[],
  attached: readonly number[],
  defaultAddresses: readonly { type: string; value: string }[],
): GatewayStatus {
  const gen = gateway.metadata.generation;
  const spec = gateway.spec.addresses ?? [];
  const addresses =
    spec.length > 0
      ? spec.map((a) => ({ type: a.type ?? "IPAddress", value: a.value }))
      : defaultAddresses.map((a) => ({ type: a.type, value: a.value }));
  const badAddress = addresses.filter((a) => !ADDRESS_TYPES.has(a.type));

  const valid = listeners.filter(
    (l) => l.accepted && !l.conflicted && isTrue(l.conditions, CondResolvedRefs),
  ).length;
  const badParameters = unsupportedParameters(gateway);
  const conditions = [];
  if (badParameters !== undefined) {
    conditions.push(condition(CondAccepted, "False", GatewayReason.InvalidParameters, badParameters, gen));
  } else if (badAddress.length > 0) {
    conditions.push(
      condition(
        CondAccepted,
        "False",
        GatewayReason.UnsupportedAddress,
        `address type(s) not supported: ${badAddress.map((a) => a.type).join(", ")} (supported: IPAddress, Hostname)`,
        gen,
      ),
    );
  } else if (valid === listeners.length) {
    conditions.push(condition(CondAccepted, "True", GatewayReason.Accepted, "Gateway is accepted", gen));
  } else {
    conditions.push(
      condition(
        CondAccepted,
        valid > 0 ? "True" : "False",
        GatewayReason.ListenersNotValid,
        `${listeners.length - valid} of ${listeners.length} listener(s) are not valid`,
        gen,
      ),
    );
  }
  const programmed = listeners.filter((l) => l.programmed).length;
  conditions.push(
    programmed > 0 && badAddress.length === 0 && badParameters === undefined
      ? condition(
          CondProgrammed,
          "True",
          GatewayReason.Programmed,
          `${programmed} of ${listeners.length} listener(s) programmed`,
          gen,
        )
      : condition(CondProgrammed, "False", GatewayReason.Invalid, "No listener is programmed", gen),
  );
  return {
    addresses,
    conditions,
    listeners: listeners.map((l, i) => ({
      name: l.listener.name,
      supportedKinds: l.supportedKinds,
      attachedRoutes: attached[i] ?? 0,
      conditions: l.conditions,
    })),
  };
}
