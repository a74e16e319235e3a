// Runtime target documents: per service, the addresses its hostnames resolve to now. The in-task agent
// polls its document and applies it live (HAProxy re-render + hitless reload, strongSwan iptables-restore).
import { createHash } from "node:crypto";
import type { FleetModel } from "../fleet/load.ts";
import { serviceNames } from "../dns/names.ts";
import { canonicalJson } from "../render/bundle.ts";

export interface RuntimeDocument {
  readonly service: string;
  /** Hostname → addresses, both sorted. */
  readonly targets: Readonly<Record<string, readonly string[]>>;
}

export interface DocumentWrite {
  readonly service: string;
  readonly body: string;
  /** "sha256:…" of the body: the document's version, and how the loop knows it changed. */
  readonly hash: string;
}

export function runtimeDocuments(model: FleetModel, addressesOf: (name: string) => readonly string[]): RuntimeDocument[] {
  return [...serviceNames(model)].map(([service, names]) => ({
    service,
    targets: Object.fromEntries(names.map((name) => [name, [...addressesOf(name)].sort()])),
  }));
}

export function documentBody(document: RuntimeDocument): { body: string; hash: string } {
  const body = canonicalJson(document);
  return { body, hash: `sha256:${createHash("sha256").update(body).digest("hex")}` };
}

/** Only documents whose content differs from what is stored are written. */
export function planDocuments(documents: readonly RuntimeDocument[], storedHashes: ReadonlyMap<string, string | undefined>): DocumentWrite[] {
  return documents
    .map((document) => ({ service: document.service, ...documentBody(document) }))
    .filter((write) => storedHashes.get(write.service) !== write.hash);
}
