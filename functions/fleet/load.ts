// Loads fleet.yaml and the files it references from a ConfigTree, validates it, and returns either the
// model or every problem found, each pinned to file:line with the rule it breaks.
import type { z } from "zod";
import { parseAllowlist } from "./allowlist.ts";
import { checkFleet, checkFleetParts, type Finding, type YamlPath } from "./checks.ts";
import { compareIssues, type ConfigIssue } from "./issues.ts";
import { escapeInvisible, projectMessage } from "./messages.ts";
import {
  ALLOWLIST_PATH, Fleet, Service, TargetGroup, type DnsSettingsConfig, type FleetConfig, type TargetGroupConfig, type HaproxyConfig, type NginxConfig, type SquidConfig, type StrongswanConfig,
} from "./schema.ts";
import { RefusedFile, type ConfigTree } from "./tree.ts";
import { readYamlSubset, readYamlSubsetWithPlaces, type Place } from "./yaml-subset.ts";
import type { ParsedYaml } from "./yaml-positional.ts";

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

export interface LoadOptions {
  /**
   * Read fleet.yaml with the fast subset reader (default), which also places the nodes a problem is located at;
   * text outside its subset takes the full positional parse. false always takes the positional parse: the two
   * give the same result.
   */
  readonly fastParse?: boolean;
}

export async function loadFleet(tree: ConfigTree, options: LoadOptions = {}): Promise<LoadResult> {
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
  const source = text;
  // The positional parse costs ten times the fast read: it runs only for text outside the fast reader's subset.
  // It is imported only then too, so a Lambda bundled with code splitting loads `yaml` only then.
  let positional: Promise<ParsedYaml> | undefined;
  const positions = () => (positional ??= import("./yaml-positional.ts").then(({ parseFleetYaml }) => parseFleetYaml(source)));

  const fast = options.fastParse === false ? undefined : readYamlSubset(source);
  let raw: unknown;
  if (fast) {
    raw = fast.value;
  } else {
    const parsed = await positions();
    if (!parsed.ok) return failed(parsed.errors);
    const { toPlainData } = await import("./yaml-positional.ts");
    const converted = toPlainData(parsed.doc, parsed.lineCounter);
    if (!converted.ok) return failed(converted.errors);
    raw = converted.value;
  }

  // Allowlists are read even when fleet.yaml has errors, so one run reports every problem.
  const allowlists = await loadAllowlists(tree, raw);
  const result = Fleet.safeParse(raw, { error: projectMessage });
  // Semantic checks still run on every part that is valid on its own, so one run shows both kinds of problem.
  const findings = result.success ? checkFleet(result.data) : checkFleetParts(validParts(raw));
  const zodIssues = result.success ? [] : result.error.issues;
  const unlocated = [...findings, ...allowlists.issues.filter(isFinding)];

  let located: ConfigIssue[];
  if (zodIssues.length > 0 || unlocated.length > 0) {
    // A text the fast reader took is read again by it, keeping places (a few times cheaper than the full parse,
    // and the same answers: see SubsetPlaces); any other text already has its positional parse.
    const placed = fast ? readYamlSubsetWithPlaces(source) : undefined;
    let nodes: Locator;
    if (placed) {
      nodes = placed.places;
    } else {
      const parsed = await positions();
      // Only when the fast reader accepted a text the full parser refuses, which the tests show it never does.
      if (!parsed.ok) return failed(parsed.errors);
      const { documentLocator } = await import("./yaml-positional.ts");
      nodes = documentLocator(parsed.doc, parsed.lineCounter);
    }
    const locateFinding = (finding: Finding): ConfigIssue => {
      const { line, column } = locate(nodes, finding.path);
      return { severity: finding.severity, file: FLEET_FILE, line, column, rule: finding.rule, message: finding.message };
    };
    located = [
      ...zodIssues.flatMap((zodIssue) => fromZodIssue(zodIssue, nodes)),
      ...findings.map(locateFinding),
      ...allowlists.issues.map((found) => (isFinding(found) ? locateFinding(found) : found)),
    ];
  } else {
    located = allowlists.issues.filter((found): found is ConfigIssue => !isFinding(found));
  }
  if (!result.success) return split(located);

  const checked = split(located);
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

/** A finding in fleet.yaml still to be located, as opposed to an issue that already has its file and line. */
function isFinding(found: Finding | ConfigIssue): found is Finding {
  return "path" in found;
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

/** Where a node and a mapping's key start: from the positional parse, or from the fast reader's places. */
export interface Locator {
  /** The start of the node at `path`, or undefined when there is none. */
  node(path: YamlPath): Place | undefined;
  /** The start of the key named `key` (compared as text) in the mapping at `path`. */
  key(path: YamlPath, key: string): Place | undefined;
}


/**
 * The line and column of the deepest part of `path` that exists in the document. A mapping entry is
 * located at its key, so an error about a block ("services.vpn") points at the line that names it.
 */
export function locate(nodes: Locator, path: YamlPath): Place {
  for (let depth = path.length; depth >= 0; depth--) {
    const last = path[depth - 1];
    if (typeof last === "string") {
      const key = nodes.key(path.slice(0, depth - 1), last);
      if (key) return key;
    }
    const node = nodes.node(path.slice(0, depth));
    if (node) return node;
  }
  return { line: 1, column: 1 };
}

function fromZodIssue(zodIssue: z.core.$ZodIssue, nodes: Locator): ConfigIssue[] {
  const where = (path: YamlPath) => locate(nodes, path);
  const path = zodIssue.path.filter((part): part is string | number => typeof part !== "symbol");
  const at = path.length > 0 ? `${path.join(".")}: ` : "";
  if (zodIssue.code === "unrecognized_keys") {
    return zodIssue.keys.map((key) => {
      const pos = nodes.key(path, key) ?? where(path);
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
async function loadAllowlists(tree: ConfigTree, raw: unknown): Promise<{ entries: Map<string, string[]>; issues: Array<ConfigIssue | Finding> }> {
  const entries = new Map<string, string[]>();
  // In file order; a problem with the reference itself is a finding on fleet.yaml, located by the caller.
  const issues: Array<ConfigIssue | Finding> = [];
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
      issues.push({ severity: "error", path: ["services", name, "allowlist"], rule: refused.rule, message: `services.${name}.allowlist: ${refused.message}` });
      entries.set(path, []);
      continue;
    }
    if (text === undefined) {
      issues.push({ severity: "error", path: ["services", name, "allowlist"], rule: "missing-file",
        message: `services.${name}.allowlist: ${path} does not exist in the repository` });
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
