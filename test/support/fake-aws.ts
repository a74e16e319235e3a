// A small in-memory AWS behind aws-sdk-client-mock: the real SDK clients send real commands, and these
// fakes answer them with the services' documented behaviour (conditional writes, idempotent
// registration). Optional fault injection throws throttling and 5xx errors at a given rate.
import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  DeregisterTargetsCommand, DescribeTargetHealthCommand, ElasticLoadBalancingV2Client, RegisterTargetsCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { GetObjectCommand, HeadObjectCommand, NoSuchKey, NotFound, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { BatchGetCommand, DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { createHash } from "node:crypto";

const etag = (body: string) => `"${createHash("md5").update(body).digest("hex")}"`;

export const WRITE_COMMANDS = [PutObjectCommand, PutCommand, DeleteCommand, TransactWriteCommand, RegisterTargetsCommand, DeregisterTargetsCommand, PutEventsCommand];

export class FakeAws {
  readonly s3 = mockClient(S3Client);
  readonly dynamo = mockClient(DynamoDBDocumentClient);
  readonly elb = mockClient(ElasticLoadBalancingV2Client);
  readonly events = mockClient(EventBridgeClient);

  readonly objects = new Map<string, { body: string; metadata: Record<string, string> }>();
  readonly items = new Map<string, Record<string, unknown>>();
  readonly targets = new Map<string, Map<string, { Id: string; Port: number }>>();
  readonly published: Array<{ detailType: string; detail: unknown }> = [];
  /** Targets sent to RegisterTargets while already registered. */
  readonly duplicateRegistrations: string[] = [];
  faultRate = 0;
  /** The next this many PutEvents calls report every entry as failed. */
  refuseEvents = 0;
  /** Largest random delay per call, so concurrent runs interleave. */
  jitterMs = 0;
  faultsInjected = 0;
  private seed: number;

  constructor(seed = 42) {
    this.seed = seed;
    this.s3.on(GetObjectCommand).callsFake((input) => this.call(() => {
      const object = this.objects.get(input.Key);
      if (!object) throw new NoSuchKey({ message: "The specified key does not exist.", $metadata: {} });
      return { Body: { transformToString: async () => object.body }, ETag: etag(object.body) };
    }));
    this.s3.on(HeadObjectCommand).callsFake((input) => this.call(() => {
      const object = this.objects.get(input.Key);
      if (!object) throw new NotFound({ message: "Not Found", $metadata: { httpStatusCode: 404 } });
      return { Metadata: object.metadata };
    }));
    this.s3.on(PutObjectCommand).callsFake((input) => this.call(() => {
      // S3 conditional writes: If-Match must name the current object's ETag, else 412 Precondition Failed.
      const current = this.objects.get(input.Key);
      if (input.IfMatch !== undefined && (current === undefined || etag(current.body) !== input.IfMatch)) {
        throw Object.assign(new Error("At least one of the pre-conditions you specified did not hold"), {
          name: "PreconditionFailed", $fault: "client", $metadata: { httpStatusCode: 412 },
        });
      }
      if (input.IfNoneMatch === "*" && this.objects.has(input.Key)) {
        throw Object.assign(new Error("At least one of the pre-conditions you specified did not hold"), {
          name: "PreconditionFailed", $fault: "client", $metadata: { httpStatusCode: 412 },
        });
      }
      this.objects.set(input.Key, { body: String(input.Body), metadata: input.Metadata ?? {} });
      return {};
    }));
    this.dynamo.on(BatchGetCommand).callsFake((input) => this.call(() => {
      const [table, request] = Object.entries(input.RequestItems as Record<string, { Keys: Array<{ pk: string; sk: string }> }>)[0]!;
      const found = request.Keys.map((k) => this.items.get(`${k.pk}|${k.sk}`)).filter(Boolean);
      return { Responses: { [table]: structuredClone(found) }, UnprocessedKeys: {} };
    }));
    this.dynamo.on(GetCommand).callsFake((input) => this.call(() => {
      const item = this.items.get(`${input.Key.pk}|${input.Key.sk}`);
      return item ? { Item: structuredClone(item) } : {};
    }));
    this.dynamo.on(PutCommand).callsFake((input) => this.call(() => {
      const key = `${input.Item.pk}|${input.Item.sk}`;
      if (!this.holds(key, input)) throw new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} });
      this.items.set(key, structuredClone(input.Item));
      return {};
    }));
    // All or nothing: every condition is checked first; a failed one cancels the whole transaction with a reason
    // per item, in the items' order (DynamoDB API Reference, TransactWriteItems / TransactionCanceledException).
    this.dynamo.on(TransactWriteCommand).callsFake((input) => this.call(() => {
      const actions = (input.TransactItems as Array<Record<string, Record<string, any>>>).map((item) => { // eslint-disable-line @typescript-eslint/no-explicit-any
        const [kind, action] = Object.entries(item)[0]!;
        const key = kind === "Put" ? action.Item : action.Key;
        return { kind, action, key: `${key.pk}|${key.sk}` };
      });
      const reasons = actions.map(({ key, action }) => ({ Code: this.holds(key, action) ? "None" : "ConditionalCheckFailed" }));
      if (reasons.some((r) => r.Code !== "None")) {
        throw new TransactionCanceledException({ message: `Transaction cancelled [${reasons.map((r) => r.Code).join(", ")}]`, $metadata: {}, CancellationReasons: reasons });
      }
      for (const { kind, action, key } of actions) {
        if (kind === "Put") this.items.set(key, structuredClone(action.Item));
        else if (kind !== "ConditionCheck") throw new Error(`fake DynamoDB does not do ${kind} in a transaction`);
      }
      return {};
    }));
    this.dynamo.on(DeleteCommand).callsFake((input) => this.call(() => {
      const key = `${input.Key.pk}|${input.Key.sk}`;
      const existing = this.items.get(key);
      if (input.ConditionExpression === "holder = :holder" && existing?.holder !== input.ExpressionAttributeValues[":holder"]) {
        throw new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} });
      }
      this.items.delete(key);
      return {};
    }));
    this.elb.on(DescribeTargetHealthCommand).callsFake((input) => this.call(() => ({
      TargetHealthDescriptions: [...this.group(input.TargetGroupArn).values()].map((t) => ({ Target: { ...t }, TargetHealth: { State: "healthy" } })),
    })));
    this.elb.on(RegisterTargetsCommand).callsFake((input) => this.call(() => {
      const group = this.group(input.TargetGroupArn);
      for (const t of input.Targets) {
        const key = `${t.Id}:${t.Port}`;
        if (group.has(key)) this.duplicateRegistrations.push(key);
        group.set(key, { Id: t.Id, Port: t.Port });
      }
      return {};
    }));
    // "If the specified target does not exist, the action returns successfully." (ELB API Reference, DeregisterTargets)
    this.elb.on(DeregisterTargetsCommand).callsFake((input) => this.call(() => {
      for (const t of input.Targets) this.group(input.TargetGroupArn).delete(`${t.Id}:${t.Port}`);
      return {};
    }));
    this.events.on(PutEventsCommand).callsFake((input) => this.call(() => {
      // PutEvents reports a failed entry in the response (FailedEntryCount, ErrorCode), not as an error.
      if (this.refuseEvents > 0) {
        this.refuseEvents--;
        return { FailedEntryCount: input.Entries.length, Entries: input.Entries.map(() => ({ ErrorCode: "InternalFailure", ErrorMessage: "Internal failure" })) };
      }
      for (const e of input.Entries) this.published.push({ detailType: e.DetailType, detail: JSON.parse(e.Detail) });
      return { FailedEntryCount: 0, Entries: [{ EventId: "e1" }] };
    }));
  }

  /** Whether the item at `key` meets a write's condition (the ones the adapters write). */
  private holds(key: string, input: { ConditionExpression?: string; ExpressionAttributeValues?: Record<string, any> }): boolean { // eslint-disable-line @typescript-eslint/no-explicit-any
    const existing = this.items.get(key);
    const values = input.ExpressionAttributeValues ?? {};
    switch (input.ConditionExpression) {
      case undefined: return true;
      case "attribute_not_exists(pk)": return existing === undefined;
      case "version = :expected": return existing !== undefined && existing.version === values[":expected"];
      case "attribute_not_exists(pk) OR leaseUntil < :now OR holder = :holder":
        return existing === undefined || (existing.leaseUntil as number) < values[":now"] || existing.holder === values[":holder"];
      default: throw new Error(`fake DynamoDB does not know the condition ${input.ConditionExpression}`);
    }
  }

  group(arn: string) {
    let group = this.targets.get(arn);
    if (!group) this.targets.set(arn, (group = new Map()));
    return group;
  }

  registered(arn: string): string[] {
    return [...this.group(arn).keys()].sort();
  }

  /** Every write command sent so far, by command name. */
  writes(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const mock of [this.s3, this.dynamo, this.elb, this.events]) {
      for (const call of mock.calls()) {
        const name = (call.args[0] as object).constructor.name;
        if (WRITE_COMMANDS.some((c) => c.name === name)) counts[name] = (counts[name] ?? 0) + 1;
      }
    }
    return counts;
  }

  totalCalls(): number {
    return [this.s3, this.dynamo, this.elb, this.events].reduce((n, m) => n + m.calls().length, 0);
  }

  resetHistory(): void {
    for (const mock of [this.s3, this.dynamo, this.elb, this.events]) mock.resetHistory();
  }

  restore(): void {
    for (const mock of [this.s3, this.dynamo, this.elb, this.events]) mock.restore();
  }

  private random(): number {
    // Deterministic, so a failing run can be replayed.
    this.seed = (this.seed * 1103515245 + 12345) % 2 ** 31;
    return this.seed / 2 ** 31;
  }

  private async call<T>(effect: () => T): Promise<T> {
    if (this.jitterMs > 0) await new Promise((r) => setTimeout(r, this.random() * this.jitterMs));
    if (this.faultRate > 0 && this.random() < this.faultRate) {
      this.faultsInjected++;
      const throttle = this.random() < 0.5;
      // A 5xx may come after the service acted (the response was lost): the caller cannot tell.
      if (!throttle && this.random() < 0.5) effect();
      throw Object.assign(new Error(throttle ? "Rate exceeded" : "Service Unavailable"), {
        name: throttle ? "ThrottlingException" : "ServiceUnavailable",
        $fault: throttle ? "client" : "server",
        $metadata: { httpStatusCode: throttle ? 400 : 503 },
      });
    }
    return effect();
  }
}
