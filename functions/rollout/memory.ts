// In-memory and folder-backed rollout ports, for plans run from a shell and the local mode.
import { DirectoryTree } from "../fleet/tree.ts";
import { EMPTY_ROLLOUT_STATE, type Repository, type RolloutState, type RolloutStateStore } from "./ports.ts";

/** A working folder seen as a repository whose branch head is the folder as it is now. */
export function folderRepository(dir: string): Repository {
  return {
    name: `folder:${dir}`,
    branchHead: async () => "working-tree",
    parentOf: async () => undefined,
    changedPaths: async () => [],
    treeAt: () => new DirectoryTree(dir),
    comment: async () => undefined,
  };
}

export class MemoryRolloutState implements RolloutStateStore {
  value: RolloutState = EMPTY_ROLLOUT_STATE;
  version = 0;
  async load() {
    return { value: structuredClone(this.value), version: this.version };
  }
  async save(_key: string, state: RolloutState, expectedVersion: number) {
    if (expectedVersion !== this.version) return false;
    this.value = structuredClone(state);
    this.version++;
    return true;
  }
}
