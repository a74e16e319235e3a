// When a target group's desired set is final during a run: the run tracks records chunk by chunk, and a
// group can be converged as soon as every record it names is done, while later chunks are still being
// looked up. Its round trips then overlap the CPU-bound tracking instead of following it.
import type { TargetGroupModel } from "../fleet/load.ts";
import { isIpAddress } from "../fleet/net.ts";
import { recordId } from "./names.ts";

export interface GroupReadiness {
  /** Groups (indexes into the list given) that name no record at all: ready before any chunk. */
  readonly readyAtStart: readonly number[];
  /** Marks these records done; returns the groups whose last pending record this was, each once. */
  done(recordIds: readonly string[]): number[];
}

const NO_GROUPS: number[] = [];

export function groupReadiness(groups: readonly TargetGroupModel[]): GroupReadiness {
  const pending = new Array<number>(groups.length).fill(0);
  const groupsOf = new Map<string, number[]>();
  groups.forEach((group, index) => {
    const family = group.ipAddressType === "ipv6" ? 6 : 4;
    const ids = new Set(group.targets.filter((t) => !isIpAddress(t)).map((name) => recordId({ name, family })));
    pending[index] = ids.size;
    for (const id of ids) {
      const list = groupsOf.get(id);
      if (list) list.push(index);
      else groupsOf.set(id, [index]);
    }
  });
  return {
    readyAtStart: pending.flatMap((count, index) => (count === 0 ? [index] : [])),
    done(recordIds) {
      const ready: number[] = [];
      for (const id of recordIds) {
        const indexes = groupsOf.get(id);
        if (!indexes || indexes.length === 0) continue;
        groupsOf.set(id, NO_GROUPS); // a record reported twice counts once (set, not deleted: cheaper on a 100k-key map)
        for (const index of indexes) if (--pending[index]! === 0) ready.push(index);
      }
      return ready;
    },
  };
}

/** Runs tasks at most `limit` at once, in the order they were handed in, whenever they arrive. */
export function limiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next(); // the slot passes straight to the next task
      else running--;
    }
  };
}
