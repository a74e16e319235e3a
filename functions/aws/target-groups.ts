// NLB target groups through the ELBv2 API.
import {
  DeregisterTargetsCommand, DescribeTargetHealthCommand, RegisterTargetsCommand, type ElasticLoadBalancingV2Client,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import type { TargetGroupApi } from "../dns/ports.ts";

export function targetGroupApi(client: ElasticLoadBalancingV2Client): TargetGroupApi {
  return {
    async describe(arn) {
      const { TargetHealthDescriptions = [] } = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
      return TargetHealthDescriptions
        .filter((d) => d.TargetHealth?.State !== "draining" && d.Target?.Id !== undefined)
        .map((d) => ({ id: d.Target!.Id!, port: d.Target!.Port! }));
    },
    async register(arn, targets, availabilityZone) {
      await client.send(new RegisterTargetsCommand({
        TargetGroupArn: arn,
        Targets: targets.map((t) => ({ Id: t.id, Port: t.port, ...(availabilityZone ? { AvailabilityZone: availabilityZone } : {}) })),
      }));
    },
    async deregister(arn, targets) {
      await client.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: targets.map((t) => ({ Id: t.id, Port: t.port })) }));
    },
  };
}
