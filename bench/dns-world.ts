// The DNS loop's AWS for benchmarks: the real adapters (functions/aws/) over real SDK clients whose `send`
// is answered in memory after a per-service latency, so the loop sees the data shapes the SDK hands it.
// The fake keeps its data compact (items as JSON text, registrations as differences from the fixture)
// so the process's memory is the loop's. It counts calls, writes and round trips per service
// (round trips: time with a call of that service in flight ÷ its latency).
import { ConditionalCheckFailedException, DynamoDBClient, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { acceptedConfig, documentStore, runtimeDocumentKey } from "../functions/aws/config-bucket.ts";
import { dnsKey, dnsStateStore, leaseStore, ownershipKey, ownershipStore } from "../functions/aws/state-table.ts";
import { targetGroupApi } from "../functions/aws/target-groups.ts";
import { LookupSchedule } from "../functions/dns/ports.ts";
import type { SyncPorts } from "../functions/dns/sync.ts";
import type { RecordState } from "../functions/dns/tracker.ts";
import { documentBody } from "../functions/plan/documents.ts";
import * as targetGroups from "../functions/plan/target-groups.ts";
import {
  fixtureDns, groupArn, groupCount, groupName, hostAddress, hostName, HOSTS_PER_GROUP, driftOf, fleetYaml, LOST, PORT, ROUTER_HOSTS, storedSlots,
  type Scenario,
} from "./dns-fixture.ts";

export const LATENCY_MS = { DynamoDB: 10, ELB: 50, S3: 20 } as const;
export type Service = keyof typeof LATENCY_MS;
const BUCKET = "config-bucket";
const TABLE = "state";
const WRITES = new Set(["PutCommand", "DeleteCommand", "TransactWriteCommand", "RegisterTargetsCommand", "DeregisterTargetsCommand", "PutObjectCommand"]);
const FULL_CHECK_MS = 15 * 60_000;

type Input = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export class BenchAws {
  /** "pk|sk" → the item as JSON text. */
  readonly items = new Map<string, string>();
  /** Per group, what differs from the fixture's registrations (all of its hosts' stored addresses). */
  readonly added = new Map<string, Set<string>>();
  readonly removed = new Map<string, Set<string>>();
  readonly objects = new Map<string, { body: string; metadata: Record<string, string> }>();
  readonly calls: Record<string, number> = {};
  writes = 0;
  private readonly inFlight: Record<Service, number> = { DynamoDB: 0, ELB: 0, S3: 0 };
  private readonly busySince: Record<Service, number> = { DynamoDB: 0, ELB: 0, S3: 0 };
  readonly busyMs: Record<Service, number> = { DynamoDB: 0, ELB: 0, S3: 0 };
  private readonly canonical: (arn: string) => string[];

  constructor(canonical: (arn: string) => string[]) {
    this.canonical = canonical;
  }

  /** The client, with every command answered by this fake after the service's latency. */
  client<T extends object>(client: T, service: Service): T {
    (client as { send: unknown }).send = async (command: { input: Input; constructor: { name: string } }) => {
      const name = command.constructor.name;
      this.calls[`${service} ${name.replace(/Command$/, "")}`] = (this.calls[`${service} ${name.replace(/Command$/, "")}`] ?? 0) + 1;
      if (WRITES.has(name)) this.writes++;
      if (this.inFlight[service]++ === 0) this.busySince[service] = performance.now();
      try {
        await sleep(LATENCY_MS[service]);
        return this.answer(name, command.input);
      } finally {
        if (--this.inFlight[service] === 0) this.busyMs[service] += performance.now() - this.busySince[service];
      }
    };
    return client;
  }

  roundTrips(service: Service): number {
    return Math.round(this.busyMs[service] / LATENCY_MS[service]);
  }

  registered(arn: string): string[] {
    const removed = this.removed.get(arn) ?? new Set();
    return [...this.canonical(arn).filter((key) => !removed.has(key)), ...(this.added.get(arn) ?? [])];
  }

  reset(): void {
    for (const key of Object.keys(this.calls)) delete this.calls[key];
    this.writes = 0;
    for (const service of Object.keys(this.busyMs) as Service[]) this.busyMs[service] = 0;
  }

  /** Whether the item at `key` meets a write's condition (the adapters' three). */
  private holds(key: string, input: Input): boolean {
    const stored = this.items.get(key);
    const existing = stored === undefined ? undefined : JSON.parse(stored);
    const values = input.ExpressionAttributeValues ?? {};
    return input.ConditionExpression === "attribute_not_exists(pk)" ? existing === undefined
      : input.ConditionExpression === "version = :expected" ? existing?.version === values[":expected"]
        : existing === undefined || existing.leaseUntil < values[":now"] || existing.holder === values[":holder"];
  }

  private answer(name: string, input: Input): unknown {
    switch (name) {
      case "BatchGetCommand": {
        const [table, request] = Object.entries(input.RequestItems as Record<string, { Keys: Array<{ pk: string; sk: string }> }>)[0]!;
        const found = request.Keys.map((k) => this.items.get(`${k.pk}|${k.sk}`)).filter((item) => item !== undefined).map((item) => JSON.parse(item));
        return { Responses: { [table]: found }, UnprocessedKeys: {} };
      }
      case "GetCommand": {
        const item = this.items.get(`${input.Key.pk}|${input.Key.sk}`);
        return item === undefined ? {} : { Item: JSON.parse(item) };
      }
      case "PutCommand": {
        const key = `${input.Item.pk}|${input.Item.sk}`;
        if (!this.holds(key, input)) throw new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} });
        this.items.set(key, JSON.stringify(input.Item));
        return {};
      }
      case "TransactWriteCommand": {
        const actions = (input.TransactItems as Input[]).map((item) => {
          const [kind, action] = Object.entries(item)[0] as [string, Input];
          const key = kind === "Put" ? action.Item : action.Key;
          return { kind, action, key: `${key.pk}|${key.sk}` };
        });
        const reasons = actions.map(({ key, action }) => ({ Code: this.holds(key, action) ? "None" : "ConditionalCheckFailed" }));
        if (reasons.some((r) => r.Code !== "None")) {
          throw new TransactionCanceledException({ message: "Transaction cancelled", $metadata: {}, CancellationReasons: reasons });
        }
        for (const { kind, action, key } of actions) if (kind === "Put") this.items.set(key, JSON.stringify(action.Item));
        return {};
      }
      case "DeleteCommand": {
        const key = `${input.Key.pk}|${input.Key.sk}`;
        const stored = this.items.get(key);
        if (stored !== undefined && JSON.parse(stored).holder !== input.ExpressionAttributeValues?.[":holder"]) {
          throw new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} });
        }
        this.items.delete(key);
        return {};
      }
      case "DescribeTargetHealthCommand":
        return {
          TargetHealthDescriptions: this.registered(input.TargetGroupArn).map((key) => {
            const [Id, port] = key.split(":") as [string, string];
            return { Target: { Id, Port: Number(port) }, HealthCheckPort: port, TargetHealth: { State: "healthy" } };
          }),
        };
      case "RegisterTargetsCommand":
      case "DeregisterTargetsCommand": {
        const registering = name === "RegisterTargetsCommand";
        const arn = input.TargetGroupArn as string;
        for (const t of input.Targets as Array<{ Id: string; Port: number }>) {
          const key = `${t.Id}:${t.Port}`;
          const [into, from] = registering ? [this.added, this.removed] : [this.removed, this.added];
          if (from.get(arn)?.delete(key)) continue;
          if (registering === this.canonical(arn).includes(key)) continue;
          if (!into.has(arn)) into.set(arn, new Set());
          into.get(arn)!.add(key);
        }
        return {};
      }
      case "GetObjectCommand": {
        const object = this.objects.get(input.Key);
        if (!object) throw Object.assign(new Error("The specified key does not exist."), { name: "NoSuchKey" });
        return { Body: { transformToString: async () => object.body }, ETag: `"${createHash("md5").update(object.body).digest("hex")}"` };
      }
      case "HeadObjectCommand": {
        const object = this.objects.get(input.Key);
        if (!object) throw Object.assign(new Error("Not Found"), { name: "NotFound", $metadata: { httpStatusCode: 404 } });
        return { Metadata: object.metadata };
      }
      case "PutObjectCommand":
        this.objects.set(input.Key, { body: String(input.Body), metadata: input.Metadata ?? {} });
        return {};
      default:
        throw new Error(`the benchmark's AWS does not answer ${name}`);
    }
  }
}

