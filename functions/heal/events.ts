// The event shapes the instance-heal loop accepts, as AWS documents them.
import { EventBridgeSchema } from "@aws-lambda-powertools/parser/schemas/eventbridge";
import { z } from "zod";

/** Auto Scaling's launch lifecycle hook, delivered by EventBridge; the instance waits in Pending:Wait. */
export const LaunchLifecycleAction = EventBridgeSchema.extend({
  "detail-type": z.literal("EC2 Instance-launch Lifecycle Action"),
  source: z.literal("aws.autoscaling"),
  detail: z.object({
    LifecycleActionToken: z.string().min(1),
    AutoScalingGroupName: z.string().min(1),
    LifecycleHookName: z.string().min(1),
    EC2InstanceId: z.string().regex(/^i-[0-9a-f]+$/),
    LifecycleTransition: z.literal("autoscaling:EC2_INSTANCE_LAUNCHING"),
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
