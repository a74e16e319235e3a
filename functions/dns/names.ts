// Which DNS names the accepted config depends on, and who uses each: runtime target documents for
// HAProxy, NGINX and strongSwan services, and NLB target groups.
import type { FleetModel, ServiceModel, TargetGroupModel } from "../fleet/load.ts";
import { isIpAddress } from "../fleet/net.ts";
import type { Family } from "./resolve.ts";

/** A name and address family the loop looks up: the unit of DNS state. */
export interface RecordKey {
  readonly name: string;
  readonly family: Family;
}

export const recordId = (key: RecordKey) => `${key.name}/${key.family === 4 ? "A" : "AAAA"}`;

export function parseRecordId(id: string): RecordKey {
  const [name, type] = id.split("/") as [string, string];
  return { name, family: type === "AAAA" ? 6 : 4 };
}

/** Hostnames (not IP literals) per service that applies runtime targets live. */
export function serviceNames(model: FleetModel): Map<string, string[]> {
  const result = new Map<string, string[]>();
  for (const service of model.services) {
    const names = namesOf(service);
    const hostnames = [...new Set(names.filter((n) => !isIpAddress(n)))].sort();
    if (hostnames.length > 0) result.set(service.name, hostnames);
  }
  return result;
}

function namesOf(service: ServiceModel): string[] {
  switch (service.kind) {
    case "haproxy": return service.listeners.flatMap((l) => l.backends.map((b) => b.host));
    case "nginx": return [...service.tls, ...service.http].flatMap((l) => [...l.routes.map((r) => r.upstream.host), ...(l.default ? [l.default.host] : [])]);
    case "strongswan": return service.rules.flatMap((r) => [...r.from, ...r.to]).filter((e) => !e.includes("/"));
    case "squid": return []; // Squid resolves the names its clients ask for.
  }
}

/**
 * Every record the config depends on, in the order a run tracks them: the target groups' names
 * group after group, in the config's order, then the names only services use. A group is converged as soon as its
 * last record is tracked (groupReadiness), so with its records together it is ready early, not at the last chunk.
 */
export function recordsInGroupOrder(model: FleetModel): RecordKey[] {
  const ids = new Set<string>();
  for (const group of model.targetGroups) for (const id of groupRecordIds(group)) ids.add(id);
  for (const names of serviceNames(model).values()) for (const name of names) ids.add(recordId({ name, family: 4 }));
  return [...ids].map(parseRecordId);
}

/** The records a target group's names are looked up as (A for an ipv4 group, AAAA for ipv6), each once. */
export function groupRecordIds(group: TargetGroupModel): Set<string> {
  const family = group.ipAddressType === "ipv6" ? 6 : 4;
  return new Set(group.targets.filter((target) => !isIpAddress(target)).map((name) => recordId({ name, family })));
}

/** Every record the config depends on, sorted by id. */
export function recordsInFleet(model: FleetModel): RecordKey[] {
  return recordsInGroupOrder(model).map(recordId).sort().map(parseRecordId);
}

/**
 * The records a Route 53 change can affect: names equal to a changed record name or under it (a change to
 * "example.com" or "*.example.com" affects "db.example.com"). A record whose last zone answer came through a
 * changed name (a CNAME value, an alias target) is affected too (syncDns asks with those names).
 */
export function recordsAffectedBy(records: readonly RecordKey[], changedNames: readonly string[]): RecordKey[] {
  const changed = changedNames.map((n) => n.toLowerCase().replace(/\.$/, "").replace(/^\*\./, ""));
  return records.filter((record) => changed.some((name) => record.name === name || record.name.endsWith(`.${name}`)));
}
