// NLB IP target groups whose members follow DNS. A plan is data; the adapter only applies it.
//
//   desired (DNS + IPs)   registered   owned by us   action
//   -------------------   ----------   -----------   ------
//   yes                   no           —             register (and own)
//   yes                   yes          no            adopt if adoptExisting, else leave alone
//   no                    yes          yes           deregister (then disown)
//   no                    yes          no            leave alone: someone else's target
//
// Registrations go before deregistrations, so a changing list never passes through empty.
//
// Which groups a run describes at all (groupCheck):
//
//   desired digest vs. the one stored at the group's last converge   last described     check
//   --------------------------------------------------------------   ----------------   ---------------------
//   differs, or none stored                                           —                  changed: converge it
//   same                                                              within its period  skip: no API call
//   same                                                              older              full: describe anyway,
//                                                                                         repairs others' drift
//
// How a changed group is planned (plannableFromMark), under its lease:
//
//   its mark, read under the lease                                    last described     registrations from
//   --------------------------------------------------------------   ----------------   ---------------------
//   counted nobody else's targets at its describe                     within its period  the mark: the owned set
//   anything else (none, someone else's targets, written before       —                  a describe
//   describedAt existed)                                              older              a describe
import { createHash } from "node:crypto";
import type { TargetGroupModel } from "../fleet/load.ts";
import { isIPv4, isIpAddress, isPrivateAddress } from "../fleet/net.ts";

export interface TargetRef {
  readonly id: string;
  readonly port: number;
}

export interface TargetGroupActual {
  /** Registered targets that are not draining. */
  readonly registered: readonly TargetRef[];
  /** Targets this system registered ("id:port"). */
  readonly owned: readonly string[];
}

export interface TargetGroupPlan {
  readonly group: string;
  readonly arn: string;
  readonly availabilityZone?: "all";
  readonly register: readonly TargetRef[];
  readonly deregister: readonly TargetRef[];
  /** The owned set once the plan is applied. */
  readonly owned: readonly string[];
  /** Resolved addresses that cannot be NLB IP targets. */
  readonly skipped: ReadonlyArray<{ address: string; reason: string }>;
  /** Another run held the group's lease: it converges the group, this run did nothing to it. */
  readonly busy?: boolean;
  /** Why the run looked at the group (groupCheck); "skip": it was not described, and nothing changed. */
  readonly check?: GroupCheck;
  /** A changed group planned from its converged mark, without a describe (plannableFromMark). */
  readonly fromMark?: true;
}

export const targetKey = (t: TargetRef) => `${t.id}:${t.port}`;

/** What a group should hold: its IP targets and what its names resolve to, minus what cannot be an NLB IP target. */
export interface DesiredTargets {
  /** "id:port" → target. */
  readonly targets: ReadonlyMap<string, TargetRef>;
  readonly skipped: ReadonlyArray<{ address: string; reason: string }>;
}

export function desiredTargets(group: TargetGroupModel, addressesOf: (name: string) => readonly string[]): DesiredTargets {
  const targets = new Map<string, TargetRef>();
  const skipped = classifyDesired(group, addressesOf, (key, address) => targets.set(key, { id: address, port: group.port }));
  return { targets, skipped };
}

/**
 * desiredDigest(group, desiredTargets(group, addressesOf)) without building the targets: a run decides every
 * group (1,000 of 500 targets at 100k names) and most need nothing more than the digest.
 */
export function desiredDigestOf(group: TargetGroupModel, addressesOf: (name: string) => readonly string[]): { digest: string; skipped: DesiredTargets["skipped"] } {
  const keys = new Set<string>();
  const skipped = classifyDesired(group, addressesOf, (key) => keys.add(key));
  return { digest: digestOfKeys(group, [...keys]), skipped };
}

/** Calls `keep` with each address that can be one of the group's targets; returns the others with their reason. */
function classifyDesired(
  group: TargetGroupModel,
  addressesOf: (name: string) => readonly string[],
  keep: (key: string, address: string) => void,
): Array<{ address: string; reason: string }> {
  const skipped: Array<{ address: string; reason: string }> = [];
  const wantsIPv4 = group.ipAddressType === "ipv4";
  for (const target of group.targets) {
    for (const address of isIpAddress(target) ? [target] : addressesOf(target)) {
      const privateV4 = privateIPv4(address);
      if (privateV4 === false || (privateV4 === undefined && !isPrivateAddress(address))) {
        skipped.push({ address, reason: `${target} resolved to a public address; NLB IP targets must be private` });
      } else if ((privateV4 === true || isIPv4(address)) !== wantsIPv4) skipped.push({ address, reason: `not ${group.ipAddressType}` });
      else keep(`${address}:${group.port}`, address);
    }
  }
  return skipped;
}

