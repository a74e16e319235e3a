// The positional parse of fleet.yaml with the `yaml` package: for text outside the fast subset reader's
// (functions/fleet/yaml-subset.ts) and its syntax errors in the project's words. loadFleet imports this module
// only when it needs it, so a Lambda bundle built with code splitting loads `yaml` only then (stacks/loops.ts).
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document, type Node as YamlNode, type YAMLError } from "yaml";
import type { ConfigIssue } from "./issues.ts";
import type { Locator } from "./load.ts";
import type { Place } from "./yaml-subset.ts";

const FLEET_FILE = "fleet.yaml";

function issue(file: string, line: number, column: number, rule: string, message: string): ConfigIssue {
  return { severity: "error", file, line, column, rule, message };
}

export type ParsedYaml = { ok: true; doc: Document; lineCounter: LineCounter } | { ok: false; errors: ConfigIssue[] };

export function parseFleetYaml(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  if (doc.errors.length > 0) {
    // Past the first real syntax error the parser is guessing: every later complaint is an echo of it (one
    // unquoted "{" yields one per token to the end of the file), so reporting stops there, like a compiler's.
    // Duplicate keys before it are independent mistakes and are all reported.
    const stop = doc.errors.findIndex((e) => e.code !== "DUPLICATE_KEY");
    const reported = stop === -1 ? doc.errors : doc.errors.slice(0, stop + 1);
    return {
      ok: false,
      errors: reported.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return issue(FLEET_FILE, pos.line, pos.col, "yaml-syntax", yamlMessage(e));
      }),
    };
  }
  const tags = doc.warnings.filter((w) => w.code === "TAG_RESOLVE_FAILED");
  if (tags.length > 0) {
    return {
      ok: false,
      errors: tags.map((w) => {
        const pos = lineCounter.linePos(w.pos[0]);
        const tag = /tag: (\S+)/.exec(w.message)?.[1] ?? "this tag";
        return issue(FLEET_FILE, pos.line, pos.col, "yaml-tag",
          `${tag} is not a tag fleet.yaml understands: remove it (plain values, lists and mappings need no tag)`);
      }),
    };
  }
  if (!isMap(doc.contents)) {
    return { ok: false, errors: [issue(FLEET_FILE, 1, 1, "schema", "fleet.yaml must be a mapping with version and services")] };
  }
  return { ok: true, doc, lineCounter };
}

/** What the parser met where it expected something else, and the usual cause: a value with YAML's own characters. */
function unexpectedToken(parserMessage: string): string {
  const tokens: Record<string, string> = {
    "flow-map-start": "{", "flow-map-end": "}", "flow-seq-start": "[", "flow-seq-end": "]", "comma": ",", "map-value-ind": ":",
  };
  const kind = /Unexpected ([a-z-]+)/.exec(parserMessage)?.[1];
  const what = kind && tokens[kind] ? `"${tokens[kind]}"` : "a value";
  return `unexpected ${what} here: a value containing { } [ ] , : or # must be quoted ("…")`;
}

/** The YAML parser's complaint in the project's words, by its stable error code. */
function yamlMessage(error: YAMLError): string {
  const own: Record<string, string> = {
    DUPLICATE_KEY: "this key appears twice in the same mapping: keys must be unique",
    TAB_AS_INDENT: "tabs are not allowed for indentation: indent with spaces",
    BAD_INDENT: "the indentation does not line up with the entries around it (or a bracket is not closed)",
    MULTIPLE_DOCS: "fleet.yaml holds more than one document (a second ---): keep one",
    BLOCK_AS_IMPLICIT_KEY: "a key cannot hold a nested block on the same line: put the nested entries on their own, indented lines",
    MULTILINE_IMPLICIT_KEY: "a key must fit on one line (or a value is indented wrongly)",
    MISSING_CHAR: "a character is missing here (an unclosed quote or bracket, or a key without its colon)",
    BAD_DQ_ESCAPE: "this escape sequence in a double-quoted value is not valid YAML",
    UNEXPECTED_TOKEN: unexpectedToken(error.message),
    BLOCK_IN_FLOW: "a block (one entry per line) cannot sit inside [ ] or { }",
    KEY_OVER_1024_CHARS: "a key may be at most 1024 characters long",
    MULTIPLE_ANCHORS: "a value may carry only one &anchor",
    MULTIPLE_TAGS: "a value may carry only one tag",
    BAD_ALIAS: "this *alias is not valid here",
    BAD_SCALAR_START: "a plain value cannot start with this character: quote it",
  };
  return own[error.code] ?? `not valid YAML (${error.code.toLowerCase().replace(/_/g, " ")})`;
}

type PlainData = { ok: true; value: unknown } | { ok: false; errors: ConfigIssue[] };

/** YAML to plain data, with aliases limited so a few lines cannot expand into millions of nodes. */
export function toPlainData(doc: Document, lineCounter: LineCounter): PlainData {
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSION }) as unknown };
  } catch (refused) {
    if (!(refused instanceof ReferenceError)) throw refused;
    // The first alias that names a missing anchor or expands too far is where the reader should look.
    let at: { line: number; col: number } = { line: 1, col: 1 };
    let unresolved: string | undefined;
    visit(doc, {
      Alias(_, alias) {
        const target = alias.resolve(doc);
        if (!target || /Excessive/.test(refused.message)) {
          if (alias.range) at = lineCounter.linePos(alias.range[0]);
          if (!target) unresolved = alias.source;
          return visit.BREAK;
        }
        return undefined;
      },
    });
    const message = unresolved !== undefined
      ? `*${unresolved} names no &${unresolved} anchor set before it`
      : `aliases here expand to more than ${MAX_ALIAS_EXPANSION} copies of a value: write the values out instead of nesting aliases`;
    return { ok: false, errors: [issue(FLEET_FILE, at.line, at.col, "yaml-aliases", message)] };
  }
}

/** How many nodes one alias may expand to (the yaml library's maxAliasCount). */
export const MAX_ALIAS_EXPANSION = 100;

export function documentLocator(doc: Document, lineCounter: LineCounter): Locator {
  const at = (offset: number): Place => {
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  return {
    node(path) {
      const node = doc.getIn(path, true) as YamlNode | undefined;
      return node && typeof node === "object" && node.range ? at(node.range[0]) : undefined;
    },
    key(path, key) {
      const map = path.length === 0 ? doc.contents : doc.getIn(path, true);
      if (!isMap(map)) return undefined;
      // Keys are compared as text: a numeric key (services: { 123: … }) reaches the schema as "123".
      const pair = map.items.find((item) => isScalar(item.key) && String(item.key.value) === key);
      return pair && isScalar(pair.key) && pair.key.range ? at(pair.key.range[0]) : undefined;
    },
  };
}
