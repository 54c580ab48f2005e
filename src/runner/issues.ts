/** How input problems are described in logs: file, document, line, object, field, reason. */
import { formatIssue as formatApiIssue } from "../api/parse.js";
import type { Issue } from "../api/types.js";

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
