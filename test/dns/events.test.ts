// Which Route 53 change events start a run, and what the others are counted as. Parsed with the handler's schema.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { DnsSyncEvent, triage } from "../../functions/dns/events.ts";

const sample = (file = "route53-change-resource-record-sets.json") =>
  JSON.parse(readFileSync(resolve(import.meta.dirname, "../../events", file), "utf8"));
const parsed = (event: unknown) => DnsSyncEvent.parse(event);
const WATCHED = ["Z0EXAMPLE1ABCDEF"];

describe("Route 53 change events", () => {
  it("a change in a watched zone asks for its names, whatever the zone id's prefix", () => {
    const event = sample();
    event.detail.requestParameters.hostedZoneId = "/hostedzone/Z0EXAMPLE1ABCDEF";
    expect(triage(parsed(event), WATCHED)).toEqual({
      request: { scope: "names", names: ["db1.corp.example.com."] }, ignored: { failedCall: 0, unwatchedZone: 0, deletion: 0 },
    });
  });

  it("with no zone watched, every change asks for its names (they are read through the resolver)", () => {
    const event = sample();
    event.detail.requestParameters.hostedZoneId = "Z9ANYZONE";
    expect(triage(parsed(event)).request).toEqual({ scope: "names", names: ["db1.corp.example.com."] });
  });

  // CloudTrail User Guide, "CloudTrail record contents": a failed request carries errorCode, and its
  // requestParameters may be null.
  it("a failed call starts nothing, with or without its request parameters", () => {
    const failed = sample("route53-change-resource-record-sets-failed.json");
    expect(triage(parsed(failed), WATCHED)).toEqual({ request: undefined, ignored: { failedCall: 1, unwatchedZone: 0, deletion: 0 } });
    failed.detail.requestParameters = null;
    expect(triage(parsed(failed), WATCHED)).toEqual({ request: undefined, ignored: { failedCall: 1, unwatchedZone: 0, deletion: 0 } });
  });

  it("a successful call without request parameters is malformed", () => {
    const event = sample();
    event.detail.requestParameters = null;
    expect(DnsSyncEvent.safeParse(event).success).toBe(false);
  });

  it("deletes are counted apart; the other changes of the batch still ask for their names", () => {
    const event = sample();
    const [upsert] = event.detail.requestParameters.changeBatch.changes;
    event.detail.requestParameters.changeBatch.changes = [
      upsert,
      { action: "DELETE", resourceRecordSet: { name: "old.corp.example.com.", type: "A" } },
      { action: "DELETE", resourceRecordSet: { name: "gone.corp.example.com.", type: "A" } },
    ];
    expect(triage(parsed(event), WATCHED)).toEqual({
      request: { scope: "names", names: ["db1.corp.example.com."] }, ignored: { failedCall: 0, unwatchedZone: 0, deletion: 2 },
    });
  });

  it("a schedule tick asks for whatever is due", () => {
    const tick = JSON.parse(readFileSync(resolve(import.meta.dirname, "../../events/scheduled-event.json"), "utf8"));
    expect(triage(parsed(tick), WATCHED).request).toEqual({ scope: "due" });
  });
});
