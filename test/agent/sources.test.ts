// The agent's AWS sources through the real SDK clients: the pinned bundle, the runtime document polled
// with conditional GETs, and pre-shared keys from SSM and Secrets Manager.
import { GetObjectCommand, NoSuchKey, S3Client } from "@aws-sdk/client-s3";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import "aws-sdk-client-mock-vitest/extend";
import { s3BundleSource, s3TargetsSource } from "../../functions/aws/agent-sources.ts";
import { awsSecretsResolver } from "../../functions/aws/secrets.ts";

const s3 = mockClient(S3Client);
const ssm = mockClient(SSMClient);
const secrets = mockClient(SecretsManagerClient);
const body = (text: string) => ({ transformToString: async () => text }) as never;

beforeAll(() => Object.assign(process.env, { AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "x" }));
afterEach(() => {
  s3.reset();
  ssm.reset();
  secrets.reset();
});

describe("runtime targets", () => {
  it("polls with If-None-Match after the first answer and treats 304 as unchanged", async () => {
    const document = { service: "router", targets: { "db.corp.test": ["10.0.0.1"] } };
    s3.on(GetObjectCommand, { Bucket: "config", Key: "runtime/router/targets.json" }).resolvesOnce({ Body: body(JSON.stringify(document)), ETag: '"v1"' })
      .rejectsOnce(Object.assign(new Error("Not Modified"), { name: "NotModified", $metadata: { httpStatusCode: 304 } }));
    const source = s3TargetsSource(new S3Client({}), "config", "router");
    expect(await source.poll()).toEqual(document.targets);
    expect(await source.poll()).toBeUndefined();
    expect(s3).toHaveReceivedNthCommandWith(GetObjectCommand, 1, { Bucket: "config", Key: "runtime/router/targets.json" });
    expect(s3).toHaveReceivedNthCommandWith(GetObjectCommand, 2, { Bucket: "config", Key: "runtime/router/targets.json", IfNoneMatch: '"v1"' });
  });

  it("has nothing to apply before the DNS loop wrote a document", async () => {
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ message: "no such key", $metadata: {} }));
    expect(await s3TargetsSource(new S3Client({}), "config", "router").poll()).toBeUndefined();
  });
});

describe("bundle", () => {
  it("ends a start against a hung endpoint with an error naming the bucket and key", async () => {
    // Accepts the connection, never answers: without a request timeout the agent would wait forever.
    const { createServer } = await import("node:net");
    const held: import("node:net").Socket[] = [];
    const server = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    s3.restore();
    try {
      const client = new S3Client({
        endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, maxAttempts: 1,
        requestHandler: { connectionTimeout: 200, requestTimeout: 300 },
      });
      await expect(s3BundleSource(client, "config", "bundles/router/sha256-ab.json", 2_000).fetch())
        .rejects.toThrow(/^could not read bundle s3:\/\/config\/bundles\/router\/sha256-ab\.json: /);
    } finally {
      held.forEach((socket) => socket.destroy());
      server.close();
      mockClient(S3Client);
    }
  });

  it("names the bucket and key when S3 refuses", async () => {
    s3.on(GetObjectCommand).rejects(Object.assign(new Error("Access Denied"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 } }));
    await expect(s3BundleSource(new S3Client({}), "config", "bundles/router/sha256-ab.json").fetch())
      .rejects.toThrow("could not read bundle s3://config/bundles/router/sha256-ab.json: AccessDenied (HTTP 403): Access Denied");
  });

  it("reads the pinned key", async () => {
    s3.on(GetObjectCommand, { Bucket: "config", Key: "bundles/router/sha256-ab.json" }).resolves({ Body: body('{"service":"router"}') });
    expect(await s3BundleSource(new S3Client({}), "config", "bundles/router/sha256-ab.json").fetch()).toEqual({ service: "router" });
  });
});

describe("pre-shared keys", () => {
  it("decrypts SSM SecureStrings and reads Secrets Manager strings and binaries", async () => {
    ssm.on(GetParameterCommand, { Name: "/vpn/dc1", WithDecryption: true }).resolves({ Parameter: { Value: "from-ssm" } });
    secrets.on(GetSecretValueCommand, { SecretId: "vpn/dc2" }).resolves({ SecretString: "from-secrets-manager" });
    secrets.on(GetSecretValueCommand, { SecretId: "vpn/bin" }).resolves({ SecretBinary: new Uint8Array([1, 2, 3]) });
    const resolver = awsSecretsResolver(new SSMClient({}), new SecretsManagerClient({}));
    expect(Buffer.from(await resolver.resolve({ ssmParameter: "/vpn/dc1" })).toString()).toBe("from-ssm");
    expect(Buffer.from(await resolver.resolve({ secretsManager: "vpn/dc2" })).toString()).toBe("from-secrets-manager");
    expect([...await resolver.resolve({ secretsManager: "vpn/bin" })]).toEqual([1, 2, 3]);
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: "/vpn/dc1", WithDecryption: true });
  });

  it("names the parameter or secret it could not read", async () => {
    ssm.on(GetParameterCommand).rejects(Object.assign(new Error("not found"), { name: "ParameterNotFound" }));
    secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error("denied"), { name: "AccessDeniedException" }));
    const resolver = awsSecretsResolver(new SSMClient({}), new SecretsManagerClient({}));
    await expect(resolver.resolve({ ssmParameter: "/vpn/dc1" })).rejects.toThrow("could not read SSM parameter /vpn/dc1: ParameterNotFound: not found");
    await expect(resolver.resolve({ secretsManager: "vpn/dc2" })).rejects.toThrow("could not read secret vpn/dc2: AccessDeniedException: denied");
  });

  it("reads the deployed stage's key where a reference names {stage}, and refuses one when no stage is given", async () => {
    ssm.on(GetParameterCommand, { Name: "/proxy-fleet/prod/vpn/dc1", WithDecryption: true }).resolves({ Parameter: { Value: "prod-key" } });
    secrets.on(GetSecretValueCommand, { SecretId: "proxy-fleet/prod/vpn/dc2" }).resolves({ SecretString: "prod-secret" });
    const prod = awsSecretsResolver(new SSMClient({}), new SecretsManagerClient({}), "prod");
    expect(Buffer.from(await prod.resolve({ ssmParameter: "/proxy-fleet/{stage}/vpn/dc1" })).toString()).toBe("prod-key");
    expect(Buffer.from(await prod.resolve({ secretsManager: "proxy-fleet/{stage}/vpn/dc2" })).toString()).toBe("prod-secret");
    const unstaged = awsSecretsResolver(new SSMClient({}), new SecretsManagerClient({}), "");
    await expect(unstaged.resolve({ ssmParameter: "/proxy-fleet/{stage}/vpn/dc1" })).rejects.toThrow(/names \{stage\}, but this task was given no stage/);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
  });

  it("refuses an empty secret", async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: {} });
    await expect(awsSecretsResolver(new SSMClient({}), new SecretsManagerClient({})).resolve({ ssmParameter: "/x" })).rejects.toThrow(/has no value/);
  });
});