const DOT = 46;
const ZERO = 48;

/**
 * Whether a dotted-quad IPv4 address is private (isPrivateAddress's ranges), read in one pass without
 * allocating: the DNS loop classifies every resolved address of every group (500k at 100k names).
 * Anything but node's isIPv4 grammar (four decimal octets 0–255, no leading zeros) is undefined, and
 * takes the general checks.
 */
export function privateIPv4(address: string): boolean | undefined {
  let octet = 0;
  let digits = 0;
  let index = 0;
  let first = 0;
  let second = 0;
  for (let i = 0; i <= address.length; i++) {
    const code = i < address.length ? address.charCodeAt(i) : DOT;
    if (code === DOT) {
      if (digits === 0 || index > 3) return undefined;
      if (index === 0) first = octet;
      else if (index === 1) second = octet;
      index++;
      octet = 0;
      digits = 0;
    } else {
      const digit = code - ZERO;
      if (digit < 0 || digit > 9 || (digits === 1 && octet === 0) || digits === 3) return undefined;
      octet = octet * 10 + digit;
      digits++;
      if (octet > 255) return undefined;
    }
  }
  if (index !== 4) return undefined;
  return first === 10 || (first === 172 && second >= 16 && second <= 31) || (first === 192 && second === 168) || (first === 100 && second >= 64 && second <= 127);
}

/**
 * A fingerprint of what the group should hold and how it is registered: equal digests mean a plan made
 * against an unchanged group would change nothing.
 */
export function desiredDigest(group: TargetGroupModel, desired: DesiredTargets): string {
  return digestOfKeys(group, [...desired.targets.keys()]);
}

function digestOfKeys(group: TargetGroupModel, keys: string[]): string {
  // One update of the joined text hashes the same bytes as one update per key, without a native call each.
  const text = keys.length === 0 ? "" : `${keys.sort().join("\n")}\n`;
  return createHash("sha256").update(`${group.arn}\n${group.availabilityZone ?? ""}\n${group.adoptExisting}\n`).update(text).digest("base64url");
}

/** Stored with the group's ownership when a run leaves it converged. */
export interface ConvergedMark {
  readonly digest: string;
  /** When (epoch ms). */
  readonly at: number;
  /**
   * When the group's registrations were last read (DescribeTargetHealth) by a converge, epoch ms. Absent in marks
   * written before converges could skip the describe: their `at` is when they described.
   */
  readonly describedAt?: number;
  /** Registered targets (not draining) this system did not own at that describe: someone else's. */
  readonly othersRegistered?: number;
}

/** When the mark's group was last described: `describedAt`, or `at` for a mark from before it existed. */
export const markDescribedAt = (mark: ConvergedMark): number => mark.describedAt ?? mark.at;

/**
 * Whether a changed group may be planned from its mark instead of a describe: the last converge left it holding
 * exactly the targets this system owns (nobody else's registered then, counted at that describe, and no claim
 * since without its mark: a claim erases the mark until the registrations are done), and its full check is not
 * due, so any drift made by someone else since is the same the unchanged groups tolerate until theirs. ELB meters
 * Describe* calls per account (a burst of 40, 10 a second in its documented example), so a drift touching many
 * groups would otherwise wait on describes.
 */
export function plannableFromMark(arn: string, mark: ConvergedMark | undefined, lastDescribedAt: number | undefined, now: number, fullCheckMs: number): mark is ConvergedMark {
  return mark !== undefined && mark.describedAt !== undefined && mark.othersRegistered === 0 && fullCheckOverdueMs(arn, mark, lastDescribedAt, now, fullCheckMs) < 0;
}

/** A target key ("id:port", the id may be IPv6) read back as the target. */
const targetOf = (key: string): TargetRef => {
  const colon = key.lastIndexOf(":");
  return { id: key.slice(0, colon), port: Number(key.slice(colon + 1)) };
};

/**
 * planAgainst with the registrations the mark vouches for (exactly the owned targets), without building them:
 * register what is desired and not owned, deregister what is owned and not desired, own what is desired.
 */
export function planFromMark(group: TargetGroupModel, wanted: DesiredTargets, owned: readonly string[]): TargetGroupPlan {
  const desired = wanted.targets;
  const mine = new Set(owned);
  const registerKeys: string[] = [];
  for (const key of desired.keys()) if (!mine.has(key)) registerKeys.push(key);
  const deregisterKeys = owned.filter((key) => !desired.has(key));
  return {
    group: group.name,
    arn: group.arn,
    ...(group.availabilityZone ? { availabilityZone: group.availabilityZone } : {}),
    register: registerKeys.sort().map((key) => desired.get(key)!),
    deregister: deregisterKeys.sort().map(targetOf),
    owned: [...desired.keys()].sort(),
    skipped: wanted.skipped,
  };
}

