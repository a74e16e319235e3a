// The event shapes the DNS loop accepts, as AWS documents them, and what each asks the loop to do.
import { EventBridgeSchema } from "@aws-lambda-powertools/parser/schemas/eventbridge";
import { z } from "zod";
import type { SyncRequest } from "./sync.ts";

/** EventBridge "Scheduled Event": look at every name whose TTL has expired. */
export const ScheduledEvent = EventBridgeSchema.extend({
  "detail-type": z.literal("Scheduled Event"),
  source: z.literal("aws.events"),
});

/** Route 53 ChangeResourceRecordSets, delivered through CloudTrail on the us-east-1 default bus. */
export const Route53ChangeEvent = EventBridgeSchema.extend({
  "detail-type": z.literal("AWS API Call via CloudTrail"),
  source: z.literal("aws.route53"),
  detail: z.object({
    eventName: z.literal("ChangeResourceRecordSets"),
    requestParameters: z.object({
      changeBatch: z.object({
        changes: z.array(z.object({ resourceRecordSet: z.object({ name: z.string().min(1) }) })).min(1),
      }),
    }),
  }),
});

/** proxy-fleet's own "Config Accepted" (the rollout loop): new names are looked up at once. */
export const ConfigAcceptedEvent = EventBridgeSchema.extend({
  "detail-type": z.literal("Config Accepted"),
  source: z.literal("proxy-fleet"),
  detail: z.object({ commit: z.string().min(1) }),
});

export const DnsSyncEvent = z.discriminatedUnion("detail-type", [ScheduledEvent, Route53ChangeEvent, ConfigAcceptedEvent]);
export type DnsSyncEvent = z.infer<typeof DnsSyncEvent>;

export function requestFor(event: DnsSyncEvent): SyncRequest {
  // A schedule tick or a new config: whatever is due, which includes every name not looked up yet.
  if (event["detail-type"] !== "AWS API Call via CloudTrail") return { scope: "due" };
  const changes = (event as z.infer<typeof Route53ChangeEvent>).detail.requestParameters.changeBatch.changes;
  return { scope: "names", names: [...new Set(changes.map((c) => c.resourceRecordSet.name))] };
}
