// Route 53 for the DNS loop: the watched hosted zones (GetHostedZone) and a name's record sets
// (ListResourceRecordSets from that name, page after page while the name lasts). Only the zones the
// deployment lists are read; the Lambda's role allows exactly those.
import {
  GetHostedZoneCommand, ListResourceRecordSetsCommand, Route53Client, type ListResourceRecordSetsCommandInput, type Route53ClientConfig,
} from "@aws-sdk/client-route-53";
import { normalizeName, type HostedZone, type ZonePort, type ZoneRecordSet } from "../dns/zone.ts";

export { hostedZoneIds } from "../dns/zone.ts";

/** Pages read for one name before giving up (300 sets a page: far more than one name holds). */
const MAX_PAGES = 20;

/** The SDK's adaptive retry mode backs off on Route 53's Throttling (five requests per second per account). */
export function route53Client(overrides: Route53ClientConfig = {}): Route53Client {
  return new Route53Client({ retryMode: "adaptive", maxAttempts: 8, ...overrides });
}

/**
 * The loop's view of Route 53. A private zone counts only when it is associated with `vpcId` (the VPC whose
 * resolver the data planes use); without a `vpcId` every listed zone counts. Zone details are read once per
 * execution environment.
 */
export function route53Zones(client: Route53Client, ids: readonly string[], vpcId?: string): ZonePort {
  let zones: Promise<HostedZone[]> | undefined;
  const load = async () => {
    const found = await Promise.all(ids.map(async (id) => {
      const answer = await client.send(new GetHostedZoneCommand({ Id: id }));
      const isPrivate = answer.HostedZone?.Config?.PrivateZone === true;
      if (isPrivate && vpcId && !(answer.VPCs ?? []).some((v) => v.VPCId === vpcId)) return undefined;
      return { id, name: normalizeName(answer.HostedZone?.Name ?? ""), private: isPrivate };
    }));
    return found.filter((z): z is HostedZone => z !== undefined && z.name !== "");
  };
  return {
    ids,
    hostedZones() {
      zones ??= load().catch((error: unknown) => {
        zones = undefined; // a failed read is retried by the next run
        throw error;
      });
      return zones;
    },
    async recordSets(zoneId, name) {
      const sets: ZoneRecordSet[] = [];
      let start: Omit<ListResourceRecordSetsCommandInput, "HostedZoneId"> = { StartRecordName: name };
      for (let page = 0; page < MAX_PAGES; page++) {
        const answer = await client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, ...start }));
        // Sorted by name (labels reversed), then type: the first set with another name ends this name's sets.
        for (const set of answer.ResourceRecordSets ?? []) {
          if (normalizeName(set.Name ?? "") !== name) return sets;
          sets.push(set);
        }
        if (!answer.IsTruncated) return sets;
        start = { StartRecordName: answer.NextRecordName, StartRecordType: answer.NextRecordType, StartRecordIdentifier: answer.NextRecordIdentifier };
      }
      throw new Error(`${name} in ${zoneId}: more than ${MAX_PAGES} pages of record sets`);
    },
  };
}
