/**
 * Method matching case of a Lattice-profile route. The AWS GRPCRoute page says "All method matches are currently
 * case-insensitive" (the controller then left `pathMatch.caseSensitive` unset, Lattice's default false);
 * AWS releases since late 2023 send `caseSensitive: true`. Both are offered: annotation
 * `grpcroute.dev/lattice-method-match: case-sensitive | case-insensitive` on the route wins over the same
 * annotation on its Gateway, which wins over the global default (`TranslateOptions.lattice.methodCase`),
 * which is case-insensitive.
 */
import { ANNOTATION_METHOD_MATCH } from "./names.js";

/** How method matches compare. */
export type MethodCase = "sensitive" | "insensitive";

/** Reads the method-case annotation: undefined when absent, "invalid" when it is neither value. */
export function methodCaseAnnotation(
  annotations: Readonly<Record<string, string>>,
): MethodCase | "invalid" | undefined {
  const v = annotations[ANNOTATION_METHOD_MATCH];
  if (v === undefined) return undefined;
  const t = v.trim().toLowerCase();
  if (t === "case-sensitive") return "sensitive";
  if (t === "case-insensitive") return "insensitive";
  return "invalid";
}

/** Whether method matches ignore case, from the route's and Gateway's annotations and the global default. */
export function methodCaseInsensitive(
  routeAnnotations: Readonly<Record<string, string>>,
  gatewayAnnotations: Readonly<Record<string, string>>,
  globalDefault: MethodCase | undefined,
): boolean {
  for (const source of [routeAnnotations, gatewayAnnotations]) {
    const c = methodCaseAnnotation(source);
    if (c === "sensitive") return false;
    if (c === "insensitive") return true;
  }
  return (globalDefault ?? "insensitive") === "insensitive";
}
