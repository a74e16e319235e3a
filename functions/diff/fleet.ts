// What a config change does to the fleet: per service added / removed / changed with both bundle hashes, a
// line diff of each rendered daemon file, allowlists as names added and removed, and the DNS names the new
// config brings. Pure: two models in, one data structure out (formatting is in ./format.ts).
import { recordsInFleet } from "../dns/names.ts";
import type { FleetModel, ServiceModel } from "../fleet/load.ts";
import { MODEL_FILE, renderBundle, type Bundle } from "../render/bundle.ts";
import { compareText, CONTAINER_CONTEXT, type RenderContext } from "../render/context.ts";
import { diffLines, splitLines, type LineDiff, type LineDiffOptions } from "./unified.ts";

/** Rendered files holding one entry per line whose order carries no meaning: summarized as entries. */
const LIST_FILES = new Set(["allowlist.txt"]);

export type FileDiff =
  | { readonly file: string; readonly kind: "lines"; readonly change: "added" | "removed" | "changed"; readonly diff: LineDiff }
  | { readonly file: string; readonly kind: "entries"; readonly change: "added" | "removed" | "changed"; readonly added: readonly string[]; readonly removed: readonly string[]; readonly total: number }
  /** The model file the agent re-renders from: its change shows in the files above; alone it is named only. */
  | { readonly file: string; readonly kind: "model"; readonly change: "added" | "removed" | "changed" };

export interface ServiceDiff {
  readonly service: string;
  readonly change: "added" | "removed" | "changed" | "unchanged";
  readonly before?: { readonly kind: ServiceModel["kind"]; readonly hash: string };
  readonly after?: { readonly kind: ServiceModel["kind"]; readonly hash: string };
  readonly files: readonly FileDiff[];
}

export interface FleetDiff {
  /** Every service of either side, sorted by name. */
  readonly services: readonly ServiceDiff[];
  /** Hostnames the new config looks up that the old one did not, and the other way round. */
  readonly names: { readonly added: readonly string[]; readonly removed: readonly string[] };
}

/**
 * The difference between two fleets as deployed bundles (the container's paths, so the hashes are the ones
 * the rollout pins). An undefined side has no services (nothing deployed yet).
 */
export function diffFleets(before: FleetModel | undefined, after: FleetModel | undefined, options: LineDiffOptions & { ctx?: RenderContext } = {}): FleetDiff {
  const ctx = options.ctx ?? CONTAINER_CONTEXT;
  const render = (model: FleetModel | undefined) => new Map((model?.services ?? []).map((s) => [s.name, renderBundle(s, ctx)] as const));
  const old = render(before);
  const now = render(after);
  const names = [...new Set([...old.keys(), ...now.keys()])].sort(compareText);
  const services = names.map((name) => diffService(name, old.get(name), now.get(name), options));
  const namesOf = (model: FleetModel | undefined) => new Set(model ? recordsInFleet(model).map((r) => r.name) : []);
  const oldNames = namesOf(before);
  const newNames = namesOf(after);
  return {
    services,
    names: {
      added: [...newNames].filter((n) => !oldNames.has(n)).sort(compareText),
      removed: [...oldNames].filter((n) => !newNames.has(n)).sort(compareText),
    },
  };
}

function diffService(service: string, before: Bundle | undefined, after: Bundle | undefined, options: LineDiffOptions): ServiceDiff {
  const sides = {
    ...(before ? { before: { kind: before.kind, hash: before.hash } } : {}),
    ...(after ? { after: { kind: after.kind, hash: after.hash } } : {}),
  };
  const change = !before ? "added" : !after ? "removed" : before.hash === after.hash ? "unchanged" : "changed";
  if (change === "unchanged") return { service, change, ...sides, files: [] };
  const oldFiles = before?.files ?? {};
  const newFiles = after?.files ?? {};
  const files = [...new Set([...Object.keys(oldFiles), ...Object.keys(newFiles)])].sort(compareText)
    .flatMap((file) => {
      const diff = diffFile(file, oldFiles[file], newFiles[file], options);
      return diff ? [diff] : [];
    });
  // The model file changes with every rendered one; shown by name only, and only when nothing else changed.
  const rendered = files.filter((f) => f.kind !== "model");
  return { service, change, ...sides, files: rendered.length > 0 ? rendered : files };
}

export function diffFile(file: string, before: string | undefined, after: string | undefined, options: LineDiffOptions = {}): FileDiff | undefined {
  if (before === after) return undefined;
  const change = before === undefined ? "added" : after === undefined ? "removed" : "changed";
  if (file === MODEL_FILE) return { file, kind: "model", change };
  if (LIST_FILES.has(file)) return { file, kind: "entries", change, ...entryChanges(before ?? "", after ?? "") };
  return { file, kind: "lines", change, diff: diffLines(before ?? "", after ?? "", options) };
}

/** Entries (non-empty lines) added and removed, each sorted; `total` is the new list's size. */
export function entryChanges(before: string, after: string): { added: string[]; removed: string[]; total: number } {
  const entries = (text: string) => new Set(splitLines(text).map((l) => l.trim()).filter((l) => l.length > 0));
  const old = entries(before);
  const now = entries(after);
  return {
    added: [...now].filter((e) => !old.has(e)).sort(compareText),
    removed: [...old].filter((e) => !now.has(e)).sort(compareText),
    total: now.size,
  };
}

/** Services whose bundle changes: a merge of this change redeploys exactly these (added ones are first deploys). */
export function redeployed(diff: FleetDiff): ServiceDiff[] {
  return diff.services.filter((s) => s.change === "changed" || s.change === "added");
}
