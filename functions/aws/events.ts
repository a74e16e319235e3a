// Events proxy-fleet publishes on EventBridge (source "proxy-fleet"), for alarms and chat notifications.
import { PutEventsCommand, type EventBridgeClient } from "@aws-sdk/client-eventbridge";

export const EVENT_SOURCE = "proxy-fleet";

export interface EventPublisher {
  publish(detailType: string, detail: object): Promise<void>;
}

export function eventPublisher(client: EventBridgeClient, busName: string): EventPublisher {
  return {
    async publish(detailType, detail) {
      const { FailedEntryCount, Entries } = await client.send(new PutEventsCommand({
        Entries: [{ EventBusName: busName, Source: EVENT_SOURCE, DetailType: detailType, Detail: JSON.stringify(detail) }],
      }));
      if (FailedEntryCount) throw new Error(`EventBridge refused ${detailType}: ${Entries?.[0]?.ErrorMessage ?? "unknown error"}`);
    },
  };
}
