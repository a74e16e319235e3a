// Persistent ENIs and Elastic IPs through the EC2 API, and lifecycle hooks through Auto Scaling.
import {
  AutoScalingClient, CompleteLifecycleActionCommand, DescribeAutoScalingInstancesCommand, RecordLifecycleActionHeartbeatCommand,
  SetInstanceHealthCommand,
} from "@aws-sdk/client-auto-scaling";
import {
  AssociateAddressCommand, AttachNetworkInterfaceCommand, DescribeAddressesCommand, DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand, DetachNetworkInterfaceCommand, EC2Client, ModifyNetworkInterfaceAttributeCommand,
  type NetworkInterface,
} from "@aws-sdk/client-ec2";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { CALL_LIMITS, detachPollDelays } from "../heal/heal.ts";
import { SERVICE_TAG, STAGE_TAG, type AutoScalingApi, type Ec2Api, type PersistentEni } from "../heal/ports.ts";

/**
 * DescribeInstances with an id EC2 does not know fails with this code rather than returning nothing:
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html (InvalidInstanceID.NotFound).
 */
export const INSTANCE_NOT_FOUND = "InvalidInstanceID.NotFound";

/** DescribeNetworkInterfaces naming an ENI EC2 does not know (any more) fails with this code. */
export const ENI_NOT_FOUND = "InvalidNetworkInterfaceID.NotFound";

function toEni(ni: NetworkInterface): PersistentEni {
  const service = ni.TagSet?.find((t) => t.Key === SERVICE_TAG)?.Value;
  return {
    id: ni.NetworkInterfaceId!,
    ...(service ? { service } : {}),
    availabilityZone: ni.AvailabilityZone!,
    sourceDestCheck: ni.SourceDestCheck ?? true,
    ...(ni.Attachment?.InstanceId && ni.Attachment.Status !== "detached"
      ? { attachment: { id: ni.Attachment.AttachmentId!, instanceId: ni.Attachment.InstanceId, deviceIndex: ni.Attachment.DeviceIndex ?? 0 } }
      : {}),
  };
}

/** How the adapter waits between polls, and reads the clock (tests pass fakes). */
export interface Clock {
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
}
const REAL_CLOCK: Clock = { sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)), now: () => Date.now() };

/** Only this stage's persistent ENIs and Elastic IPs are ever looked up, so only they are ever changed. */
export function ec2Api(client: EC2Client, stage: string, { sleep, now }: Clock = REAL_CLOCK): Ec2Api {
  const ofStage = { Name: `tag:${STAGE_TAG}`, Values: [stage] };
  return {
    async describeInstance(id) {
      let Reservations;
      try {
        ({ Reservations = [] } = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] })));
      } catch (error) {
        if ((error as { name?: string }).name === INSTANCE_NOT_FOUND) return undefined;
        throw error;
      }
      const instance = Reservations[0]?.Instances?.[0];
      if (!instance) return undefined;
      const tag = (key: string) => instance.Tags?.find((t) => t.Key === key)?.Value;
      const service = tag(STAGE_TAG) === stage ? tag(SERVICE_TAG) : undefined;
      return { id, availabilityZone: instance.Placement!.AvailabilityZone!, ...(service ? { service } : {}) };
    },
    async findEnis(service) {
      const { NetworkInterfaces = [] } = await client.send(new DescribeNetworkInterfacesCommand({
        Filters: [{ Name: `tag:${SERVICE_TAG}`, Values: [service] }, ofStage],
      }));
      return NetworkInterfaces.map(toEni);
    },
    async findEniOf(instanceId) {
      const { NetworkInterfaces = [] } = await client.send(new DescribeNetworkInterfacesCommand({
        Filters: [{ Name: "attachment.instance-id", Values: [instanceId] }, { Name: "tag-key", Values: [SERVICE_TAG] }, ofStage],
      }));
      return NetworkInterfaces[0] ? toEni(NetworkInterfaces[0]) : undefined;
    },
    async findElasticIp(service) {
      const { Addresses = [] } = await client.send(new DescribeAddressesCommand({ Filters: [{ Name: `tag:${SERVICE_TAG}`, Values: [service] }, ofStage] }));
      const address = Addresses[0];
      return address?.AllocationId
        ? { allocationId: address.AllocationId, ...(address.NetworkInterfaceId ? { networkInterfaceId: address.NetworkInterfaceId } : {}) }
        : undefined;
    },
    async detachEni(attachmentId) {
      await client.send(new DetachNetworkInterfaceCommand({ AttachmentId: attachmentId, Force: true }));
    },
    // Polled here rather than with the SDK's waiter, whose delays are whole seconds and grow from there: a
    // force-detached ENI is usually available again within the first second or two.
    async waitUntilAvailable(eniId, maxWaitSeconds) {
      const maxWaitMs = maxWaitSeconds * 1000;
      const start = now();
      for (const delay of detachPollDelays(maxWaitMs)) {
        if (now() - start + delay > maxWaitMs) break;
        await sleep(delay);
        let status: string | undefined;
        try {
          const { NetworkInterfaces = [] } = await client.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] }));
          status = NetworkInterfaces[0]?.Status;
        } catch (error) {
          if ((error as { name?: string }).name === ENI_NOT_FOUND) throw new Error(`persistent ENI ${eniId} disappeared while detaching`, { cause: error });
          throw error;
        }
        if (status === "available") return;
      }
      throw Object.assign(new Error(`persistent ENI ${eniId} was not available ${maxWaitSeconds} s after the detach`), { name: "DetachTimeout" });
    },
    // An ENI attached through the API is not deleted with the instance (DeleteOnTermination is false unless set:
    // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_NetworkInterfaceAttachment.html), so it outlives it.
    async attachEni(eniId, instanceId, deviceIndex) {
      await client.send(new AttachNetworkInterfaceCommand({ NetworkInterfaceId: eniId, InstanceId: instanceId, DeviceIndex: deviceIndex }));
    },
    async associateElasticIp(allocationId, eniId) {
      await client.send(new AssociateAddressCommand({ AllocationId: allocationId, NetworkInterfaceId: eniId, AllowReassociation: true }));
    },
    async disableSourceDestCheck(eniId) {
      await client.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eniId, SourceDestCheck: { Value: false } }));
    },
  };
}

