// Loads fleet.yaml and the files it references from a ConfigTree, validates it, and returns either the
// model or every problem found, each pinned to file:line with the rule it breaks.
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document, type Node as YamlNode, type YAMLError } from "yaml";
import type { z } from "zod";
import { parseAllowlist } from "./allowlist.ts";
import { checkFleet, checkFleetParts, type YamlPath } from "./checks.ts";
import { compareIssues, type ConfigIssue } from "./issues.ts";
import { escapeInvisible, projectMessage } from "./messages.ts";
import {
  ALLOWLIST_PATH, Fleet, Service, TargetGroup, type DnsSettingsConfig, type FleetConfig, type TargetGroupConfig, type HaproxyConfig, type NginxConfig, type SquidConfig, type StrongswanConfig,
} from "./schema.ts";
import { RefusedFile, type ConfigTree } from "./tree.ts";

export const FLEET_FILE = "fleet.yaml";

export type SquidModel = SquidConfig & { readonly allowlistEntries: readonly string[] };
export type ServiceModel = (HaproxyConfig | NginxConfig | SquidModel | StrongswanConfig) & { readonly name: string };
export type ServiceModelOf<K extends ServiceModel["kind"]> = Extract<ServiceModel, { kind: K }>;

export type TargetGroupModel = TargetGroupConfig & { readonly name: string };

export interface FleetModel {
  readonly version: 1;
  readonly dns: DnsSettingsConfig;
  /** Sorted by name. */
  readonly targetGroups: readonly TargetGroupModel[];
  /** Sorted by name. */
  readonly services: readonly ServiceModel[];
}

export type LoadResult =
  | { ok: true; model: FleetModel; warnings: ConfigIssue[] }
  | { ok: false; errors: ConfigIssue[]; warnings: ConfigIssue[] };

export async function loadFleet(tree: ConfigTree): Promise<LoadResult> {
  let text: string | undefined;
  try {
    text = await tree.read(FLEET_FILE);
  } catch (refused) {
    if (refused instanceof RefusedFile) return failed([issue(FLEET_FILE, 1, 1, refused.rule, refused.message)]);
    throw refused;
  }
  if (text === undefined) {
    return failed([issue(FLEET_FILE, 1, 1, "missing-file", `${FLEET_FILE} was not found at the repository root`)]);
  }
  const parsed = parseFleetYaml(text);
  if (!parsed.ok) return failed(parsed.errors);
  const { doc, lineCounter } = parsed;
  const where = (path: YamlPath) => locate(doc, lineCounter, path);

  const converted = toPlainData(doc, lineCounter);
  if (!converted.ok) return failed(converted.errors);
  const raw = converted.value;
  // Allowlists are read even when fleet.yaml has errors, so one run reports every problem.
  const allowlists = await loadAllowlists(tree, raw, where);
  const locateFinding = (finding: { severity: "error" | "warning"; path: YamlPath; rule: string; message: string }): ConfigIssue => {
    const { line, column } = where(finding.path);
    return { severity: finding.severity, file: FLEET_FILE, line, column, rule: finding.rule, message: finding.message };
  };
  const result = Fleet.safeParse(raw, { error: projectMessage });
  if (!result.success) {
    const schemaErrors = result.error.issues.flatMap((zodIssue) => fromZodIssue(zodIssue, doc, lineCounter));
    // Semantic checks still run on every part that is valid on its own, so one run shows both kinds of problem.
    const semantic = checkFleetParts(validParts(raw)).map(locateFinding);
    return split([...schemaErrors, ...semantic, ...allowlists.issues]);
  }

  const findings = checkFleet(result.data).map(locateFinding);
  const checked = split([...findings, ...allowlists.issues]);
  if (!checked.ok) return checked;
  const services = Object.entries(result.data.services).map(([name, service]): ServiceModel =>
    service.kind === "squid" ? { ...service, name, allowlistEntries: allowlists.entries.get(service.allowlist) ?? [] } : { ...service, name });
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const model: FleetModel = {
    version: 1,
    dns: result.data.dns,
    targetGroups: Object.entries(result.data.targetGroups).map(([name, group]) => ({ ...group, name })).sort(byName),
    services: services.sort(byName),
  };
  return { ok: true, model, warnings: checked.warnings };
}

const EMPTY_MODEL: FleetModel = { version: 1, dns: Fleet.shape.dns.parse(undefined), targetGroups: [], services: [] };

/** Sorts issues into errors and warnings; any error fails the load. */
function split(all: ConfigIssue[]): LoadResult & { warnings: ConfigIssue[] } {
  const sorted = all.map(readable).sort(compareIssues);
  const errors = sorted.filter((i) => i.severity === "error");
  const warnings = sorted.filter((i) => i.severity === "warning");
  return errors.length > 0 ? { ok: false, errors, warnings } : { ok: true, model: EMPTY_MODEL, warnings };
}

/** Validates an already-parsed config object (no file positions): for models that come from storage. */
export function parseFleetConfig(value: unknown): FleetConfig {
  return Fleet.parse(value);
}

function failed(errors: ConfigIssue[]): LoadResult {
  return { ok: false, errors: errors.map(readable).sort(compareIssues), warnings: [] };
}

/** Bytes a terminal would interpret (or hide) are shown escaped. */
function readable(found: ConfigIssue): ConfigIssue {
  return { ...found, message: escapeInvisible(found.message) };
}

