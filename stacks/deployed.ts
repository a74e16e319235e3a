// What the stacks deploy from: the config repository in PROXY_FLEET_CONFIG_DIR (default examples/), loaded
// and validated once per synth, and the helpers the proxy stacks share.
import { aws_ecs as ecs, type aws_s3 as s3 } from "aws-cdk-lib";
import { formatIssue } from "../functions/fleet/issues.ts";
import { loadFleet, type FleetModel, type ServiceModel } from "../functions/fleet/load.ts";
import { DirectoryTree } from "../functions/fleet/tree.ts";

const loaded = new Map<string, Promise<FleetModel>>();

export function deployedFleet(configDir = process.env.PROXY_FLEET_CONFIG_DIR ?? "examples"): Promise<FleetModel> {
  let model = loaded.get(configDir);
  if (!model) {
    model = loadFleet(new DirectoryTree(configDir)).then((result) => {
      if (!result.ok) throw new Error(`${configDir} is not a valid config repository:\n${result.errors.map(formatIssue).join("\n")}`);
      return result.model;
    });
    loaded.set(configDir, model);
  }
  return model;
}

/** "datacenter-vpn" → "DatacenterVpn", for construct ids. */
export function constructId(service: string): string {
  return service.replace(/(^|-)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());
}

/** The data plane's image, built from the repository root with its Dockerfile under containers/<kind>/. */
export function proxyImage(kind: ServiceModel["kind"]): ecs.ContainerImage {
  return ecs.ContainerImage.fromAsset(".", {
    file: `containers/${kind}/Dockerfile`,
    exclude: ["node_modules", ".sst", ".fleet", "cdk.out", ".git", "test", "bench", "docs"],
  });
}

/** What a proxy task's agent reads: any bundle (content-addressed) and its own service's runtime document. */
export function grantAgentReads(task: ecs.TaskDefinition, bundles: s3.IBucket, service: string): void {
  bundles.grantRead(task.taskRole, "bundles/*");
  bundles.grantRead(task.taskRole, `runtime/${service}/*`);
}
