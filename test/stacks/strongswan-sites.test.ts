// The strongSwan sites stack for the example config, synthesized and checked with cdk-nag.
import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { synth } from "../support/synth.ts";
import { ConfigStore } from "../../stacks/ConfigStore.ts";
import { Network } from "../../stacks/Network.ts";
import {
  ECS_IMAGE_PULL_BEHAVIOR, ECS_WARM_POOLS_CHECK, HOST_METRICS, HOST_METRICS_NAMESPACE, HOST_PATHS, LIFECYCLE_HOOK, POOL_STATES, StrongswanSites,
  USER_DATA_EVERY_BOOT, WARM_POOL_MIN_SIZE, hostMetricsAgentConfig, writeFile,
} from "../../stacks/StrongswanSites.ts";
import { warmPoolState } from "../../stacks/settings.ts";
import { HEAL_TIMEOUT_SECONDS, LIFECYCLE_HEARTBEAT_TIMEOUT_SECONDS, healWorstCaseMs } from "../../functions/heal/heal.ts";

let template: Template;
let nagFindings: () => string[];

beforeAll(async () => {
  ({ template, nagFindings } = await synth([ConfigStore, Network, StrongswanSites]));
}, 180_000);

describe("StrongswanSites (examples/: datacenter-vpn and partner-forward)", () => {
  it("creates each group with the launch lifecycle hook as part of the group itself", () => {
    template.resourceCountIs("AWS::AutoScaling::AutoScalingGroup", 2);
    template.hasResourceProperties("AWS::AutoScaling::AutoScalingGroup", {
      AutoScalingGroupName: "proxy-fleet-test_datacenter-vpn",
      MinSize: "1",
      MaxSize: "1",
      LifecycleHookSpecificationList: [{
        LifecycleHookName: LIFECYCLE_HOOK, LifecycleTransition: "autoscaling:EC2_INSTANCE_LAUNCHING", HeartbeatTimeout: LIFECYCLE_HEARTBEAT_TIMEOUT_SECONDS, DefaultResult: "ABANDON",
      }],
      Tags: Match.arrayWith([
        { Key: "proxy-fleet:service", Value: "datacenter-vpn", PropagateAtLaunch: true },
        { Key: "proxy-fleet:stage", Value: "test", PropagateAtLaunch: true },
      ]),
    });
    template.resourceCountIs("AWS::AutoScaling::LifecycleHook", 0);
    template.resourceCountIs("AWS::EC2::Route", 0); // routes to the ENIs only with PROXY_FLEET_VPN_ROUTES=true
  });

  // The warm pool keeps one stopped instance per site; MinSize because max = desired = 1 would size the pool
  // max − desired = 0 (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutWarmPool.html); ECS forbids
  // ReuseOnScaleIn (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-warm-pool.html).
  it("gives every site's group a warm pool of one running instance (the default), the launch hook handling both of its transitions", () => {
    const groups = template.findResources("AWS::AutoScaling::AutoScalingGroup");
    const pools = Object.values(template.findResources("AWS::AutoScaling::WarmPool")) as { Properties: Record<string, unknown> }[];
    expect(pools).toHaveLength(Object.keys(groups).length);
    expect(WARM_POOL_MIN_SIZE).toBeGreaterThanOrEqual(1);
    for (const pool of pools) {
      expect(pool.Properties).toMatchObject({ MinSize: WARM_POOL_MIN_SIZE, PoolState: "Running" });
      expect([undefined, false]).toContain((pool.Properties.InstanceReusePolicy as { ReuseOnScaleIn?: boolean } | undefined)?.ReuseOnScaleIn);
    }
    // Each pool names a different group of this stack.
    const named = pools.map((p) => JSON.stringify(p.Properties.AutoScalingGroupName));
    expect(new Set(named).size).toBe(pools.length);
    for (const id of Object.keys(groups)) expect(named.some((n) => n.includes(id))).toBe(true);
    // The same hook (part of each group) pauses an instance in Warmed:Pending:Wait and again in Pending:Wait
    // (https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pool-instance-lifecycle.html): no second hook.
    for (const group of Object.values(groups) as { Properties: { LifecycleHookSpecificationList: { LifecycleTransition: string }[] } }[]) {
      expect(group.Properties.LifecycleHookSpecificationList.map((h) => h.LifecycleTransition)).toEqual(["autoscaling:EC2_INSTANCE_LAUNCHING"]);
    }
  });

  // ECS_WARM_POOLS_CHECK=true in /etc/ecs/ecs.config: the agent does not register a warming instance
  // (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-warm-pool.html). Auto Scaling may stop a
  // warming instance before its user data finished, and cloud-init runs user data on first boot only
  // (https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pool-instance-lifecycle.html): it runs on every boot
  // (scripts-user always: https://repost.aws/knowledge-center/execute-user-data-ec2).
  it("sets the ECS warm-pool check in every site's user data, before the agent's cluster setting, run on every boot", () => {
    const templates = Object.values(template.findResources("AWS::EC2::LaunchTemplate")) as { Properties: { LaunchTemplateData: { UserData?: unknown } } }[];
    // Fn::Base64 of an Fn::Join: the literal parts, in order, as one string.
    const scripts = templates.map((t) => JSON.stringify(t.Properties.LaunchTemplateData.UserData ?? "").replaceAll("\\n", "\n"));
    expect(scripts).toHaveLength(2);
    for (const script of scripts) {
      expect(script).toContain(`echo ${ECS_WARM_POOLS_CHECK} >> /etc/ecs/ecs.config`);
      expect(script).toContain("ECS_CLUSTER=");
      expect(script.indexOf(ECS_WARM_POOLS_CHECK)).toBeLessThan(script.indexOf("ECS_CLUSTER="));
      expect(script).toContain("Content-Type: multipart/mixed");
      expect(script).toContain(USER_DATA_EVERY_BOOT);
      expect(script.indexOf("cloud_final_modules")).toBeLessThan(script.indexOf("#!/bin/bash"));
    }
  });

  // PutWarmPool's PoolState is Stopped, Running or Hibernated (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutWarmPool.html).
  it("PROXY_FLEET_WARM_POOL chooses a running (default) or stopped pool, and refuses anything else", () => {
    expect(warmPoolState({})).toBe("running");
    expect(POOL_STATES[warmPoolState({ PROXY_FLEET_WARM_POOL: "stopped" })]).toBe("Stopped");
    expect(POOL_STATES[warmPoolState({ PROXY_FLEET_WARM_POOL: " running " })]).toBe("Running");
    expect(() => warmPoolState({ PROXY_FLEET_WARM_POOL: "hibernated" })).toThrow(/PROXY_FLEET_WARM_POOL="hibernated": expected running or stopped/);
  });

  // A stopping instance is replaced at once (heal marks it unhealthy): no grace period holds it back, and the
  // replacement launches while the old one terminates ("terminate and launch", min 0 % / max 100 %:
  // https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-maintenance-policy-overview-and-considerations.html;
  // with a launch hook the grace period can be 0: https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html).
  it("replaces an unhealthy instance without a grace period, launching the replacement while the old one terminates", () => {
    const groups = Object.values(template.findResources("AWS::AutoScaling::AutoScalingGroup")) as { Properties: Record<string, unknown> }[];
    for (const group of groups) {
      expect(group.Properties).toMatchObject({ HealthCheckType: "EC2", HealthCheckGracePeriod: 0, InstanceMaintenancePolicy: { MinHealthyPercentage: 0, MaxHealthyPercentage: 100 } });
    }
  });

  // The CloudWatch agent, configured inline: memory, swap and / in CWAgent by AutoScalingGroupName; it may put
  // metrics only in that namespace (cloudwatch:namespace condition key:
  // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html).
  it("runs the CloudWatch agent on every host with its configuration inline, publishing only in its namespace", () => {
    const scripts = userDataScripts();
    for (const script of scripts) {
      const config = JSON.parse(hereDocument(script, HOST_PATHS.agentConfig));
      expect(config).toEqual(hostMetricsAgentConfig());
      expect(hereDocument(script, HOST_PATHS.hostMetrics)).toContain(`amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:${HOST_PATHS.agentConfig}`);
      expect(script).toContain(`systemd-run --unit=proxy-fleet-host-metrics --collect ${HOST_PATHS.hostMetrics}`);
    }
    expect(hostMetricsAgentConfig().metrics).toMatchObject({ namespace: HOST_METRICS_NAMESPACE, aggregation_dimensions: [["AutoScalingGroupName"]] });
    expect(Object.values(HOST_METRICS).sort()).toEqual(["disk_used_percent", "mem_used_percent", "swap_used_percent"]);
    const statements = Object.values(template.findResources("AWS::IAM::Policy")).flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Condition?: unknown }[] } } }).Properties.PolicyDocument.Statement);
    const put = statements.filter((s) => [s.Action].flat().includes("cloudwatch:PutMetricData"));
    expect(put.length).toBe(2); // one per site's instance role
    for (const statement of put) expect(statement.Condition).toEqual({ StringEquals: { "cloudwatch:namespace": HOST_METRICS_NAMESPACE } });
  });

  // The fast path: on a warm instance the image is pulled while it waits and the ECS agent restarted as it goes
  // into service; the agent then starts the task from the cached image (prefer-cached:
  // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/pull-behavior.html).
  it("pre-pulls the site's image on warm instances and has the ECS agent prefer the cached image", () => {
    for (const script of userDataScripts()) {
      expect(script).toContain(`echo ${ECS_IMAGE_PULL_BEHAVIOR} >> /etc/ecs/ecs.config`);
      const helper = hereDocument(script, HOST_PATHS.warmPool);
      expect(helper).toContain("autoscaling/target-lifecycle-state");
      expect(helper).toContain('docker pull "$image"');
      expect(helper).toContain("systemctl restart ecs");
      // Started with the task's image (an ECR asset) and the region.
      expect(script).toMatch(new RegExp(`systemd-run --unit=proxy-fleet-warm-pool --collect ${HOST_PATHS.warmPool} \\S+\\.dkr\\.ecr\\.\\S+:[0-9a-f]{64} us-east-1`));
    }
  });

  it("writes host files through quoted here-documents, refusing content that would end one early", () => {
    expect(writeFile("/a/b", "x $HOME\n", "755")).toEqual(["mkdir -p /a", "cat > /a/b <<'PROXY_FLEET_EOF'\nx $HOME\nPROXY_FLEET_EOF", "chmod 755 /a/b"]);
    expect(() => writeFile("/a/b", "x\nPROXY_FLEET_EOF\ny")).toThrow(/\/a\/b: its content contains the here-document's end marker/);
  });

  // Retained ENIs/EIPs outlive `sst remove` and a redeploy then creates a second, identically tagged set; the stack
  // owns them instead, and the group depends on them so removal deletes the group (and its instance) first.
  it("keeps a persistent ENI per AZ (no source/dest check) and an Elastic IP per service, tagged with service and stage, owned by the stack", () => {
    template.resourceCountIs("AWS::EC2::NetworkInterface", 4);
    const identity = (service: string) => [{ Key: "proxy-fleet:service", Value: service }, { Key: "proxy-fleet:stage", Value: "test" }];
    template.hasResource("AWS::EC2::NetworkInterface", { Properties: { SourceDestCheck: false, Tags: identity("datacenter-vpn") }, DeletionPolicy: Match.absent() });
    template.hasResource("AWS::EC2::EIP", { Properties: { Domain: "vpc", Tags: identity("partner-forward") }, DeletionPolicy: Match.absent() });
  });

  // EventBridge delivers the first launch's lifecycle event only to a rule that exists when the instance launches.
  it("creates each group after the heal Lambda, its rules and its ENIs and Elastic IP (the first launch event is never lost)", () => {
    const resources = template.toJSON().Resources as Record<string, { Type: string; DependsOn?: string[]; Properties?: { Tags?: { Key: string; Value: string }[] } }>;
    const idsOf = (type: string, service?: string) => Object.entries(resources)
      .filter(([, r]) => r.Type === type && (!service || r.Properties?.Tags?.some((t) => t.Key === "proxy-fleet:service" && t.Value === service)))
      .map(([id]) => id);
    const [group] = Object.entries(resources).filter(([, r]) => r.Type === "AWS::AutoScaling::AutoScalingGroup" && JSON.stringify(r).includes("datacenter-vpn")).map(([, r]) => r);
    const needed = [
      ...idsOf("AWS::Lambda::Function").filter((id) => id.startsWith("InstanceHeal")),
      ...idsOf("AWS::Events::Rule").filter((id) => id.startsWith("InstanceHeal")),
      ...idsOf("AWS::Lambda::Permission").filter((id) => id.startsWith("InstanceHeal")),
      ...idsOf("AWS::EC2::NetworkInterface", "datacenter-vpn"),
      ...idsOf("AWS::EC2::EIP", "datacenter-vpn"),
    ];
    expect(needed.length).toBeGreaterThanOrEqual(7);
    expect(group!.DependsOn).toEqual(expect.arrayContaining(needed));
  });

  // One cluster, two capacity providers: without a strategy a task may land on the other site's instance.
  it("places each site's task only on its own group's capacity provider", () => {
    const services = template.findResources("AWS::ECS::Service");
    const providers = Object.values(services).map((s) => JSON.stringify((s as { Properties: { CapacityProviderStrategy: unknown } }).Properties.CapacityProviderStrategy));
    expect(providers).toHaveLength(2);
    expect(new Set(providers).size).toBe(2);
    // A replacement (of the group, so of its provider) must not collide with a fixed name.
    template.allResourcesProperties("AWS::ECS::CapacityProvider", { Name: Match.absent() });
    template.hasResourceProperties("AWS::ECS::Service", {
      ServiceName: "datacenter-vpn", CapacityProviderStrategy: [{ CapacityProvider: Match.anyValue(), Weight: 1 }], LaunchType: Match.absent(),
    });
  });

  // ECS ignores a Dockerfile HEALTHCHECK unless the task definition carries one
  // (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#container_definition_healthcheck).
  it("gives the strongSwan container the health check ECS acts on, an init process and a pinned bundle (shipped at deploy)", () => {
    template.hasResourceProperties("AWS::ECS::TaskDefinition", {
      ContainerDefinitions: [Match.objectLike({
        HealthCheck: { Command: ["CMD", "/usr/local/bin/proxy-fleet-healthcheck"], Interval: 10, Timeout: 5, Retries: 3, StartPeriod: 30 },
        LinuxParameters: Match.objectLike({ InitProcessEnabled: true }),
        StopTimeout: 30,
        Environment: Match.arrayWith([
          { Name: "PROXY_FLEET_BUNDLE_KEY", Value: { "Fn::GetAtt": [Match.stringLikeRegexp("^DatacenterVpnPin"), "Key"] } },
          { Name: "PROXY_FLEET_BUNDLE_HASH", Value: { "Fn::GetAtt": [Match.stringLikeRegexp("^DatacenterVpnPin"), "Hash"] } },
        ]),
      })],
    });
    template.resourceCountIs("Custom::CDKBucketDeployment", 1);
    template.hasResourceProperties("Custom::ProxyFleetBundlePin", {
      Service: "datacenter-vpn", DeployKey: Match.stringLikeRegexp("^bundles/datacenter-vpn/sha256-[0-9a-f]{64}\\.json$"), DeployHash: Match.stringLikeRegexp("^sha256:[0-9a-f]{64}$"),
    });
  });

  // SSM SecureString and Secrets Manager decrypt with the parameter's / secret's ARN as KMS encryption context
  // (https://docs.aws.amazon.com/kms/latest/developerguide/services-parameter-store.html).
  it("lets a site's task read only its own stage's and service's keys, and decrypt only for them", () => {
    const policies = JSON.stringify(template.findResources("AWS::IAM::Policy"));
    expect(policies).toContain(":parameter/proxy-fleet/test/datacenter-vpn/*");
    expect(policies).toContain(":secret:proxy-fleet/test/datacenter-vpn/*");
    expect(policies).toContain('"kms:EncryptionContext:PARAMETER_ARN"');
    expect(policies).toContain('"kms:EncryptionContext:SecretARN"');
    expect(policies).not.toContain('"aws:ResourceTag/proxy-fleet:service"');
  });

  it("opens IKE, NAT-T and ESP to each peer only, and forwarded ports to their sources", () => {
    template.hasResourceProperties("AWS::EC2::SecurityGroup", {
      SecurityGroupIngress: Match.arrayWith([
        Match.objectLike({ CidrIp: "198.51.100.7/32", IpProtocol: "udp", FromPort: 500, ToPort: 500 }),
        Match.objectLike({ CidrIp: "198.51.100.7/32", IpProtocol: "udp", FromPort: 4500, ToPort: 4500 }),
        Match.objectLike({ CidrIp: "198.51.100.7/32", IpProtocol: "50" }),
        Match.objectLike({ CidrIp: "192.168.10.0/24", IpProtocol: "tcp", FromPort: 2222, ToPort: 2222 }),
      ]),
    });
  });

  it("runs the strongSwan container on the host network with NET_ADMIN, rolling back failed deployments", () => {
    template.hasResourceProperties("AWS::ECS::TaskDefinition", {
      NetworkMode: "host",
      ContainerDefinitions: [Match.objectLike({ LinuxParameters: { Capabilities: { Add: ["NET_ADMIN"] } } })],
    });
    template.hasResourceProperties("AWS::ECS::Service", {
      ServiceName: "datacenter-vpn",
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true }, MinimumHealthyPercent: 0, MaximumPercent: 100 }),
    });
  });

  it("runs the heal Lambda for its computed worst case, and keeps the hook waiting longer", () => {
    template.hasResourceProperties("AWS::Lambda::Function", {
      Description: Match.stringLikeRegexp("instance heal"),
      Timeout: HEAL_TIMEOUT_SECONDS,
      Environment: { Variables: Match.objectLike({ PROXY_FLEET_STAGE: "test" }) },
    });
    expect(HEAL_TIMEOUT_SECONDS * 1000).toBeGreaterThanOrEqual(healWorstCaseMs());
    expect(LIFECYCLE_HEARTBEAT_TIMEOUT_SECONDS).toBeGreaterThan(HEAL_TIMEOUT_SECONDS);
  });

  it("runs heal on this stage's groups' launch hooks and on instances shutting down", () => {
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: {
        source: ["aws.autoscaling"], "detail-type": ["EC2 Instance-launch Lifecycle Action"],
        detail: { AutoScalingGroupName: [{ prefix: "proxy-fleet-test_" }], LifecycleHookName: [LIFECYCLE_HOOK] },
      },
    });
    // EC2 sends a state-change event when an instance enters each of these states
    // (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instance-state-changes.html).
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: { source: ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"], detail: { state: ["stopping", "shutting-down", "terminated"] } },
    });
  });

  // ASG ARNs are arn:aws:autoscaling:<region>:<account>:autoScalingGroup:<uuid>:autoScalingGroupName/<name>
  // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html#amazonec2autoscaling-resources-for-iam-policies).
  it("may complete and heartbeat only this stage's groups' hooks, and mark only their instances unhealthy, with the ARN as Auto Scaling writes it", () => {
    const statements = Object.values(template.findResources("AWS::IAM::Policy")).flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } }).Properties.PolicyDocument.Statement);
    const hook = statements.find((s) => [s.Action].flat().includes("autoscaling:CompleteLifecycleAction"))!;
    expect([hook.Action].flat()).toContain("autoscaling:SetInstanceHealth");
    const arn = JSON.stringify(hook.Resource);
    expect(arn).toMatch(/:autoscaling:us-east-1:.*:autoScalingGroup:\*:autoScalingGroupName\/proxy-fleet-test_\*"/);
    const attach = statements.find((s) => [s.Action].flat().includes("ec2:AttachNetworkInterface"))! as unknown as { Condition: unknown };
    expect(attach.Condition).toEqual({ StringEquals: { "aws:ResourceTag/proxy-fleet:stage": "test" } });
  });

  it("passes cdk-nag's AwsSolutions pack with no unexplained findings", () => {
    expect(nagFindings()).toEqual([]);
  });
});