const storedKeys = (i: number) => storedSlots().map((a) => `${hostAddress(i, a)}:${PORT}`);

/** The registrations of group g as converged before the run: every stored address of its hosts. */
function canonicalRegistrations(hosts: number): (arn: string) => string[] {
  const byArn = new Map(Array.from({ length: groupCount(hosts) }, (_, g) => [groupArn(g), g] as const));
  return (arn) => {
    const g = byArn.get(arn);
    if (g === undefined) return [];
    const keys: string[] = [];
    for (let i = g * HOSTS_PER_GROUP; i < Math.min(hosts, (g + 1) * HOSTS_PER_GROUP); i++) keys.push(...storedKeys(i));
    return keys;
  };
}

/**
 * A converged world of `hosts` names as the scenario starts it: DNS state, ownership with each group's
 * converged mark, registrations and the runtime document as the previous runs left them.
 */
export function seedWorld(hosts: number, scenario: Scenario, now: number): { aws: BenchAws; ports: SyncPorts } {
  const canonical = canonicalRegistrations(hosts);
  const aws = new BenchAws(canonical);
  aws.objects.set("accepted/current.json", { body: JSON.stringify({ commit: "bench", files: { "fleet.yaml": fleetYaml(hosts) } }), metadata: {} });
  for (let i = 0; i < hosts; i++) {
    const losing = driftOf(i, scenario) === "lose";
    const addresses = storedSlots().map((a) => hostAddress(i, a)).sort();
    const state: RecordState = {
      addressList: addresses.join(","), ...(losing ? { misses: { [hostAddress(i, LOST)]: { missed: 2, lastMissAt: now - 61_000 } } } : {}),
    };
    aws.items.set(`${dnsKey(`${hostName(i)}/A`).pk}|state`, JSON.stringify({ ...dnsKey(`${hostName(i)}/A`), state, version: 1 }));
  }
  for (let g = 0; g < groupCount(hosts); g++) {
    const arn = groupArn(g);
    const keys = canonical(arn).sort();
    const model = { name: groupName(g), arn, port: PORT, targets: [], ipAddressType: "ipv4" as const, adoptExisting: false };
    // Before the converged mark existed, the fixture stores none (the loop then describes every group). The mark
    // is the one a converge that described the group leaves (when, and nobody else's targets registered): fields
    // an older loop does not read.
    const at = scenario === "full check" ? now - FULL_CHECK_MS : now - 60_000;
    const converged = "desiredDigest" in targetGroups
      ? { digest: targetGroups.desiredDigest(model, { targets: new Map(keys.map((k) => [k, { id: k.split(":")[0]!, port: PORT }])), skipped: [] }), at, describedAt: at, othersRegistered: 0 }
      : undefined;
    aws.items.set(`${ownershipKey(arn).pk}|targets`, JSON.stringify({ ...ownershipKey(arn), targets: keys, ...(converged ? { converged } : {}), version: 1 }));
  }
  const router = Object.fromEntries(Array.from({ length: Math.min(ROUTER_HOSTS, hosts) }, (_, i) => [hostName(i), storedSlots().map((a) => hostAddress(i, a)).sort()]));
  const document = documentBody({ service: "router", targets: Object.fromEntries(Object.entries(router).sort(([a], [b]) => (a < b ? -1 : 1))) });
  aws.objects.set(runtimeDocumentKey("router"), { body: document.body, metadata: { "content-hash": document.hash } });

  const config = { region: "us-east-1", credentials: { accessKeyId: "bench", secretAccessKey: "bench" } };
  const dynamo = aws.client(DynamoDBDocumentClient.from(new DynamoDBClient(config), { marshallOptions: { removeUndefinedValues: true } }), "DynamoDB");
  const s3 = aws.client(new S3Client(config), "S3");
  const elb = aws.client(new ElasticLoadBalancingV2Client(config), "ELB");
  const ports: SyncPorts = {
    config: acceptedConfig(s3, BUCKET),
    dns: () => fixtureDns(hosts, scenario),
    state: dnsStateStore(dynamo, TABLE),
    ownership: ownershipStore(dynamo, TABLE),
    targetGroups: targetGroupApi(elb),
    documents: documentStore(s3, BUCKET),
    leases: leaseStore(dynamo, TABLE),
    schedule: new LookupSchedule(),
  };
  return { aws, ports };
}
