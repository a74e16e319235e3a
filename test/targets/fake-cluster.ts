// An ECS cluster's tasks in memory behind aws-sdk-client-mock, answering ListTasks, DescribeTasks and
// DescribeServices as the ECS API reference documents them: ListTasks filters by serviceName and
// desiredStatus and pages by nextToken (at most 100 ARNs a page); DescribeTasks refuses more than 100 tasks.
import { DescribeServicesCommand, DescribeTasksCommand, ECSClient, InvalidParameterException, ListTasksCommand } from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";

export const CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/proxy-fleet";

export interface FakeTask {
  readonly arn: string;
  readonly service: string;
  lastStatus: string;
  desiredStatus: string;
  readonly ip: string;
}

const PAGE = 100;

export class FakeCluster {
  readonly client = mockClient(ECSClient);
  readonly tasks = new Map<string, FakeTask>();
  readonly desiredCounts = new Map<string, number>();
  private counter = 0;

  constructor() {
    this.client.on(ListTasksCommand).callsFake((input) => {
      const matching = [...this.tasks.values()]
        .filter((t) => input.cluster === CLUSTER && t.service === input.serviceName && t.desiredStatus === (input.desiredStatus ?? "RUNNING"))
        .map((t) => t.arn);
      const start = input.nextToken ? Number(input.nextToken) : 0;
      const page = matching.slice(start, start + (input.maxResults ?? PAGE));
      const next = start + page.length;
      return { taskArns: page, ...(next < matching.length ? { nextToken: String(next) } : {}) };
    });
    this.client.on(DescribeTasksCommand).callsFake((input) => {
      if (input.tasks.length > 100) throw new InvalidParameterException({ message: "tasks can have at most 100 items.", $metadata: {} });
      return {
        tasks: input.tasks.flatMap((arn: string) => {
          const t = this.tasks.get(arn);
          if (!t) return [];
          return [{
            taskArn: t.arn, clusterArn: CLUSTER, group: `service:${t.service}`, lastStatus: t.lastStatus, desiredStatus: t.desiredStatus,
            attachments: [{
              id: `att-${t.arn.slice(-6)}`, type: "ElasticNetworkInterface", status: "ATTACHED",
              details: [
                { name: "subnetId", value: "subnet-0a1b2c3d4e5f60718" },
                { name: "networkInterfaceId", value: `eni-${t.arn.slice(-17)}` },
                { name: "privateIPv4Address", value: t.ip },
              ],
            }],
          }];
        }),
        failures: [],
      };
    });
    this.client.on(DescribeServicesCommand).callsFake((input) => ({
      services: input.services.flatMap((name: string) => {
        const desiredCount = this.desiredCounts.get(name);
        return desiredCount === undefined ? [] : [{ serviceName: name, status: "ACTIVE", desiredCount }];
      }),
      failures: input.services.filter((name: string) => !this.desiredCounts.has(name)).map((name: string) => ({ arn: name, reason: "MISSING" })),
    }));
  }

  /** Starts a RUNNING task of `service` at `ip`; returns its ARN. */
  run(service: string, ip: string): string {
    const arn = `arn:aws:ecs:us-east-1:123456789012:task/proxy-fleet/${(++this.counter).toString(16).padStart(32, "0")}`;
    this.tasks.set(arn, { arn, service, lastStatus: "RUNNING", desiredStatus: "RUNNING", ip });
    return arn;
  }

  restore() {
    this.client.restore();
  }
}
