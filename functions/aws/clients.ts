// SDK clients, configured from the standard AWS environment (region, credentials, AWS_ENDPOINT_URL*
// overrides), with the SDK's adaptive retry mode: throttling and 5xx are retried with backoff.
import { CodeCommitClient } from "@aws-sdk/client-codecommit";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ECSClient } from "@aws-sdk/client-ecs";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

const common = { retryMode: "adaptive", maxAttempts: 8 } as const;

export interface AwsClients {
  readonly s3: S3Client;
  readonly dynamo: DynamoDBDocumentClient;
  readonly elb: ElasticLoadBalancingV2Client;
  readonly events: EventBridgeClient;
  readonly codecommit: CodeCommitClient;
  readonly ecs: ECSClient;
}

export function createClients(): AwsClients {
  return {
    s3: new S3Client(common),
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient(common), { marshallOptions: { removeUndefinedValues: true } }),
    elb: new ElasticLoadBalancingV2Client(common),
    events: new EventBridgeClient(common),
    codecommit: new CodeCommitClient(common),
    ecs: new ECSClient(common),
  };
}

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}