/** The sections of a config that pass the schema on their own, for semantic checks next to schema errors. */
function validParts(raw: unknown): Parameters<typeof checkFleetParts>[0] {
  const top = (raw && typeof raw === "object" ? raw : {}) as Record<string, unknown>;
  const entries = (value: unknown) => (value && typeof value === "object" && !Array.isArray(value) ? Object.entries(value) : []);
  const parsedEntries = <T>(value: unknown, schema: z.ZodType<T>) =>
    Object.fromEntries(entries(value).flatMap(([name, item]) => {
      const parsed = schema.safeParse(item);
      return parsed.success ? [[name, parsed.data] as const] : [];
    }));
  const dns = Fleet.shape.dns.safeParse(top.dns);
  return {
    ...(dns.success ? { dns: dns.data } : {}),
    targetGroups: parsedEntries(top.targetGroups, TargetGroup),
    services: parsedEntries(top.services, Service),
  };
}

function issue(file: string, line: number, column: number, rule: string, message: string): ConfigIssue {
  return { severity: "error", file, line, column, rule, message };
}

type ParsedYaml = { ok: true; doc: Document; lineCounter: LineCounter } | { ok: false; errors: ConfigIssue[] };

function parseFleetYaml(text: string): ParsedYaml {
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
function toPlainData(doc: Document, lineCounter: LineCounter): PlainData {
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

/**
 * The line and column of the deepest part of `path` that exists in the document. A mapping entry is
 * located at its key, so an error about a block ("services.vpn") points at the line that names it.
 */
function locate(doc: Document, lineCounter: LineCounter, path: YamlPath): { line: number; column: number } {
  for (let depth = path.length; depth >= 0; depth--) {
    const last = path[depth - 1];
    if (typeof last === "string") {
      const key = locateKey(doc, lineCounter, path.slice(0, depth - 1), last);
      if (key) return key;
    }
    const node = doc.getIn(path.slice(0, depth), true) as YamlNode | undefined;
    if (node && typeof node === "object" && node.range) {
      const pos = lineCounter.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return { line: 1, column: 1 };
}

/** The position of a key within the mapping at `path`, for "unknown key" errors. */
function locateKey(doc: Document, lineCounter: LineCounter, path: YamlPath, key: string) {
  const map = path.length === 0 ? doc.contents : doc.getIn(path, true);
  if (isMap(map)) {
    // Keys are compared as text: a numeric key (services: { 123: … }) reaches the schema as "123".
    const pair = map.items.find((item) => isScalar(item.key) && String(item.key.value) === key);
    if (pair && isScalar(pair.key) && pair.key.range) {
      const pos = lineCounter.linePos(pair.key.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return undefined;
}

function fromZodIssue(
  zodIssue: z.core.$ZodIssue,
  doc: Document,
  lineCounter: LineCounter,
): ConfigIssue[] {
  const where = (path: YamlPath) => locate(doc, lineCounter, path);
  const path = zodIssue.path.filter((part): part is string | number => typeof part !== "symbol");
  const at = path.length > 0 ? `${path.join(".")}: ` : "";
  if (zodIssue.code === "unrecognized_keys") {
    return zodIssue.keys.map((key) => {
      const pos = locateKey(doc, lineCounter, path, key) ?? where(path);
      return issue(FLEET_FILE, pos.line, pos.column, "unknown-key", `${at}unknown key "${key}"`);
    });
  }
  const { line, column } = where(path);
  if (zodIssue.code === "invalid_key") {
    const reason = zodIssue.issues.map((inner) => inner.message).join("; ");
    return [issue(FLEET_FILE, line, column, "schema", `${at}the name "${String(path[path.length - 1])}" ${reason}`)];
  }
  const rule = zodIssue.code === "custom" ? String((zodIssue.params as { rule?: string } | undefined)?.rule ?? "schema") : "schema";
  return [issue(FLEET_FILE, line, column, rule, `${at}${zodIssue.message}`)];
}

/** Reads every allowlist that a squid service names, once per file, reporting problems at their own lines. */
async function loadAllowlists(
  tree: ConfigTree,
  raw: unknown,
  where: (path: YamlPath) => { line: number; column: number },
): Promise<{ entries: Map<string, string[]>; issues: ConfigIssue[] }> {
  const entries = new Map<string, string[]>();
  const issues: ConfigIssue[] = [];
  const services = (raw as { services?: unknown })?.services;
  if (!services || typeof services !== "object") return { entries, issues };
  for (const [name, service] of Object.entries(services as Record<string, unknown>)) {
    const { kind, allowlist: path } = (service ?? {}) as { kind?: unknown; allowlist?: unknown };
    if (kind !== "squid" || typeof path !== "string" || !ALLOWLIST_PATH.test(path) || entries.has(path)) continue;
    let text: string | undefined;
    try {
      text = await tree.read(path);
    } catch (refused) {
      if (!(refused instanceof RefusedFile)) throw refused;
      const at = where(["services", name, "allowlist"]);
      issues.push(issue(FLEET_FILE, at.line, at.column, refused.rule, `services.${name}.allowlist: ${refused.message}`));
      entries.set(path, []);
      continue;
    }
    if (text === undefined) {
      const at = where(["services", name, "allowlist"]);
      issues.push(issue(FLEET_FILE, at.line, at.column, "missing-file", `services.${name}.allowlist: ${path} does not exist in the repository`));
      entries.set(path, []);
      continue;
    }
    const allowlist = parseAllowlist(text);
    issues.push(...allowlist.problems.map((p) => ({ ...p, file: path })));
    if (allowlist.entries.length === 0 && !allowlist.problems.some((p) => p.severity === "error")) {
      issues.push(issue(path, 1, 1, "allowlist-empty", "the allowlist has no entries: the proxy would deny everything"));
    }
    entries.set(path, allowlist.entries);
  }
  return { entries, issues };
}
