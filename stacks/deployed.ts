// What the stacks deploy from: the config repository in PROXY_FLEET_CONFIG_DIR (default examples/), loaded
// and validated once per synth, and the helpers the proxy stacks share.
import { Duration, aws_ecr_assets as ecrAssets, aws_ecs as ecs, type aws_s3 as s3 } from "aws-cdk-lib";
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

/**
 * Every image and every task is linux/amd64: Fargate runs x86_64 unless the task says otherwise, and an image built
 * on an arm64 laptop without a pinned platform would not start there
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#runtime-platform).
 */
export const IMAGE_PLATFORM = ecrAssets.Platform.LINUX_AMD64;
export const TASK_PLATFORM: ecs.RuntimePlatform = { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX };

/** The data plane's image: one stage of the multi-stage containers/Dockerfile, built from the repository root. */
export function proxyImage(kind: ServiceModel["kind"]): ecs.ContainerImage {
  return ecs.ContainerImage.fromAsset(".", {
    file: "containers/Dockerfile",
    target: kind,
    platform: IMAGE_PLATFORM,
    exclude: ["node_modules", ".sst", ".fleet", "cdk.out", ".git", "test", "bench", "docs"],
  });
}

/**
 * What every proxy container carries: the health check ECS acts on (ECS ignores a Dockerfile HEALTHCHECK:
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#container_definition_healthcheck),
 * an init process that reaps the daemons' children, and time to drain on stop.
 */
export const CONTAINER_HEALTH_CHECK: ecs.HealthCheck = {
  command: ["CMD", "/usr/local/bin/proxy-fleet-healthcheck"],
  interval: Duration.seconds(10),
  timeout: Duration.seconds(5),
  retries: 3,
  startPeriod: Duration.seconds(30),
};
export const CONTAINER_STOP_TIMEOUT = Duration.seconds(30);

/** What a proxy task's agent reads: any bundle (content-addressed) and its own service's runtime document. */
export function grantAgentReads(task: ecs.TaskDefinition, bundles: s3.IBucket, service: string): void {
  bundles.grantRead(task.taskRole, "bundles/*");
  bundles.grantRead(task.taskRole, `runtime/${service}/*`);
}
