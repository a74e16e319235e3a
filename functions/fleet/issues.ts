// A problem found in the config, pinned to a file and line, with the rule it breaks.
export type Severity = "error" | "warning";

export interface ConfigIssue {
  readonly severity: Severity;
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  /** Short, stable id of the rule broken, e.g. "duplicate-port". */
  readonly rule: string;
  readonly message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  return `${issue.file}:${issue.line}:${issue.column}: ${issue.severity}[${issue.rule}]: ${issue.message}`;
}

export function compareIssues(a: ConfigIssue, b: ConfigIssue): number {
  return a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.rule.localeCompare(b.rule);
}
