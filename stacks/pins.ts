// The bundle each proxy task definition pins, decided at deploy time by a custom resource
// (functions/deploy/pin-bundle.ts): what the rollout loop deployed if it has, else the deploy-time bundle. It runs
// at every deploy (a nonce), so a task definition CloudFormation re-registers for any reason (a new image, a new
// port) still carries the accepted config, never the deploy folder's.
import { CustomResource, RemovalPolicy, aws_logs as logs, custom_resources as cr, type aws_dynamodb as dynamodb, type aws_s3 as s3 } from "aws-cdk-lib";
import { NagSuppressions } from "cdk-nag";
import { Function, type Stack } from "sst/constructs";
import { bundleKey } from "../functions/aws/config-bucket.ts";
import type { PinResourceProperties } from "../functions/deploy/pin-bundle.ts";

export interface PinnedBundle {
  readonly key: string;
  readonly hash: string;
  readonly commit: string;
}

export interface PinSources {
  readonly bundles: s3.IBucket;
  readonly state: dynamodb.ITableV2;
  /** The rollout loop's state key, `<repository>#<branch>`. */
  readonly stateKey: string;
}

/** Changes on every synth, so CloudFormation asks the pin again at every deploy. */
const DEPLOY_NONCE = process.env.PROXY_FLEET_DEPLOY_ID ?? new Date().toISOString();

export function bundlePins(stack: Stack, sources: PinSources) {
  let provider: cr.Provider | undefined;
  const providerOf = () => {
    if (provider) return provider;
    const fn = new Function(stack, "BundlePin", {
      handler: "functions/deploy/pin-bundle.handler",
      description: `proxy-fleet ${stack.stage}: the bundle each task definition pins at deploy (accepted, else deploy-time)`,
      timeout: "1 minute",
      logGroup: new logs.LogGroup(stack, "BundlePinLogs", { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY }),
    });
    sources.state.grantReadData(fn);
    sources.bundles.grantRead(fn, "bundles/*");
    provider = new cr.Provider(stack, "BundlePinProvider", { onEventHandler: fn, logGroup: new logs.LogGroup(stack, "BundlePinProviderLogs", { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY }) });
    NagSuppressions.addResourceSuppressions(fn, [
      { id: "AwsSolutions-L1", reason: "proxy-fleet pins Node.js 22 (nodejs22.x) everywhere." },
      { id: "AwsSolutions-IAM4", reason: "SST functions log through the AWS managed basic execution role.", appliesTo: ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"] },
      { id: "AwsSolutions-IAM5", reason: "Reads content-addressed bundles (bundles/*) and the state table's items; X-Ray needs '*'." },
    ], true);
    NagSuppressions.addResourceSuppressions(provider, [
      { id: "AwsSolutions-L1", reason: "CDK's custom-resource provider framework pins its own runtime." },
      { id: "AwsSolutions-IAM4", reason: "CDK's provider framework uses the basic execution role.", appliesTo: ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"] },
      { id: "AwsSolutions-IAM5", reason: "CDK's provider framework invokes the pin function's versions (<arn>:*)." },
    ], true);
    return provider;
  };

  /** The pin for one service, given the bundle rendered at deploy time (shipped by the stack). */
  return (service: string, constructId: string, deployHash: string): PinnedBundle => {
    const properties: PinResourceProperties & { Nonce: string } = {
      Service: service, DeployKey: bundleKey(service, deployHash), DeployHash: deployHash,
      StateTable: sources.state.tableName, StateKey: sources.stateKey, Bucket: sources.bundles.bucketName, Nonce: DEPLOY_NONCE,
    };
    const pin = new CustomResource(stack, `${constructId}Pin`, {
      serviceToken: providerOf().serviceToken, resourceType: "Custom::ProxyFleetBundlePin", properties,
    });
    return { key: pin.getAttString("Key"), hash: pin.getAttString("Hash"), commit: pin.getAttString("Commit") };
  };
}

