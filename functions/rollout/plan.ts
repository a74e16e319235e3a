// Which services a commit rolls out. Pure: bundles of the new commit against what runs now.
//
//   bundle hash vs deployed   failed before   ECS target   action
//   -----------------------   -------------   ----------   ------
//   same                      —               —            unchanged
//   different                 yes             —            skip-failed (never retried automatically)
//   different                 no              none         not-deployed
//   different                 no              yes          deploy
import type { Bundle } from "../render/bundle.ts";
import type { EcsTarget, RolloutState } from "./ports.ts";

export type ServiceAction =
  | { readonly service: string; readonly action: "deploy"; readonly hash: string; readonly target: EcsTarget }
  | { readonly service: string; readonly action: "unchanged" | "skip-failed" | "not-deployed"; readonly hash: string };

export function planRollout(bundles: readonly Bundle[], state: RolloutState, targets: Readonly<Record<string, EcsTarget>>): ServiceAction[] {
  return bundles.map((bundle): ServiceAction => {
    const base = { service: bundle.service, hash: bundle.hash };
    if (state.services[bundle.service]?.hash === bundle.hash) return { ...base, action: "unchanged" };
    if (state.failed[bundle.service]?.includes(bundle.hash)) return { ...base, action: "skip-failed" };
    const target = targets[bundle.service];
    return target ? { ...base, action: "deploy", target } : { ...base, action: "not-deployed" };
  });
}

/** The paths a commit must touch for the fleet to care: fleet.yaml and the files it references. */
export function relevantPaths(files: Readonly<Record<string, string>>): Set<string> {
  return new Set(["fleet.yaml", ...Object.keys(files)]);
}
