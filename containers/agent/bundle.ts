// The bundle as the agent receives it: verified against its own hash and the hash the task definition
// pins, and its model validated again before anything is rendered from it.
import { Service } from "../../functions/fleet/schema.ts";
import type { ServiceModel } from "../../functions/fleet/load.ts";
import { hashFiles, MODEL_FILE, type Bundle } from "../../functions/render/bundle.ts";

export interface BundleSource {
  fetch(): Promise<Bundle>;
}

export class BundleRefused extends Error {
  override readonly name = "BundleRefused";
}

export function verifyBundle(bundle: Bundle, pinnedHash?: string): ServiceModel {
  const actual = hashFiles(bundle.files);
  if (actual !== bundle.hash) throw new BundleRefused(`bundle ${bundle.service} is corrupt: its files hash to ${actual}, not ${bundle.hash}`);
  if (pinnedHash && pinnedHash !== bundle.hash) {
    throw new BundleRefused(`bundle ${bundle.service} is ${bundle.hash}, but this task is pinned to ${pinnedHash}`);
  }
  const modelText = bundle.files[MODEL_FILE];
  if (!modelText) throw new BundleRefused(`bundle ${bundle.service} has no ${MODEL_FILE}`);
  const { name, allowlistEntries, ...config } = JSON.parse(modelText) as Record<string, unknown>;
  const parsed = Service.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new BundleRefused(`bundle ${bundle.service} carries an invalid model: ${issue.path.join(".")}: ${issue.message}`);
  }
  if (name !== bundle.service) throw new BundleRefused(`bundle ${bundle.service} carries the model of ${String(name)}`);
  return (parsed.data.kind === "squid"
    ? { ...parsed.data, name, allowlistEntries: allowlistEntries as string[] }
    : { ...parsed.data, name }) as ServiceModel;
}