/** Every launch template's user data as text (Fn::Base64 of an Fn::Join: the literal parts in order, references as-is). */
function userDataScripts(): string[] {
  const templates = Object.values(template.findResources("AWS::EC2::LaunchTemplate")) as { Properties: { LaunchTemplateData: { UserData?: unknown } } }[];
  const text = (value: unknown): string => {
    if (typeof value === "string") return value;
    if (Array.isArray(value)) return value.map(text).join("");
    const v = value as Record<string, unknown>;
    if ("Fn::Base64" in v) return text(v["Fn::Base64"]);
    if ("Fn::Join" in v) return (v["Fn::Join"] as [string, unknown[]])[1].map(text).join((v["Fn::Join"] as [string, unknown[]])[0]);
    if ("Fn::Sub" in v) return text(v["Fn::Sub"]);
    if ("Ref" in v) return v.Ref === "AWS::Region" ? "us-east-1" : v.Ref === "AWS::AccountId" ? "123456789012" : v.Ref === "AWS::URLSuffix" ? "amazonaws.com" : `<${String(v.Ref)}>`;
    return `<${Object.keys(v)[0]}>`;
  };
  return templates.map((t) => text(t.Properties.LaunchTemplateData.UserData ?? ""));
}

/** The content the script writes to `path` through a here-document. */
function hereDocument(script: string, path: string): string {
  const start = script.indexOf(`cat > ${path} <<'PROXY_FLEET_EOF'\n`);
  expect(start, path).toBeGreaterThanOrEqual(0);
  const body = script.slice(script.indexOf("\n", start) + 1);
  return body.slice(0, body.indexOf("\nPROXY_FLEET_EOF"));
}
