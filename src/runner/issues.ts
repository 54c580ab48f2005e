/**
 * How input problems are described in logs and on `/status`: file, document, line, object, field, reason,
 * and what became of the object (rejected, skipped, or its previous version kept).
 */
import { formatIssue as formatApiIssue, formatOrigin } from "../api/parse.js";
import type { Issue } from "../api/types.js";
import type { KeptObject } from "../sources/last-accepted.js";

/** Structured fields of an issue for a log line. */
export interface IssueFields {
  file?: string;
  /** 0-based document index in the file. */
  document?: number;
  /** 1-based line in the file, when known. */
  line?: number;
  /** `Kind namespace/name`. */
  object?: string;
  field?: string;
  reason: string;
}

export function issueFields(issue: Issue): IssueFields {
  const f: IssueFields = { reason: issue.message };
  if (issue.origin !== undefined) {
    f.file = issue.origin.file;
    f.document = issue.origin.index;
    if (issue.origin.line !== undefined) f.line = issue.origin.line;
  }
  if (issue.ref !== undefined) f.object = objectName(issue.ref);
  if (issue.path !== "") f.field = issue.path;
  return f;
}

function objectName(ref: { kind: string; namespace?: string; name?: string }): string {
  if (ref.name === undefined) return ref.kind;
  return `${ref.kind} ${ref.namespace !== undefined ? `${ref.namespace}/` : ""}${ref.name}`;
}

/** One line, as `validate` prints it: `routes.yaml (document 1, line 12) GRPCRoute default/r: field: reason`. */
export function formatIssue(issue: Issue): string {
  return formatApiIssue(issue);
}

/** The message of the log line for a kept object. */
export const KEPT_MESSAGE = "object rejected; its previous version keeps serving";

/** Log fields of a kept object: the first error's place, object, field and reason, where the kept version was read, and every error when there are several. */
export function keptFields(k: KeptObject): IssueFields & { previous: string; errors?: string[] } {
  const issues = k.rejected.issues;
  const first = issues[0];
  const fields: IssueFields = first !== undefined ? issueFields(first) : { reason: "rejected" };
  fields.object = objectName(k.rejected.ref);
  const out: IssueFields & { previous: string; errors?: string[] } = {
    ...fields,
    previous: formatOrigin(k.previous.origin),
  };
  if (issues.length > 1)
    out.errors = issues.map((i) => (i.path === "" ? i.message : `${i.path}: ${i.message}`));
  return out;
}

/** What became of an object with an input problem. */
export type IssueResult = "rejected" | "skipped" | "kept_previous";

/** An input problem as `/status` lists it. */
export interface StatusIssue extends IssueFields {
  severity: Issue["severity"];
  /**
   * `rejected`: the object is not served; `skipped`: something the gateway does not read was left out (an
   * unknown kind or field); `kept_previous`: the object's new version was rejected and the version read
   * from `previous` keeps serving.
   */
  result: IssueResult;
  previous?: string;
}

/** The input problems of a configuration, as `/status` lists them: kept objects first. */
export function statusIssues(issues: readonly Issue[], kept: readonly KeptObject[]): StatusIssue[] {
  const out: StatusIssue[] = [];
  for (const k of kept) {
    const previous = formatOrigin(k.previous.origin);
    for (const i of k.rejected.issues) {
      const fields = { ...issueFields(i), object: objectName(k.rejected.ref) };
      out.push({ severity: i.severity, ...fields, result: "kept_previous", previous });
    }
  }
  for (const i of issues) {
    out.push({
      severity: i.severity,
      ...issueFields(i),
      result: i.severity === "error" ? "rejected" : "skipped",
    });
  }
  return out;
}
