// Throttling is retried by the SDK itself: the adapters run on the project's real clients (createClients:
// adaptive retry mode, 8 attempts), here answered at the HTTP layer, so the SDK's retry middleware runs.
// (aws-sdk-client-mock replaces `send` and so skips it.) The wire shapes are the documented ones: ECS speaks
// awsJson1_1 (error type in x-amzn-errortype / __type), ELBv2 the query protocol (XML <ErrorResponse>).
// ThrottlingException is a retryable throttling error in the SDK's retry strategy (smithy "isThrottlingError").
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createClients } from "../../functions/aws/clients.ts";
import { ecsTaskSource } from "../../functions/aws/ecs-tasks.ts";
import { targetGroupApi } from "../../functions/aws/target-groups.ts";

process.env.AWS_REGION ??= "us-east-1";
process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";

interface Answer { readonly status: number; readonly headers: Record<string, string>; readonly body: string }
interface SeenRequest { readonly target?: string; readonly body: string }

/** An HTTP handler that answers each request with the next canned answer and remembers what it was sent. */
function scripted(answers: Answer[]) {
  const seen: SeenRequest[] = [];
  return {
    seen,
    handler: {
      metadata: { handlerProtocol: "http/1.1" },
      async handle(request: { headers: Record<string, string>; body?: unknown }) {
        seen.push({ target: request.headers["x-amz-target"], body: String(request.body ?? "") });
        const answer = answers.shift();
        if (!answer) throw new Error("no more scripted answers");
        return { response: { statusCode: answer.status, headers: answer.headers, body: Readable.from([Buffer.from(answer.body)]) } };
      },
      updateHttpClientConfig() {},
      httpHandlerConfigs: () => ({}),
    },
  };
}

const throttledJson: Answer = {
  status: 400,
  headers: { "content-type": "application/x-amz-json-1.1", "x-amzn-errortype": "ThrottlingException" },
  body: JSON.stringify({ __type: "ThrottlingException", message: "Rate exceeded" }),
};

describe("SDK retries on throttling", () => {
  it("ECS DescribeTasks throttled once: retried by the SDK, the adapter gets the tasks", async () => {
    const { ecs } = createClients();
    const cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/proxy-fleet";
    const task = "arn:aws:ecs:us-east-1:123456789012:task/proxy-fleet/4b0b4bd6a2c1442c9d5f06f1c1b2e7d3";
    const json = (body: object): Answer => ({ status: 200, headers: { "content-type": "application/x-amz-json-1.1" }, body: JSON.stringify(body) });
    const http = scripted([
      json({ taskArns: [task] }),
      throttledJson,
      json({
        tasks: [{
          taskArn: task, lastStatus: "RUNNING", desiredStatus: "RUNNING",
          attachments: [{ type: "ElasticNetworkInterface", status: "ATTACHED", details: [{ name: "privateIPv4Address", value: "10.0.1.23" }] }],
        }],
        failures: [],
      }),
    ]);
    (ecs.config as { requestHandler: unknown }).requestHandler = http.handler;

    const tasks = await ecsTaskSource(ecs).runningTasks(cluster, "router");
    expect(tasks).toEqual([{ arn: task, lastStatus: "RUNNING", desiredStatus: "RUNNING", privateIPv4: "10.0.1.23" }]);
    expect(http.seen.map((r) => r.target)).toEqual([
      "AmazonEC2ContainerServiceV20141113.ListTasks",
      "AmazonEC2ContainerServiceV20141113.DescribeTasks",
      "AmazonEC2ContainerServiceV20141113.DescribeTasks",
    ]);
    expect(JSON.parse(http.seen[1]!.body)).toEqual({ cluster, tasks: [task] });
    expect(http.seen[2]!.body).toBe(http.seen[1]!.body);
  });

  it("ELBv2 RegisterTargets throttled once: retried by the SDK with the same targets", async () => {
    const { elb } = createClients();
    const arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/router-l1/0000000000000001";
    const http = scripted([
      {
        status: 400, headers: { "content-type": "text/xml" },
        body: "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><Error><Type>Sender</Type>"
          + "<Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>",
      },
      {
        status: 200, headers: { "content-type": "text/xml" },
        body: "<RegisterTargetsResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><RegisterTargetsResult/>"
          + "<ResponseMetadata><RequestId>2</RequestId></ResponseMetadata></RegisterTargetsResponse>",
      },
    ]);
    (elb.config as { requestHandler: unknown }).requestHandler = http.handler;

    await targetGroupApi(elb).register(arn, [{ id: "10.0.1.23", port: 10001 }]);
    expect(http.seen).toHaveLength(2);
    const params = new URLSearchParams(http.seen[0]!.body);
    expect(Object.fromEntries(params)).toMatchObject({
      Action: "RegisterTargets", TargetGroupArn: arn, "Targets.member.1.Id": "10.0.1.23", "Targets.member.1.Port": "10001",
    });
    expect(http.seen[1]!.body).toBe(http.seen[0]!.body);
  });
});
