// The event shapes the DNS loop accepts, as AWS documents them, and what each asks the loop to do.
import { EventBridgeSchema } from "@aws-lambda-powertools/parser/schemas/eventbridge";
import * as z from "zod";
import { ScheduledEvent } from "../lambda.ts";
import type { SyncRequest } from "./sync.ts";

/**
 * Route 53 ChangeResourceRecordSets, delivered through CloudTrail on the us-east-1 default bus. A call that
 * failed carries errorCode (and may carry no request parameters); every other one names its zone and changes.
 */
// CloudTrail User Guide, "CloudTrail record contents": errorCode and errorMessage are present only when the
// request failed. Route 53 API Reference, ChangeResourceRecordSets: actions are CREATE, DELETE and UPSERT.
export const Route53ChangeEvent = EventBridgeSchema.extend({
  "detail-type": z.literal("AWS API Call via CloudTrail"),
  source: z.literal("aws.route53"),
  detail: z.object({
    eventName: z.literal("ChangeResourceRecordSets"),
    errorCode: z.string().optional(),
    requestParameters: z.object({
      hostedZoneId: z.string().min(1).optional(),
      changeBatch: z.object({
        changes: z.array(z.object({
          action: z.string().optional(),
          resourceRecordSet: z.object({ name: z.string().min(1), type: z.string().optional() }),
        })).min(1),
      }),
    }).nullish(),
  }).superRefine((detail, context) => {
    if (!detail.errorCode && !detail.requestParameters) context.addIssue({ code: "custom", path: ["requestParameters"], message: "Required" });
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

/** Changes an event asked about that the loop leaves alone, by why. */
export interface IgnoredChanges {
  /** The API call failed (errorCode set): nothing changed in the zone. */
  readonly failedCall: number;
  /** The change is in a hosted zone the deployment does not watch. */
  readonly unwatchedZone: number;
  /** A DELETE alone: removal goes through the misses and shrink guard of the scheduled lookups, never at once. */
  readonly deletion: number;
}

export const NOTHING_IGNORED: IgnoredChanges = { failedCall: 0, unwatchedZone: 0, deletion: 0 };

export interface Triage {
  /** Undefined when the event leaves nothing to look at: no run at all. */
  readonly request: SyncRequest | undefined;
  readonly ignored: IgnoredChanges;
}

/**
 * What an event asks the loop to look at. `watchedZones` are the hosted zones the deployment reads; without
 * any, a Route 53 change in any zone looks its names up through the resolver.
 */
export function triage(event: DnsSyncEvent, watchedZones: readonly string[] = []): Triage {
  // A schedule tick or a new config: whatever is due, which includes every name not looked up yet.
  if (event["detail-type"] !== "AWS API Call via CloudTrail") return { request: { scope: "due" }, ignored: NOTHING_IGNORED };
  const detail = (event as z.infer<typeof Route53ChangeEvent>).detail;
  const changes = detail.requestParameters?.changeBatch.changes ?? [];
  if (detail.errorCode) return { request: undefined, ignored: { ...NOTHING_IGNORED, failedCall: Math.max(1, changes.length) } };
  const zone = (detail.requestParameters?.hostedZoneId ?? "").replace(/^\/?hostedzone\//, "");
  if (watchedZones.length > 0 && !watchedZones.includes(zone)) return { request: undefined, ignored: { ...NOTHING_IGNORED, unwatchedZone: changes.length } };
  const named = changes.filter((c) => c.action?.toUpperCase() !== "DELETE");
  const deletedOnly = changes.filter((c) => c.action?.toUpperCase() === "DELETE" && !named.some((n) => sameName(n, c))).length;
  const ignored = { ...NOTHING_IGNORED, deletion: deletedOnly };
  if (named.length === 0) return { request: undefined, ignored };
  return { request: { scope: "names", names: [...new Set(named.map((c) => c.resourceRecordSet.name))] }, ignored };
}

const sameName = (a: { resourceRecordSet: { name: string } }, b: { resourceRecordSet: { name: string } }) =>
  a.resourceRecordSet.name.toLowerCase() === b.resourceRecordSet.name.toLowerCase();
