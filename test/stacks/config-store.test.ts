// The config store stack, synthesized as `sst deploy` would, then checked with CDK assertions and cdk-nag.
import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { synth } from "../support/synth.ts";
import { ConfigStore } from "../../stacks/ConfigStore.ts";

let template: Template;
let nagFindings: () => string[];

beforeAll(async () => {
  ({ template, nagFindings } = await synth([ConfigStore]));
}, 180_000);

describe("ConfigStore", () => {
  it("keeps bundles in a private, encrypted, versioned bucket that refuses plain HTTP", () => {
    template.hasResourceProperties("AWS::S3::Bucket", {
      VersioningConfiguration: { Status: "Enabled" },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: Match.objectLike({}),
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: "bundles/" }),
    });
    template.hasResourceProperties("AWS::S3::BucketPolicy", {
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } })]),
      }),
    });
  });

  it("keeps loop state in an on-demand table with point-in-time recovery", () => {
    template.hasResourceProperties("AWS::DynamoDB::GlobalTable", {
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }, { AttributeName: "sk", KeyType: "RANGE" }],
      BillingMode: "PAY_PER_REQUEST",
      Replicas: [Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } })],
    });
  });

  it("passes cdk-nag's AwsSolutions pack with no errors or warnings", () => {
    expect(nagFindings()).toEqual([]);
  });
});
