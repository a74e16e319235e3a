// Where accepted config lives: the bundle bucket (content-addressed, write-once objects, versioned) and
// the state table every loop shares (accepted commits, DNS hysteresis, ownership, leases).
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as codecommit from "aws-cdk-lib/aws-codecommit";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as s3 from "aws-cdk-lib/aws-s3";
import type { StackContext } from "sst/constructs";
import { waiveSstInternals } from "./nag.ts";
import { stageName } from "./settings.ts";

export function ConfigStore({ stack }: StackContext) {
  // Config history outlives any one deployment: buckets are kept on `sst remove` (their names are generated, so a
  // redeploy never collides with them); the state table and the repository (named) only in prod.
  const tablePolicy = stack.stage === "prod" ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

  const accessLogs = new s3.Bucket(stack, "AccessLogs", {
    encryption: s3.BucketEncryption.S3_MANAGED,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
    lifecycleRules: [{ expiration: Duration.days(90) }],
    removalPolicy: RemovalPolicy.RETAIN,
  });

  const bundles = new s3.Bucket(stack, "Bundles", {
    encryption: s3.BucketEncryption.S3_MANAGED,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    versioned: true,
    serverAccessLogsBucket: accessLogs,
    serverAccessLogsPrefix: "bundles/",
    removalPolicy: RemovalPolicy.RETAIN,
  });

  const state = new dynamodb.TableV2(stack, "State", {
    partitionKey: { name: "pk", type: dynamodb.AttributeType.STRING },
    sortKey: { name: "sk", type: dynamodb.AttributeType.STRING },
    billing: dynamodb.Billing.onDemand(),
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    timeToLiveAttribute: "expiresAt",
    removalPolicy: tablePolicy,
  });

  // The config repository users push fleet.yaml to; the rollout loop tracks one branch of it.
  const repository = new codecommit.Repository(stack, "ConfigRepository", {
    repositoryName: stageName(stack.stage, "config"),
    description: `proxy-fleet ${stack.stage}: fleet.yaml and the files it references`,
  });
  repository.applyRemovalPolicy(tablePolicy);

  stack.addOutputs({
    BundleBucket: bundles.bucketName,
    StateTable: state.tableName,
    ConfigRepositoryCloneUrl: repository.repositoryCloneUrlGrc,
  });
  waiveSstInternals(stack);
  return { bundles, state, repository, trackedBranch: "main" };
}