/** Registered targets (not draining) that stay registered and unowned once the plan is applied: someone else's. */
export function othersRegistered(registered: readonly TargetRef[], plan: Pick<TargetGroupPlan, "owned" | "deregister">): number {
  const mine = new Set(plan.owned);
  for (const target of plan.deregister) mine.add(targetKey(target));
  let others = 0;
  for (const target of registered) if (!mine.has(targetKey(target))) others++;
  return others;
}

/** "deferred": its full check was due, but more urgent ones filled this run's share (limitFullChecks). */
export type GroupCheck = "changed" | "skip" | "full" | "deferred";

/**
 * Whether a run must describe the group. An unchanged group is still described once per full-check
 * period, so a target someone else deregistered (or registered) out of band is repaired within one
 * period. Each group's period is between half and all of fullCheckMs, fixed per ARN, so groups that
 * converged together do not all come due in the same run.
 */
export function groupCheck(arn: string, digest: string, stored: ConvergedMark | undefined, lastDescribedAt: number | undefined, now: number, fullCheckMs: number): GroupCheck {
  if (stored?.digest !== digest) return "changed";
  return fullCheckOverdueMs(arn, stored, lastDescribedAt, now, fullCheckMs) >= 0 ? "full" : "skip";
}

/** How long ago the group's full check fell due (negative: not yet). */
export function fullCheckOverdueMs(arn: string, stored: ConvergedMark, lastDescribedAt: number | undefined, now: number, fullCheckMs: number): number {
  const since = Math.max(markDescribedAt(stored), lastDescribedAt ?? Number.NEGATIVE_INFINITY);
  return now - since - fullCheckMs * (0.5 + 0.5 * spread(arn));
}

/**
 * At most `max` full checks per run, the most overdue first; the rest wait for a later run. ELB meters
 * its API per account in token buckets (40 Describe* calls at once, refilled at 10 per second, in its
 * documented example: https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html),
 * and a cold start in a quiet fleet would otherwise find every group due at once. A due group is checked
 * within its period plus ⌈groups / max⌉ runs.
 */
export function limitFullChecks(checks: ReadonlyArray<{ readonly check: GroupCheck; readonly overdueMs: number }>, max: number): GroupCheck[] {
  const due = checks.map((c, i) => ({ ...c, i })).filter((c) => c.check === "full").sort((a, b) => b.overdueMs - a.overdueMs || a.i - b.i);
  const deferred = new Set(due.slice(Math.max(0, max)).map((c) => c.i));
  return checks.map((c, i) => (deferred.has(i) ? "deferred" : c.check));
}

/** A fixed fraction in [0, 1) per ARN. */
function spread(arn: string): number {
  return createHash("sha256").update(arn).digest().readUInt32BE(0) / 2 ** 32;
}

export function planTargetGroup(group: TargetGroupModel, addressesOf: (name: string) => readonly string[], actual: TargetGroupActual): TargetGroupPlan {
  return planAgainst(group, desiredTargets(group, addressesOf), actual);
}

/** The plan for a group whose desired targets are already known. */
export function planAgainst(group: TargetGroupModel, wanted: DesiredTargets, actual: TargetGroupActual): TargetGroupPlan {
  const desired = wanted.targets;
  const skipped = wanted.skipped;
  const registered = new Map<string, TargetRef>();
  for (const t of actual.registered) registered.set(targetKey(t), t);
  const owned = new Set(actual.owned);

  // Sorted by key once (register and deregister in key order), not by a comparator that rebuilds two keys per comparison.
  const registerKeys: string[] = [];
  for (const key of desired.keys()) if (!registered.has(key)) registerKeys.push(key);
  const deregisterKeys: string[] = [];
  for (const key of registered.keys()) if (!desired.has(key) && owned.has(key)) deregisterKeys.push(key);
  const register = registerKeys.sort().map((key) => desired.get(key)!);
  const deregister = deregisterKeys.sort().map((key) => registered.get(key)!);
  const nextOwned = new Set(owned);
  for (const key of registerKeys) nextOwned.add(key);
  if (group.adoptExisting) for (const key of desired.keys()) if (registered.has(key)) nextOwned.add(key);
  for (const key of deregisterKeys) nextOwned.delete(key);
  // Ownership of targets that are gone for good (deregistered by someone else) is forgotten too.
  for (const key of [...nextOwned]) if (!desired.has(key) && !registered.has(key)) nextOwned.delete(key);

  return {
    group: group.name,
    arn: group.arn,
    ...(group.availabilityZone ? { availabilityZone: group.availabilityZone } : {}),
    register,
    deregister,
    owned: [...nextOwned].sort(),
    skipped,
  };
}

export function batches<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}
