// The event shapes the instance-heal loop accepts, as AWS documents them.
import { EventBridgeSchema } from "@aws-lambda-powertools/parser/schemas/eventbridge";
import * as z from "zod";

/**
 * Where a launching instance comes from and goes to. With a warm pool the launch hook fires twice per instance:
 * EC2 → WarmPool (held in Warmed:Pending:Wait) and later WarmPool → AutoScalingGroup (Pending:Wait); a cold launch
 * is EC2 → AutoScalingGroup (https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pool-instance-lifecycle.html,
 * https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pools-eventbridge-events.html).
 */
export const LaunchEndpoint = z.enum(["EC2", "AutoScalingGroup", "WarmPool"]);

/** Auto Scaling's launch lifecycle hook, delivered by EventBridge; the instance waits in Pending:Wait (or Warmed:Pending:Wait). */
export const LaunchLifecycleAction = EventBridgeSchema.extend({
  "detail-type": z.literal("EC2 Instance-launch Lifecycle Action"),
  source: z.literal("aws.autoscaling"),
  detail: z.object({
    LifecycleActionToken: z.string().min(1),
    AutoScalingGroupName: z.string().min(1),
    LifecycleHookName: z.string().min(1),
    EC2InstanceId: z.string().regex(/^i-[0-9a-f]+$/),
    LifecycleTransition: z.literal("autoscaling:EC2_INSTANCE_LAUNCHING"),
    // Absent in older samples: such an event is a launch into the group.
    Origin: LaunchEndpoint.optional(),
    Destination: LaunchEndpoint.optional(),
  }),
});

/** EC2's state change; only instances on their way out matter here. */
export const InstanceStateChange = EventBridgeSchema.extend({
  "detail-type": z.literal("EC2 Instance State-change Notification"),
  source: z.literal("aws.ec2"),
  detail: z.object({ "instance-id": z.string().regex(/^i-[0-9a-f]+$/), state: z.string() }),
});

export const HealEvent = z.discriminatedUnion("detail-type", [LaunchLifecycleAction, InstanceStateChange]);
export type HealEvent = z.infer<typeof HealEvent>;

/**
 * The service a site's Auto Scaling group is named after: the stacks name it `proxy-fleet-<stage>_<service>`
 * (stacks/settings.ts, stageName). Only a hint, to look the service's ENIs up early; the instance's tag decides.
 */
export function serviceOfGroup(groupName: string): string | undefined {
  return /^proxy-fleet-[a-z][a-z0-9-]*_(.+)$/.exec(groupName)?.[1];
}
