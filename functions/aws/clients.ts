// SDK clients, configured from the standard AWS environment (region, credentials, AWS_ENDPOINT_URL*
// overrides), with the SDK's adaptive retry mode: throttling and 5xx are retried with backoff.
// One factory per client: a Lambda imports only the factories it calls, so its bundle carries only those
// clients' code (the bundler drops the rest) and its cold start constructs nothing it does not use.
import { CodeCommitClient } from "@aws-sdk/client-codecommit";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ECSClient } from "@aws-sdk/client-ecs";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

const common = { retryMode: "adaptive", maxAttempts: 8 } as const;

export const s3Client = () => new S3Client(common);
export const dynamoClient = () => DynamoDBDocumentClient.from(new DynamoDBClient(common), { marshallOptions: { removeUndefinedValues: true } });
export const elbClient = () => new ElasticLoadBalancingV2Client(common);
export const eventsClient = () => new EventBridgeClient(common);
export const codeCommitClient = () => new CodeCommitClient(common);
export const ecsClient = () => new ECSClient(common);

export interface AwsClients {
  readonly s3: S3Client;
  readonly dynamo: DynamoDBDocumentClient;
  readonly elb: ElasticLoadBalancingV2Client;
  readonly events: EventBridgeClient;
  readonly codecommit: CodeCommitClient;
  readonly ecs: ECSClient;
}

/**
 * Every client, each built on first use (the CLI and tests reach for one or two). Lambda ports import the
 * single factories instead, so a handler's bundle holds only its own clients.
 */
export function createClients(): AwsClients {
  const made = new Map<keyof AwsClients, unknown>();
  const lazy = <K extends keyof AwsClients>(key: K, make: () => AwsClients[K]) => () => {
    if (!made.has(key)) made.set(key, make());
    return made.get(key) as AwsClients[K];
  };
  const s3 = lazy("s3", s3Client);
  const dynamo = lazy("dynamo", dynamoClient);
  const elb = lazy("elb", elbClient);
  const events = lazy("events", eventsClient);
  const codecommit = lazy("codecommit", codeCommitClient);
  const ecs = lazy("ecs", ecsClient);
  return {
    get s3() { return s3(); },
    get dynamo() { return dynamo(); },
    get elb() { return elb(); },
    get events() { return events(); },
    get codecommit() { return codecommit(); },
    get ecs() { return ecs(); },
  };
}

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}
