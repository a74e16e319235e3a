// When a target group's desired set is final during a run: the run tracks records chunk by chunk, and a
// group can be converged as soon as every record it names is done, while later chunks are still being
// looked up. Its round trips then overlap the CPU-bound tracking instead of following it.
import type { TargetGroupModel } from "../fleet/load.ts";
import { groupRecordIds } from "./names.ts";

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
    const ids = groupRecordIds(group);
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
