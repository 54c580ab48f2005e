/** How input problems are described in logs and error messages: file, document, object, field, reason. */
import type { Issue } from "../api/types.js";

/** Structured fields of an issue for a log line. */
export interface IssueFields {
  file?: string;
  /** 0-based document index in the file. */
  document?: number;
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
  }
  if (issue.ref !== undefined) f.object = objectName(issue.ref);
  if (issue.path !== "") f.field = issue.path;
  return f;
}

function objectName(ref: { kind: string; namespace?: string; name?: string }): string {
  if (ref.name === undefined) return ref.kind;
  return `${ref.kind} ${ref.namespace !== undefined ? `${ref.namespace}/` : ""}${ref.name}`;
}

/** One line: `file.yaml (document 2): GRPCRoute default/r: spec.rules[0].matches: reason`. */
export function formatIssue(issue: Issue): string {
  const f = issueFields(issue);
  const parts: string[] = [];
  if (f.file !== undefined)
    parts.push(f.document !== undefined ? `${f.file} (document ${f.document})` : f.file);
  if (f.object !== undefined) parts.push(f.object);
  if (f.field !== undefined) parts.push(f.field);
  parts.push(f.reason);
  return parts.join(": ");
}
