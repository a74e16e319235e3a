// The DNS loop's ports, wired to AWS from the Lambda environment:
//   CONFIG_BUCKET   accepted config snapshot and runtime target documents
//   STATE_TABLE     DNS state and target-group ownership
//   EVENT_BUS_NAME  where "DNS Removal Held" events go (default: the default bus)
//   HOSTED_ZONE_IDS Route 53 zones whose names are read from the zone ("Z1,Z2"; none: every name through the resolver)
//   VPC_ID          the VPC whose resolver the data planes use: a private zone counts only when associated with it
import { durationMs } from "../fleet/duration.ts";
import { createDnsClient } from "../dns/resolve.ts";
import type { LookupSchedule } from "../dns/ports.ts";
import type { SyncPorts } from "../dns/sync.ts";
import { fitEventDetail } from "../rollout/limits.ts";
import { dynamoClient, elbClient, eventsClient, requireEnv, s3Client } from "./clients.ts";
import { hostedZoneIds, route53Client, route53Zones } from "./route53.ts";
import { acceptedConfig, documentStore } from "./config-bucket.ts";
import { eventPublisher } from "./events.ts";
import { dnsStateStore, leaseStore, ownershipStore } from "./state-table.ts";
import { targetGroupApi } from "./target-groups.ts";

export type DnsSyncPorts = SyncPorts;

/** `instrument` lets the handler hand each SDK client to the tracer. */
export function dnsSyncPorts(schedule: LookupSchedule, instrument: <T>(client: T) => T = (c) => c): DnsSyncPorts {
  const bucket = requireEnv("CONFIG_BUCKET");
  const table = requireEnv("STATE_TABLE");
  const s3 = instrument(s3Client());
  const dynamo = instrument(dynamoClient());
  const zoneIds = hostedZoneIds(process.env.HOSTED_ZONE_IDS);
  const zones = zoneIds.length > 0 ? route53Zones(instrument(route53Client()), zoneIds, process.env.VPC_ID) : undefined;
  const events = eventPublisher(instrument(eventsClient()), process.env.EVENT_BUS_NAME ?? "default");
  return {
    config: acceptedConfig(s3, bucket),
    dns: (model) => createDnsClient({ servers: model.dns.resolvers, timeoutMs: durationMs(model.dns.timeout) }),
    state: dnsStateStore(dynamo, table),
    ownership: ownershipStore(dynamo, table),
    targetGroups: targetGroupApi(instrument(elbClient())),
    documents: documentStore(s3, bucket),
    leases: leaseStore(dynamo, table),
    schedule,
    ...(zones ? { zones } : {}),
    ...(process.env.AWS_REGION ? { region: process.env.AWS_REGION } : {}),
    async announceHeld(commit, held) {
      // Within EventBridge's 256 KB entry limit, however many names are held at once.
      await events.publish("DNS Removal Held", fitEventDetail({ commit, held }, "held"));
    },
  };
}
