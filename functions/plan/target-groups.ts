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
}

export const targetKey = (t: TargetRef) => `${t.id}:${t.port}`;
const byKey = (a: TargetRef, b: TargetRef) => (targetKey(a) < targetKey(b) ? -1 : 1);

export function planTargetGroup(group: TargetGroupModel, addressesOf: (name: string) => readonly string[], actual: TargetGroupActual): TargetGroupPlan {
  const skipped: Array<{ address: string; reason: string }> = [];
  const desired = new Map<string, TargetRef>();
  for (const target of group.targets) {
    for (const address of isIpAddress(target) ? [target] : addressesOf(target)) {
      if (!isPrivateAddress(address)) skipped.push({ address, reason: `${target} resolved to a public address; NLB IP targets must be private` });
      else if (isIPv4(address) !== (group.ipAddressType === "ipv4")) skipped.push({ address, reason: `not ${group.ipAddressType}` });
      else desired.set(`${address}:${group.port}`, { id: address, port: group.port });
    }
  }
  const registered = new Map(actual.registered.map((t) => [targetKey(t), t]));
  const owned = new Set(actual.owned);

  const register = [...desired].filter(([key]) => !registered.has(key)).map(([, t]) => t).sort(byKey);
  const deregister = [...registered].filter(([key]) => !desired.has(key) && owned.has(key)).map(([, t]) => t).sort(byKey);
  const adopted = group.adoptExisting ? [...desired.keys()].filter((key) => registered.has(key)) : [];
  const nextOwned = new Set([...owned, ...register.map(targetKey), ...adopted]);
  for (const t of deregister) nextOwned.delete(targetKey(t));
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
