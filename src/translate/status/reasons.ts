/**
 * Condition types and reasons, spelled exactly as the Gateway API defines them (reference section 3).
 */

export const CondAccepted = "Accepted";
export const CondResolvedRefs = "ResolvedRefs";
export const CondPartiallyInvalid = "PartiallyInvalid";
export const CondProgrammed = "Programmed";
export const CondConflicted = "Conflicted";
export const CondOverlappingTLSConfig = "OverlappingTLSConfig";

/** Route reasons (reference section 3.1). */
export const RouteReason = {
  Accepted: "Accepted",
  NotAllowedByListeners: "NotAllowedByListeners",
  NoMatchingListenerHostname: "NoMatchingListenerHostname",
  NoMatchingParent: "NoMatchingParent",
  UnsupportedValue: "UnsupportedValue",
  ResolvedRefs: "ResolvedRefs",
  RefNotPermitted: "RefNotPermitted",
  InvalidKind: "InvalidKind",
  BackendNotFound: "BackendNotFound",
  UnsupportedProtocol: "UnsupportedProtocol",
} as const;

/** Listener reasons (reference section 3.2). */
export const ListenerReason = {
  Accepted: "Accepted",
  UnsupportedProtocol: "UnsupportedProtocol",
  UnsupportedValue: "UnsupportedValue",
  ResolvedRefs: "ResolvedRefs",
  InvalidCertificateRef: "InvalidCertificateRef",
  InvalidRouteKinds: "InvalidRouteKinds",
  RefNotPermitted: "RefNotPermitted",
  Programmed: "Programmed",
  Invalid: "Invalid",
  NoConflicts: "NoConflicts",
  HostnameConflict: "HostnameConflict",
  ProtocolConflict: "ProtocolConflict",
  OverlappingHostnames: "OverlappingHostnames",
} as const;

/** Gateway reasons (reference section 3.2). */
export const GatewayReason = {
  Accepted: "Accepted",
  ListenersNotValid: "ListenersNotValid",
  UnsupportedAddress: "UnsupportedAddress",
  InvalidParameters: "InvalidParameters",
  Programmed: "Programmed",
  Invalid: "Invalid",
} as const;

/** Policy reasons (GEP-713 `PolicyConditionReason`, and BackendTLSPolicy's own). */
export const PolicyReason = {
  Accepted: "Accepted",
  Conflicted: "Conflicted",
  Invalid: "Invalid",
  TargetNotFound: "TargetNotFound",
  /** BackendTLSPolicy: every caCertificateRef is invalid. */
  NoValidCACertificate: "NoValidCACertificate",
  ResolvedRefs: "ResolvedRefs",
  InvalidCACertificateRef: "InvalidCACertificateRef",
  InvalidKind: "InvalidKind",
} as const;
