// The project's own wording for every schema problem: a message names the allowed form and what was found,
// never the validation library's phrasing. The loader prefixes each message with the field's path.
import type { z } from "zod";

const FORMS: Record<string, string> = {
  string: "text",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list",
  object: "a mapping (key: value)",
  record: "a mapping (name: value)",
  map: "a mapping (key: value)",
  null: "empty",
};

function form(expected: string): string {
  return FORMS[expected] ?? `a ${expected}`;
}

/** What was written, in words, shortened so one bad value never floods the report. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "an empty value";
  if (typeof value === "string") return `the text "${value.length > 60 ? `${value.slice(0, 57)}...` : value}"`;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (Array.isArray(value)) return "a list";
  if (value instanceof Date) return "a date";
  return "a mapping";
}

const plural = (count: number | bigint, one: string, many: string) => `${count} ${Number(count) === 1 ? one : many}`;

function sizeLimit(issue: { origin: string; inclusive?: boolean }, bound: number | bigint, atLeast: boolean): string {
  switch (issue.origin) {
    case "array":
    case "set":
      return atLeast ? `needs at least ${plural(bound, "entry", "entries")}` : `may hold at most ${plural(bound, "entry", "entries")}`;
    case "string":
      if (atLeast && Number(bound) === 1) return "must not be empty";
      return atLeast ? `needs at least ${plural(bound, "character", "characters")}` : `may be at most ${plural(bound, "character", "characters")} long`;
    default:
      if (issue.inclusive === false) return atLeast ? `must be greater than ${bound}` : `must be less than ${bound}`;
      return atLeast ? `must be at least ${bound}` : `must be at most ${bound}`;
  }
}

/** The forms a union accepts, read from each branch's own first complaint. */
function unionForms(errors: ReadonlyArray<ReadonlyArray<z.core.$ZodIssue>>): string {
  const forms = errors.map((branch) => {
    const first = branch[0];
    if (first?.code === "invalid_type" && first.path.length === 0) return form(first.expected);
    if (first?.code === "invalid_value" && first.path.length === 0) return first.values.map(String).join(" or ");
    return "a mapping of the documented shape";
  });
  return [...new Set(forms)].join(" or ");
}

/**
 * A zod error map (per-parse, so every message a schema sets itself still wins). Custom issues always
 * carry their own message; everything else gets a sentence here.
 */
export function projectMessage(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return issue.input === undefined
        ? `is required: write ${form(issue.expected)}`
        : `must be ${form(issue.expected)}, not ${describeValue(issue.input)}`;
    case "too_small":
      return `${sizeLimit(issue, issue.minimum, true)} (found ${describeValue(issue.input)})`.replace(" (found a list)", "");
    case "too_big":
      return `${sizeLimit(issue, issue.maximum, false)} (found ${describeValue(issue.input)})`.replace(" (found a list)", "");
    case "invalid_value":
      return issue.values.length === 1
        ? `must be ${String(issue.values[0])}, not ${describeValue(issue.input)}`
        : `must be one of ${issue.values.map(String).join(", ")}, not ${describeValue(issue.input)}`;
    case "invalid_format":
      return `${describeValue(issue.input)} is not in the allowed form`;
    case "invalid_union":
      return `must be ${unionForms(issue.errors)}, not ${describeValue(issue.input)}`;
    case "not_multiple_of":
      return `must be a multiple of ${String(issue.divisor)}`;
    case "unrecognized_keys":
      return `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    case "invalid_key":
      return "is not an allowed name";
    case "invalid_element":
      return "holds a value that is not allowed";
    case "custom":
      return "is not allowed here";
  }
}

/** Phrases of the validation library that must never reach a user: the corpus test refuses them. */
export const LIBRARY_PHRASES = [
  /Invalid input/i, /Invalid option/i, /Invalid string/i, /Invalid element/i, /Invalid key/i, /Too small/i, /Too big/i,
  /expected [a-z]+, received/i, /Unrecognized key/i, /ZodError/i, /resource exhaustion/i,
];

/**
 * Control characters and other invisible code points, escaped so a message shows what the file holds and a
 * terminal never interprets it.
 */
export function escapeInvisible(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff\ufffd]/g,
    (char) => {
      const code = char.codePointAt(0)!;
      return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
    });
}
