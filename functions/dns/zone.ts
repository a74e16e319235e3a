// Reading a name from the Route 53 hosted zone that holds it, instead of through the caching VPC resolver:
// the zone knows a new value the moment it is changed, whatever the record's TTL. The choice of records
// per routing policy is pure (chooseRecordSets); zoneAwareClient walks CNAMEs and aliases through the zone
// and hands names outside every watched zone (and answers the zone cannot give) to the resolver.
//
//   routing policy of the name's sets     target list
//   ---------------------------------     -----------
//   simple                                every value
//   weighted                              union of the sets with a non-zero weight (all of them if every weight is 0)
//   multivalue answer                     union of every set
//   failover                              PRIMARY, unless it carries a health check: then the resolver decides
//   latency                               the set for this deployment's region, else the resolver decides
//   geolocation, geoproximity, IP-based   the resolver decides (the answer depends on where the query comes from)
import type { DnsClient, Family, Observation } from "./resolve.ts";
import { limiter } from "../plan/concurrency.ts";

/** The fields of Route 53's ResourceRecordSet (ListResourceRecordSets) the loop reads, in its own spelling. */
export interface ZoneRecordSet {
  readonly Name?: string;
  readonly Type?: string;
  readonly SetIdentifier?: string;
  readonly Weight?: number;
  readonly Region?: string;
  readonly Failover?: string;
  readonly MultiValueAnswer?: boolean;
  readonly GeoLocation?: object;
  readonly GeoProximityLocation?: object;
  readonly CidrRoutingConfig?: object;
  readonly TTL?: number;
  readonly ResourceRecords?: ReadonlyArray<{ readonly Value?: string }>;
  readonly AliasTarget?: { readonly HostedZoneId?: string; readonly DNSName?: string; readonly EvaluateTargetHealth?: boolean };
  readonly HealthCheckId?: string;
}

export interface HostedZone {
  /** Without the "/hostedzone/" prefix. */
  readonly id: string;
  /** Lower case, without the trailing dot. */
  readonly name: string;
  readonly private: boolean;
}

/** What the DNS loop needs from Route 53. */
export interface ZonePort {
  /** The watched zone ids, as the deployment lists them: a change event for any other zone is ignored. */
  readonly ids: readonly string[];
  /** The hosted zones the loop watches (the deployment's setting). */
  hostedZones(): Promise<readonly HostedZone[]>;
  /** Every record set whose name is exactly `name` (paginated to the end of that name). */
  recordSets(zoneId: string, name: string): Promise<ZoneRecordSet[]>;
}

