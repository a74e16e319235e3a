// The deploy-time pin, through the real DynamoDB and S3 clients (aws-sdk-client-mock): a redeploy pins what the
// rollout loop deployed, never reverting it; a first deploy (or a new service) pins the deploy-time bundle.
import { HeadObjectCommand, NotFound, S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { handler, type PinResourceProperties } from "../../functions/deploy/pin-bundle.ts";

const DEPLOY_HASH = `sha256:${"d".repeat(64)}`;
const ACCEPTED_HASH = `sha256:${"a".repeat(64)}`;
const PROPS: PinResourceProperties = {
  Service: "datacenter-vpn", DeployKey: `bundles/datacenter-vpn/sha256-${"d".repeat(64)}.json`, DeployHash: DEPLOY_HASH,
  StateTable: "state", StateKey: "proxy-fleet-dev_config#main", Bucket: "bundles",
};
const ACCEPTED_KEY = `bundles/datacenter-vpn/sha256-${"a".repeat(64)}.json`;
const dynamo = mockClient(DynamoDBDocumentClient);
const s3 = mockClient(S3Client);
const event = (RequestType: "Create" | "Update" | "Delete") => ({ RequestType, ResourceProperties: PROPS, PhysicalResourceId: "pin:datacenter-vpn" });
const state = (services: Record<string, unknown>) => ({ Item: { pk: "rollout#proxy-fleet-dev_config#main", sk: "state", version: 3, state: { services, failed: {} } } });

beforeAll(() => Object.assign(process.env, { AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", POWERTOOLS_LOG_LEVEL: "ERROR" }));
beforeEach(() => {
  dynamo.reset();
  s3.reset();
  s3.on(HeadObjectCommand).rejects(new NotFound({ message: "Not Found", $metadata: { httpStatusCode: 404 } }));
  s3.on(HeadObjectCommand, { Bucket: "bundles", Key: ACCEPTED_KEY }).resolves({});
});
afterEach(() => undefined);

describe("deploy-time bundle pin", () => {
  it("first deploy (no rollout state): pins the deploy-time bundle", async () => {
    dynamo.on(GetCommand).resolves({});
    expect(await handler(event("Create"))).toEqual({
      PhysicalResourceId: "pin:datacenter-vpn",
      Data: { Key: PROPS.DeployKey, Hash: DEPLOY_HASH, Commit: "deploy", Source: "deploy" },
    });
    expect(dynamo).toHaveReceivedCommandWith(GetCommand, { TableName: "state", Key: { pk: "rollout#proxy-fleet-dev_config#main", sk: "state" }, ConsistentRead: true });
  });

  it("redeploy after the rollout loop deployed a commit: pins that bundle, never the deploy-time one", async () => {
    dynamo.on(GetCommand).resolves(state({ "datacenter-vpn": { hash: ACCEPTED_HASH, commit: "c0ffee", taskDefinition: "td:7", deploymentId: "ecs-svc/1" } }));
    expect(await handler(event("Update"))).toMatchObject({ Data: { Key: ACCEPTED_KEY, Hash: ACCEPTED_HASH, Commit: "c0ffee", Source: "accepted" } });
    expect(s3).toHaveReceivedCommandWith(HeadObjectCommand, { Bucket: "bundles", Key: ACCEPTED_KEY });
  });

  it("a service the rollout loop has not deployed yet (new in this deploy): pins the deploy-time bundle", async () => {
    dynamo.on(GetCommand).resolves(state({ "other-service": { hash: ACCEPTED_HASH, commit: "c0ffee", taskDefinition: "td:1", deploymentId: "d" } }));
    expect(await handler(event("Update"))).toMatchObject({ Data: { Hash: DEPLOY_HASH, Source: "deploy" } });
  });

  it("the recorded bundle is missing from the bucket: pins the deploy-time bundle rather than one no task could load", async () => {
    dynamo.on(GetCommand).resolves(state({ "datacenter-vpn": { hash: `sha256:${"e".repeat(64)}`, commit: "bad", taskDefinition: "td:2", deploymentId: "d" } }));
    expect(await handler(event("Update"))).toMatchObject({ Data: { Hash: DEPLOY_HASH, Source: "deploy" } });
  });

  it("delete reads and changes nothing (bundles outlive the stack)", async () => {
    expect(await handler(event("Delete"))).toEqual({ PhysicalResourceId: "pin:datacenter-vpn" });
    expect(dynamo.calls()).toHaveLength(0);
    expect(s3.calls()).toHaveLength(0);
  });
});
