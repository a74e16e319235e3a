// The local DNS zone: a YAML file of names and their addresses, which the local authoritative DNS server
// answers from. Two forms per name:
//
//   db1.corp.example.com: [127.0.0.1]                               default TTL
//   db2.corp.example.com: { addresses: [127.0.0.2], ttl: 30 }       TTL in seconds
//
// Pure: text in, zone and located errors out. A bad entry is reported with its line and left out; the others
// are still served.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from "yaml";
import { isDnsName, isIpAddress, normalizeDnsName } from "../fleet/net.ts";
import type { LocatedError } from "./status.ts";

export const DEFAULT_TTL_SECONDS = 5;
const MAX_TTL_SECONDS = 86_400;

export interface ZoneEntry {
  readonly addresses: readonly string[];
  readonly ttlSeconds: number;
}

export type Zone = Readonly<Record<string, ZoneEntry>>;

export function parseZone(text: string, file: string): { zone: Zone; errors: LocatedError[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const errors: LocatedError[] = [];
  const at = (node: YamlNode | null | undefined, rule: string, message: string) => {
    const pos = node?.range ? lineCounter.linePos(node.range[0]) : { line: 1, col: 1 };
    errors.push({ file, line: pos.line, column: pos.col, rule, message });
  };
  for (const e of doc.errors) {
    const pos = lineCounter.linePos(e.pos[0]);
    errors.push({ file, line: pos.line, column: pos.col, rule: "yaml-syntax", message: e.message.split("\n")[0]! });
  }
  if (errors.length > 0) return { zone: {}, errors };
  const zone: Record<string, ZoneEntry> = {};
  if (doc.contents === null) return { zone, errors };
  if (!isMap(doc.contents)) {
    at(doc.contents, "hosts-shape", "expected a mapping of names to address lists");
    return { zone, errors };
  }
  for (const pair of doc.contents.items) {
    const key = pair.key as YamlNode | null;
    const name = isScalar(key) ? String(key.value) : "";
    if (!isDnsName(name)) {
      at(key, "hosts-name", `"${name}" is not a valid DNS name`);
      continue;
    }
    const value = pair.value as YamlNode | null;
    let list: YamlNode | null | undefined = value;
    let ttlSeconds = DEFAULT_TTL_SECONDS;
    if (isMap(value)) {
      list = value.get("addresses", true) as YamlNode | undefined;
      const ttlNode = value.get("ttl", true) as YamlNode | undefined;
      const unknown = value.items.find((p) => !["addresses", "ttl"].includes(String((p.key as { value?: unknown })?.value)));
      if (unknown) {
        at(unknown.key as YamlNode, "hosts-shape", `${name}: only "addresses" and "ttl" may be given`);
        continue;
      }
      if (ttlNode !== undefined) {
        const ttl = isScalar(ttlNode) ? ttlNode.value : undefined;
        if (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL_SECONDS) {
          at(ttlNode, "hosts-ttl", `${name}: ttl must be a whole number of seconds from 0 to ${MAX_TTL_SECONDS}`);
          continue;
        }
        ttlSeconds = ttl;
      }
    }
    const addresses = isSeq(list) ? list.items.map((item) => (isScalar(item) ? item.value : undefined)) : undefined;
    if (!addresses || !addresses.every((a) => typeof a === "string" && isIpAddress(a))) {
      at(list ?? key, "hosts-addresses", `${name} must list IP addresses`);
      continue;
    }
    zone[normalizeDnsName(name)] = { addresses: [...new Set(addresses as string[])], ttlSeconds };
  }
  return { zone, errors };
}

/** The zone as the renderers' targets: name → addresses. */
export function zoneTargets(zone: Zone): Record<string, string[]> {
  return Object.fromEntries(Object.entries(zone).map(([name, entry]) => [name, [...entry.addresses]]));
}

/** Names whose answers differ between two zones (added, removed or changed, TTL included). */
export function changedNames(before: Zone, after: Zone): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((name) => JSON.stringify(before[name]) !== JSON.stringify(after[name])).sort();
}

/** Name → addresses as a hosts file ("address name" per line), which Squid's hosts_file reads. */
export function hostsFileText(hosts: Readonly<Record<string, readonly string[]>>): string {
  const lines = Object.keys(hosts).sort().flatMap((name) => [...new Set(hosts[name])].map((address) => `${address} ${name}`));
  return lines.join("\n") + (lines.length > 0 ? "\n" : "");
}

export function formatLocated(e: LocatedError): string {
  return `${e.file}:${e.line}${e.column !== undefined ? `:${e.column}` : ""}: error[${e.rule}]: ${e.message}`;
}
