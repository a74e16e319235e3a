// Which bundle a task definition pins at deploy time. A deploy must never revert the accepted config: when the
// rollout loop has deployed a bundle for the service (and it is still in the bucket), the deploy pins that one;
// only a service the loop has not deployed yet (the first deploy, or a new service) gets the bundle rendered at
// deploy time. Pure; the custom resource (functions/deploy/pin-bundle.ts) feeds it what DynamoDB and S3 say.
import type { DeployedService } from "../rollout/ports.ts";

export interface Pin {
  readonly key: string;
  readonly hash: string;
  readonly commit: string;
  /** "accepted": what the rollout loop deployed; "deploy": rendered from the deploy's config folder. */
  readonly source: "accepted" | "deploy";
}

export interface PinRequest {
  readonly service: string;
  readonly deployKey: string;
  readonly deployHash: string;
}

export interface PinPorts {
  /** What the rollout loop records as deployed for the service, if anything. */
  deployed(service: string): Promise<DeployedService | undefined>;
  bundleKey(service: string, hash: string): string;
  bundleExists(key: string): Promise<boolean>;
}

export async function choosePin(request: PinRequest, ports: PinPorts): Promise<Pin & { readonly note?: string }> {
  const fromDeploy: Pin = { key: request.deployKey, hash: request.deployHash, commit: "deploy", source: "deploy" };
  const deployed = await ports.deployed(request.service);
  if (!deployed) return fromDeploy;
  const key = ports.bundleKey(request.service, deployed.hash);
  if (!(await ports.bundleExists(key))) {
    return { ...fromDeploy, note: `the rollout loop's bundle ${key} is not in the bucket; pinning the deploy-time bundle` };
  }
  return { key, hash: deployed.hash, commit: deployed.commit, source: "accepted" };
}