export function autoScalingApi(client: AutoScalingClient): AutoScalingApi {
  return {
    async lifecycleState(instanceId) {
      const { AutoScalingInstances = [] } = await client.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }));
      return AutoScalingInstances[0]?.LifecycleState;
    },
    // ShouldRespectGracePeriod false: the group's grace period would otherwise delay the replacement
    // (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetInstanceHealth.html).
    async markUnhealthy(instanceId) {
      try {
        await client.send(new SetInstanceHealthCommand({ InstanceId: instanceId, HealthStatus: "Unhealthy", ShouldRespectGracePeriod: false }));
      } catch (error) {
        // Already out of the group (Auto Scaling took it out meanwhile): nothing left to replace.
        if (!/Instance Id not found/i.test(String((error as Error).message))) throw error;
      }
    },
    async heartbeat(hook) {
      await client.send(new RecordLifecycleActionHeartbeatCommand({
        AutoScalingGroupName: hook.autoScalingGroupName, LifecycleHookName: hook.lifecycleHookName,
        LifecycleActionToken: hook.lifecycleActionToken, InstanceId: hook.instanceId,
      }));
    },
    async complete(hook, result) {
      try {
        await client.send(new CompleteLifecycleActionCommand({
          AutoScalingGroupName: hook.autoScalingGroupName, LifecycleHookName: hook.lifecycleHookName,
          LifecycleActionToken: hook.lifecycleActionToken, InstanceId: hook.instanceId, LifecycleActionResult: result,
        }));
      } catch (error) {
        // Already completed (by an earlier delivery of the same event): that is the state we want.
        if (!/No active Lifecycle Action found/.test(String((error as Error).message))) throw error;
      }
    },
  };
}

/** The heal loop's clients, each call bounded by CALL_LIMITS so the loop's worst case (healWorstCaseMs) holds. */
export function healClients(stage: string, instrument: <T>(client: T) => T = (c) => c) {
  const { connectionTimeoutMs, requestTimeoutMs, maxAttempts } = CALL_LIMITS;
  const bounded = { retryMode: "standard", maxAttempts, requestHandler: { connectionTimeout: connectionTimeoutMs, requestTimeout: requestTimeoutMs } } as const;
  return {
    ec2: ec2Api(instrument(new EC2Client(bounded)), stage),
    autoScaling: autoScalingApi(instrument(new AutoScalingClient(bounded))),
    dynamo: instrument(DynamoDBDocumentClient.from(new DynamoDBClient(bounded), { marshallOptions: { removeUndefinedValues: true } })),
  };
}
