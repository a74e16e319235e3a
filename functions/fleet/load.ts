// Loads fleet.yaml and the files it references from a ConfigTree, validates it, and returns either the
// model or every problem found, each pinned to file:line with the rule it breaks.
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node as YamlNode } from "yaml";
import type { z } from "zod";
import { parseAllowlist } from "./allowlist.ts";
import { checkFleet, type YamlPath } from "./checks.ts";
import { compareIssues, type ConfigIssue } from "./issues.ts";
import {
  ALLOWLIST_PATH, Fleet, type DnsSettingsConfig, type FleetConfig, type TargetGroupConfig, type HaproxyConfig, type NginxConfig, type SquidConfig, type StrongswanConfig,
} from "./schema.ts";
import type { ConfigTree } from "./tree.ts";

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
  const text = await tree.read(FLEET_FILE);
  if (text === undefined) {
    return failed([issue(FLEET_FILE, 1, 1, "missing-file", `${FLEET_FILE} was not found at the repository root`)]);
  }
  const parsed = parseFleetYaml(text);
  if (!parsed.ok) return failed(parsed.errors);
  const { doc, lineCounter } = parsed;
  const where = (path: YamlPath) => locate(doc, lineCounter, path);

  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  // Allowlists are read even when fleet.yaml has errors, so one run reports every problem.
  const allowlists = await loadAllowlists(tree, raw, where);
  const result = Fleet.safeParse(raw);
  if (!result.success) {
    const schemaErrors = result.error.issues.flatMap((zodIssue) => fromZodIssue(zodIssue, doc, lineCounter));
    return split([...schemaErrors, ...allowlists.issues]);
  }

  const findings = checkFleet(result.data).map((finding) => {
    const { line, column } = where(finding.path);
    return { severity: finding.severity, file: FLEET_FILE, line, column, rule: finding.rule, message: finding.message };
  });
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
  const sorted = [...all].sort(compareIssues);
  const errors = sorted.filter((i) => i.severity === "error");
  const warnings = sorted.filter((i) => i.severity === "warning");
  return errors.length > 0 ? { ok: false, errors, warnings } : { ok: true, model: EMPTY_MODEL, warnings };
}

/** Validates an already-parsed config object (no file positions): for models that come from storage. */
export function parseFleetConfig(value: unknown): FleetConfig {
  return Fleet.parse(value);
}

function failed(errors: ConfigIssue[]): LoadResult {
  return { ok: false, errors: errors.sort(compareIssues), warnings: [] };
}

function issue(file: string, line: number, column: number, rule: string, message: string): ConfigIssue {
  return { severity: "error", file, line, column, rule, message };
}

type ParsedYaml = { ok: true; doc: Document; lineCounter: LineCounter } | { ok: false; errors: ConfigIssue[] };

function parseFleetYaml(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return issue(FLEET_FILE, pos.line, pos.col, "yaml-syntax", e.message.split("\n")[0]!.replace(/ at line \d+, column \d+.*$/, ""));
      }),
    };
  }
  if (!isMap(doc.contents)) {
    return { ok: false, errors: [issue(FLEET_FILE, 1, 1, "schema", "fleet.yaml must be a mapping with version and services")] };
  }
  return { ok: true, doc, lineCounter };
}

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
    const pair = map.items.find((item) => isScalar(item.key) && item.key.value === key);
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
    const text = await tree.read(path);
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
