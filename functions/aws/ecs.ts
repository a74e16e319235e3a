// Rolling out a bundle on ECS: a new task-definition revision copied from the service's current one with
// the bundle pinned in the agent container's environment, then UpdateService (rolling deployment with
// the circuit breaker the stack configures). A service is never destroyed to change its config.
import {
  DescribeServicesCommand, DescribeTaskDefinitionCommand, RegisterTaskDefinitionCommand, UpdateServiceCommand,
  type ECSClient, type RegisterTaskDefinitionCommandInput, type TaskDefinition,
} from "@aws-sdk/client-ecs";
import type { BundlePin, Deployer } from "../rollout/ports.ts";

export const PIN_VARIABLES = { key: "PROXY_FLEET_BUNDLE_KEY", hash: "PROXY_FLEET_BUNDLE_HASH", commit: "PROXY_FLEET_COMMIT" } as const;

/** The fields RegisterTaskDefinition takes back from a described task definition. */
const COPIED = [
  "family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes", "placementConstraints",
  "requiresCompatibilities", "cpu", "memory", "pidMode", "ipcMode", "proxyConfiguration", "inferenceAccelerators",
  "ephemeralStorage", "runtimePlatform",
] as const satisfies ReadonlyArray<keyof TaskDefinition & keyof RegisterTaskDefinitionCommandInput>;

export function pinBundle(definition: TaskDefinition, container: string, pin: BundlePin): RegisterTaskDefinitionCommandInput {
  const copy = Object.fromEntries(COPIED.filter((k) => definition[k] !== undefined).map((k) => [k, definition[k]])) as unknown as RegisterTaskDefinitionCommandInput;
  let found = false;
  copy.containerDefinitions = (definition.containerDefinitions ?? []).map((c) => {
    if (c.name !== container) return c;
    found = true;
    const pinned = new Set<string>(Object.values(PIN_VARIABLES));
    return {
      ...c,
      environment: [
        ...(c.environment ?? []).filter((e) => !pinned.has(e.name ?? "")),
        { name: PIN_VARIABLES.key, value: pin.key },
        { name: PIN_VARIABLES.hash, value: pin.hash },
        { name: PIN_VARIABLES.commit, value: pin.commit },
      ],
    };
  });
  if (!found) throw new Error(`task definition ${definition.taskDefinitionArn} has no container named ${container}`);
  return copy;
}

export function ecsDeployer(client: ECSClient): Deployer {
  return {
    async registerRevision(target, pin) {
      const { services = [] } = await client.send(new DescribeServicesCommand({ cluster: target.cluster, services: [target.service] }));
      const current = services[0]?.taskDefinition;
      if (!current) throw new Error(`ECS service ${target.service} was not found in cluster ${target.cluster}`);
      const { taskDefinition, tags } = await client.send(new DescribeTaskDefinitionCommand({ taskDefinition: current, include: ["TAGS"] }));
      const input = pinBundle(taskDefinition!, target.container, pin);
      const registered = await client.send(new RegisterTaskDefinitionCommand({ ...input, ...(tags?.length ? { tags } : {}) }));
      return registered.taskDefinition!.taskDefinitionArn!;
    },
    async updateService(target, taskDefinitionArn) {
      const { service } = await client.send(new UpdateServiceCommand({ cluster: target.cluster, service: target.service, taskDefinition: taskDefinitionArn }));
      const primary = service?.deployments?.find((d) => d.status === "PRIMARY") ?? service?.deployments?.[0];
      if (!primary?.id) throw new Error(`UpdateService on ${target.service} returned no deployment`);
      return primary.id;
    },
  };
}