/** "Z1,/hostedzone/Z2" → ["Z1", "Z2"]: the hosted-zone setting as the deployment passes it. */
export function hostedZoneIds(setting: string | undefined): string[] {
  return [...new Set((setting ?? "").split(",").map((id) => id.trim().replace(/^\/?hostedzone\//, "")).filter((id) => id !== ""))];
}

/** Route 53 prints names with a trailing dot and escapes "*" (and other specials) as \ddd octal. */
export function normalizeName(name: string): string {
  return name.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))).toLowerCase().replace(/\.$/, "");
}

/**
 * The zone the VPC resolver answers `name` from (split horizon): the most specific private zone that holds
 * it, else the most specific public one. Private zones listed are those associated with the loop's VPC.
 */
// Route 53 Developer Guide, "Considerations when working with a private hosted zone": with overlapping public
// and private namespaces the resolver uses the most specific private zone; a matching private zone without
// the record answers NXDOMAIN rather than falling through to the public zone.
export function zoneFor(name: string, zones: readonly HostedZone[]): HostedZone | undefined {
  const holding = zones.filter((z) => name === z.name || name.endsWith(`.${z.name}`));
  const best = (candidates: HostedZone[]) => candidates.sort((a, b) => b.name.length - a.name.length)[0];
  return best(holding.filter((z) => z.private)) ?? best(holding.filter((z) => !z.private));
}

/** What the zone says one name is, for one family, before CNAMEs and aliases are followed. */
export type Choice =
  | { readonly kind: "leaves"; readonly leaves: readonly Leaf[] }
  | { readonly kind: "nodata" }
  | { readonly kind: "nxdomain" }
  /** The zone alone cannot say which sets the VPC resolver would answer with. */
  | { readonly kind: "resolver"; readonly why: string };

export type Leaf =
  | { readonly kind: "addresses"; readonly addresses: readonly string[]; readonly ttlSeconds: number }
  /** A CNAME value or an alias target: look this name up too. */
  | { readonly kind: "follow"; readonly name: string; readonly ttlSeconds?: number };

/** Alias records carry no TTL of their own; an alias to an AWS resource answers with that resource's (60 s for ELB). */
const ALIAS_TTL_SECONDS = 60;

export function chooseRecordSets(sets: readonly ZoneRecordSet[], family: Family, region: string | undefined): Choice {
  if (sets.length === 0) return { kind: "nxdomain" };
  const wanted = family === 4 ? "A" : "AAAA";
  // A CNAME excludes every other type at its name; otherwise the family's own type (alias or not).
  const cname = sets.filter((s) => s.Type === "CNAME");
  const relevant = cname.length > 0 ? cname : sets.filter((s) => s.Type === wanted);
  if (relevant.length === 0) return { kind: "nodata" };

  const chosen = choosePolicy(relevant, region);
  if (!isSetList(chosen)) return chosen;
  const leaves = chosen.flatMap((set): Leaf[] => {
    if (set.AliasTarget?.DNSName) return [{ kind: "follow", name: normalizeName(set.AliasTarget.DNSName) }];
    const values = (set.ResourceRecords ?? []).map((r) => r.Value ?? "").filter((v) => v !== "");
    if (set.Type === "CNAME") return values.map((v) => ({ kind: "follow", name: normalizeName(v), ttlSeconds: set.TTL }));
    return [{ kind: "addresses", addresses: values, ttlSeconds: set.TTL ?? ALIAS_TTL_SECONDS }];
  });
  return leaves.length > 0 ? { kind: "leaves", leaves } : { kind: "nodata" };
}

const isSetList = (value: readonly ZoneRecordSet[] | Choice): value is readonly ZoneRecordSet[] => Array.isArray(value);

// Route 53 requires every set with the same name and type to share one routing policy, so the first set says which.
function choosePolicy(sets: readonly ZoneRecordSet[], region: string | undefined): readonly ZoneRecordSet[] | Choice {
  const first = sets[0]!;
  if (first.SetIdentifier === undefined) return sets;
  if (first.Weight !== undefined) {
    // Route 53 Developer Guide, "Weighted routing": weight 0 stops traffic to a record; all weights 0 share equally.
    const live = sets.filter((s) => (s.Weight ?? 0) > 0);
    return live.length > 0 ? live : sets;
  }
  if (first.MultiValueAnswer) return sets;
  if (first.Failover !== undefined) {
    const primary = sets.filter((s) => s.Failover === "PRIMARY");
    if (primary.length === 0) return sets;
    // Route 53 Developer Guide, "Failover routing": a primary without a health check is always considered healthy.
    const checked = primary.some((s) => s.HealthCheckId !== undefined || s.AliasTarget?.EvaluateTargetHealth === true);
    return checked ? { kind: "resolver", why: "failover with a health-checked primary" } : primary;
  }
  if (first.Region !== undefined) {
    const local = sets.filter((s) => s.Region === region);
    return local.length > 0 ? local : { kind: "resolver", why: `latency records without one for ${region ?? "this region"}` };
  }
  if (first.GeoLocation) return { kind: "resolver", why: "geolocation records" };
  if (first.GeoProximityLocation) return { kind: "resolver", why: "geoproximity records" };
  if (first.CidrRoutingConfig) return { kind: "resolver", why: "IP-based records" };
  return sets;
}

export type Source = "zone" | "resolver";

export interface SourcedObservation {
  readonly observation: Observation;
  readonly source: Source;
  /** The zone that answered (source "zone"), or why the resolver was asked although the name is in a zone. */
  readonly zone?: string;
  readonly why?: string;
  /** The other names the answer came through (CNAME values, alias targets): a change to one of them changes it. */
  readonly via?: readonly string[];
}

export interface SourcedDnsClient {
  lookup(name: string, family: Family): Promise<SourcedObservation>;
}

export interface ZoneClientOptions {
  readonly zones: readonly HostedZone[];
  readonly port: ZonePort;
  readonly resolver: DnsClient;
  /** This deployment's region: picks latency records. */
  readonly region?: string;
  /** Route 53 allows five API requests per second per account: keep concurrent zone reads few. */
  readonly concurrentReads?: number;
}

/** CNAME and alias hops followed through zones before giving up (a loop in the zone is a failure). */
const MAX_HOPS = 8;

/** Names in a watched zone are read from the zone; every other name (and what the zone defers) from the resolver. */
export function zoneAwareClient(options: ZoneClientOptions): SourcedDnsClient {
  const limit = limiter(options.concurrentReads ?? 4);
  const read = (zoneId: string, name: string) => limit(() => options.port.recordSets(zoneId, name));
  const viaResolver = async (name: string, family: Family, why?: string): Promise<SourcedObservation> =>
    ({ observation: await options.resolver.lookup(name, family), source: "resolver", ...(why ? { why } : {}) });

  /** The name's sets, or those of the wildcard that covers it. */
  async function setsFor(zone: HostedZone, name: string): Promise<ZoneRecordSet[]> {
    const exact = await read(zone.id, name);
    if (exact.length > 0) return exact;
    const labels = name.split(".");
    for (let i = 1; i < labels.length; i++) {
      const parent = labels.slice(i).join(".");
      if (parent.length < zone.name.length) break;
      const wildcard = await read(zone.id, `*.${parent}`);
      if (wildcard.length > 0) return wildcard;
    }
    return [];
  }

  /** Addresses for `name` as the zone (and for outside names, the resolver) gives them. */
  async function resolveName(name: string, family: Family, hops: number, via: Set<string>): Promise<Observation | { kind: "defer"; why: string }> {
    const zone = zoneFor(name, options.zones);
    if (!zone) return options.resolver.lookup(name, family);
    if (hops > MAX_HOPS) return { kind: "failure", reason: "bad-response", detail: `more than ${MAX_HOPS} CNAME/alias hops at ${name}` };
    let sets: ZoneRecordSet[];
    try {
      sets = await setsFor(zone, name);
    } catch (error) {
      return zoneFailure(error);
    }
    const choice = chooseRecordSets(sets, family, options.region);
    if (choice.kind === "nxdomain" || choice.kind === "nodata") return { kind: choice.kind };
    if (choice.kind === "resolver") return { kind: "defer", why: choice.why };
    const observations = await Promise.all(choice.leaves.map(async (leaf): Promise<Observation> => {
      if (leaf.kind === "addresses") {
        return leaf.addresses.length > 0 ? { kind: "answer", addresses: leaf.addresses, ttlSeconds: leaf.ttlSeconds } : { kind: "nodata" };
      }
      via.add(leaf.name);
      const followed = await resolveName(leaf.name, family, hops + 1, via);
      // A deferred name further down the chain is asked of the resolver by that name.
      const resolved = followed.kind === "defer" ? await options.resolver.lookup(leaf.name, family) : followed;
      return resolved.kind === "answer" && leaf.ttlSeconds !== undefined
        ? { ...resolved, ttlSeconds: Math.min(resolved.ttlSeconds, leaf.ttlSeconds) }
        : resolved;
    }));
    return union(observations);
  }

  return {
    async lookup(name, family) {
      const zone = zoneFor(name, options.zones);
      if (!zone) return viaResolver(name, family);
      const via = new Set<string>();
      const observation = await resolveName(name, family, 0, via);
      if (observation.kind === "defer") return viaResolver(name, family, observation.why);
      return { observation, source: "zone", zone: zone.id, ...(via.size > 0 ? { via: [...via].sort() } : {}) };
    },
  };
}

/**
 * One answer out of several branches (weighted members, CNAME targets): any failure fails the whole name
 * (the last known good stands rather than a partial list); otherwise the union of what answered.
 */
export function union(observations: readonly Observation[]): Observation {
  const failure = observations.find((o) => o.kind === "failure");
  if (failure) return failure;
  const answers = observations.filter((o) => o.kind === "answer");
  if (answers.length === 0) return observations.every((o) => o.kind === "nxdomain") ? { kind: "nxdomain" } : { kind: "nodata" };
  return {
    kind: "answer",
    addresses: [...new Set(answers.flatMap((a) => a.addresses))].sort(),
    ttlSeconds: Math.min(...answers.map((a) => a.ttlSeconds)),
  };
}

const THROTTLED = new Set(["Throttling", "ThrottlingException", "PriorRequestNotComplete", "TooManyRequestsException"]);

function zoneFailure(error: unknown): Observation {
  const name = (error as { name?: string }).name ?? "Error";
  const message = (error as { message?: string }).message ?? String(error);
  return { kind: "failure", reason: THROTTLED.has(name) ? "throttled" : "zone-api", detail: `${name}: ${message}` };
}
