// Deploy rules: what AWS checks at deploy and run time and synthesis does not, over every stack of the app,
// synthesized from examples/ and from a large generated config (50 HAProxy listeners, 3 NGINX, 2 Squid, 4
// strongSwan sites), each at two stages side by side ("dev" and "dev-2": one stage's name is a prefix of the other's).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_POLICY, HEAL_TIMEOUT_SECONDS, LIFECYCLE_HEARTBEAT_TIMEOUT_SECONDS, healWorstCaseMs } from "../../functions/heal/heal.ts";
import { largeConfig, synthApp, type CfnResource, type SynthesizedStack } from "../support/synth.ts";

const STAGES = ["dev", "dev-2"] as const;
type App = { stage: string; stacks: SynthesizedStack[] };
const apps: Record<"examples" | "large", App[]> = { examples: [], large: [] };

beforeAll(async () => {
  const large = largeConfig({ haproxyListeners: 50, nginx: 3, squid: 2, sites: 4 });
  for (const stage of STAGES) {
    apps.examples.push({ stage, stacks: await synthApp({ stage }) });
    apps.large.push({ stage, stacks: await synthApp({ stage, configDir: large }) });
  }
}, 600_000);

// --- reading templates -----------------------------------------------------------------------------------------

const ACCOUNT = "<account>";
/** A template value as a string: literals kept, pseudo parameters filled in, references named by stack and logical id. */
function text(value: unknown, stack: string): string {
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) return value.map((v) => text(v, stack)).join(",");
  const v = value as Record<string, unknown>;
  if ("Ref" in v) {
    const ref = v.Ref as string;
    return ref === "AWS::Partition" ? "aws" : ref === "AWS::Region" ? "us-east-1" : ref === "AWS::AccountId" ? ACCOUNT : `<${stack}:${ref}>`;
  }
  if ("Fn::GetAtt" in v) return `<${stack}:${(v["Fn::GetAtt"] as string[]).join(".")}>`;
  if ("Fn::ImportValue" in v) return `<${text(v["Fn::ImportValue"], stack)}>`;
  if ("Fn::Join" in v) {
    const [separator, parts] = v["Fn::Join"] as [string, unknown[]];
    return parts.map((p) => text(p, stack)).join(separator);
  }
  return `<${Object.keys(v)[0]}>`;
}

interface Statement { stack: string; policy: string; actions: string[]; resources: string[]; condition?: Record<string, Record<string, unknown>> }

function statements(app: App): Statement[] {
  return app.stacks.flatMap(({ name, template }) => Object.entries(template.Resources)
    .filter(([, r]) => r.Type === "AWS::IAM::Policy")
    .flatMap(([id, r]) => ((r.Properties!.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement).map((s) => ({
      stack: name, policy: id,
      actions: [s.Action].flat() as string[],
      resources: [s.Resource].flat().map((x) => text(x, name)),
      ...(s.Condition ? { condition: s.Condition as Statement["condition"] } : {}),
    }))));
}

const resources = (app: App, type?: string) => app.stacks.flatMap(({ name, template }) =>
  Object.entries(template.Resources).filter(([, r]) => !type || r.Type === type).map(([id, r]) => ({ stack: name, id, resource: r as CfnResource, template })));

const props = (r: CfnResource) => (r.Properties ?? {}) as Record<string, unknown>;

// --- the rules -------------------------------------------------------------------------------------------------

/**
 * The documented resource part of each service's ARNs (arn:aws:<service>:<region>:<account>:<this>), from the
 * Service Authorization Reference (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html):
 * e.g. Auto Scaling groups are autoScalingGroup:<uuid>:autoScalingGroupName/<name> (colon after autoScalingGroup).
 */
const ARN_RESOURCE_FORMATS: Record<string, { resource: RegExp; global?: boolean }> = {
  autoscaling: { resource: /^autoScalingGroup:[^:/]+:autoScalingGroupName\/[^:]+$/ },
  ec2: { resource: /^(instance|network-interface|elastic-ip|security-group|subnet|vpc)\/[^/]+$/ },
  ecs: { resource: /^(cluster\/[^/]+|service\/[^/]+\/[^/]+|task\/[^/]+\/[^/]+|task-definition\/[^/]+|container-instance\/[^/]+\/[^/]+)$/ },
  elasticloadbalancing: { resource: /^(targetgroup\/(\*|[^/]+\/[^/]+)|loadbalancer\/net\/[^/]+\/[^/]+)$/ },
  events: { resource: /^event-bus\/[^/]+$/ },
  ssm: { resource: /^parameter\/[^/].*$/ },
  secretsmanager: { resource: /^secret:[^:]+$/ },
  kms: { resource: /^key\/[^/]+$/ },
  iam: { resource: /^role\/[^/].*$/, global: true },
  logs: { resource: /^log-group:[^:]+(:\*)?$/ },
  ecr: { resource: /^repository\/[^/]+$/ },
  dynamodb: { resource: /^table\/[^/]+(\/index\/[^/]+)?$/ },
  codecommit: { resource: /^[\w.-]+$/ },
  s3: { resource: /^[a-z0-9.-]+(\/.*)?$/, global: true },
};

/** Checks one resource string of a policy; returns the problem, or undefined. Bare references are CloudFormation's own ARNs. */
function arnProblem(resource: string): string | undefined {
  if (resource === "*" || resource.startsWith("<")) return undefined;
  const match = /^arn:aws:([a-z0-9-]+):([^:]*):([^:]*):(.+)$/.exec(resource);
  if (!match) return `not an ARN: ${resource}`;
  const [, service, region, account, rest] = match as unknown as [string, string, string, string, string];
  const format = ARN_RESOURCE_FORMATS[service];
  if (!format) return `no documented format recorded for ${service}: ${resource}`;
  if (format.global ? region !== "" : region === "") return `region ${format.global ? "must be empty" : "missing"}: ${resource}`;
  if (service === "s3" ? account !== "" : account === "") return `account ${service === "s3" ? "must be empty" : "missing"}: ${resource}`;
  // Bucket and object ARNs built from a reference carry its name as a placeholder; the format check sees a plain name.
  const resourcePart = rest.replace(/<[^>]+>/g, "x");
  return format.resource.test(resourcePart) ? undefined : `${service} resource "${rest}" is not ${format.resource}: ${resource}`;
}

const READ_ONLY = /^[a-z0-9-]+:(Describe|List|Get|BatchGet|BatchCheck)/;
/**
 * Write actions allowed on "*": those whose service offers no resource-level permission for them (each from
 * the action's row in the Service Authorization Reference), or CDK's own container-instance policy.
 */
const WRITES_WITHOUT_RESOURCE_SCOPE: Record<string, string> = {
  "xray:PutTraceSegments": "X-Ray: no resource types (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html)",
  "xray:PutTelemetryRecords": "X-Ray: no resource types (same page)",
  "ecs:RegisterTaskDefinition": "ECS: no resource types (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html)",
  "ecs:DiscoverPollEndpoint": "ECS: no resource types (same page); CDK's container-instance policy",
  "logs:CreateLogStream": "CDK's inline copy of AmazonEC2ContainerServiceforEC2Role for the ECS agent on the strongSwan instances",
  "logs:PutLogEvents": "CDK's inline copy of AmazonEC2ContainerServiceforEC2Role for the ECS agent on the strongSwan instances",
  // CodeCommit permissions reference, "Permissions for actions on approval rule templates": Resources "*".
  "codecommit:CreateApprovalRuleTemplate": "CodeCommit: approval rule templates take '*' only (https://docs.aws.amazon.com/codecommit/latest/userguide/auth-and-access-control-permissions-reference.html#aa-art)",
  "codecommit:UpdateApprovalRuleTemplateContent": "CodeCommit: approval rule templates take '*' only (same page)",
  "codecommit:DeleteApprovalRuleTemplate": "CodeCommit: approval rule templates take '*' only (same page)",
  "codecommit:AssociateApprovalRuleTemplateWithRepository": "CodeCommit: approval rule templates take '*' only (same page)",
  "codecommit:DisassociateApprovalRuleTemplateFromRepository": "CodeCommit: approval rule templates take '*' only (same page)",
};

/** x86_64 vs arm64 by instance family: Graviton families carry a "g" after the generation (t4g, c7g, m6gd, c7gn). */
const instanceArchitecture = (type: string) => (/^[a-z]+\d+[a-z]*g[a-z]*\./.test(type) && !/^(g\d|p\d)/.test(type) ? "arm64" : "x86_64");
/** The ECS-optimized AMI parameters: /aws/service/ecs/optimized-ami/amazon-linux-2023[/arm64]/recommended/image_id. */
const amiArchitecture = (parameter: string) => (parameter.includes("/arm64/") ? "arm64" : "x86_64");

/** Physical names: the identifier AWS keys a resource by, with its scope (ECS services are per cluster). */
const NAME_PROPERTIES: Record<string, string> = {
  "AWS::ECS::Cluster": "ClusterName",
  "AWS::AutoScaling::AutoScalingGroup": "AutoScalingGroupName",
  "AWS::CodeCommit::Repository": "RepositoryName",
  "AWS::ECS::CapacityProvider": "Name",
  "AWS::CloudTrail::Trail": "TrailName",
  "AWS::Lambda::Function": "FunctionName",
  "AWS::DynamoDB::GlobalTable": "TableName",
  "AWS::S3::Bucket": "BucketName",
  "AWS::IAM::Role": "RoleName",
  "AWS::SQS::Queue": "QueueName",
  "AWS::ElasticLoadBalancingV2::LoadBalancer": "Name",
  "AWS::ElasticLoadBalancingV2::TargetGroup": "Name",
  "AWS::SNS::Topic": "TopicName",
  "AWS::CloudWatch::Alarm": "AlarmName",
  "AWS::CloudWatch::Dashboard": "DashboardName",
};

function physicalNames(app: App): string[] {
  const names: string[] = [];
  for (const { stack, resource, template } of resources(app)) {
    const key = NAME_PROPERTIES[resource.Type];
    if (key && props(resource)[key] !== undefined) names.push(`${resource.Type}:${text(props(resource)[key], stack)}`);
    if (resource.Type === "AWS::ECS::Service") {
      // Unique within its cluster: the cluster's name is part of the service's identity.
      const cluster = props(resource).Cluster as { Ref: string };
      const clusterName = props(template.Resources[cluster.Ref]!).ClusterName as string;
      names.push(`AWS::ECS::Service:${clusterName}/${text(props(resource).ServiceName, stack)}`);
    }
  }
  return names;
}

const glob = (pattern: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
const isWrite = (action: string) => !READ_ONLY.test(action);

for (const kind of ["examples", "large"] as const) {
  describe(`deploy rules (${kind === "examples" ? "examples/" : "generated: 50 HAProxy listeners, 3 NGINX, 2 Squid, 4 strongSwan sites"})`, () => {
    it("every IAM resource ARN has its service's documented format", () => {
      for (const app of apps[kind]) {
        const problems = statements(app).flatMap((s) => s.resources.map(arnProblem).filter(Boolean).map((p) => `${s.stack}/${s.policy}: ${p}`));
        expect(problems).toEqual([]);
      }
    });

    it("no write action on '*' unless its service offers no resource scope for it (or a condition scopes it)", () => {
      for (const app of apps[kind]) {
        const unscoped = statements(app)
          .filter((s) => s.resources.includes("*") && !s.condition)
          .flatMap((s) => s.actions.filter(isWrite).filter((a) => !(a in WRITES_WITHOUT_RESOURCE_SCOPE)).map((a) => `${s.stack}/${s.policy}: ${a}`));
        expect(unscoped).toEqual([]);
        expect(statements(app).some((s) => s.actions.includes("iam:PassRole") && s.resources.includes("*"))).toBe(false);
      }
    });

    it("every ECS service has at most 5 load-balancer target groups; every NLB at most 50 listeners", () => {
      // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-load-balancing.html;
      // https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-limits.html
      for (const app of apps[kind]) {
        for (const { resource } of resources(app, "AWS::ECS::Service")) expect(((props(resource).LoadBalancers as unknown[]) ?? []).length).toBeLessThanOrEqual(5);
        const listeners = new Map<string, number>();
        for (const { stack, resource } of resources(app, "AWS::ElasticLoadBalancingV2::Listener")) {
          const nlb = text(props(resource).LoadBalancerArn, stack);
          listeners.set(nlb, (listeners.get(nlb) ?? 0) + 1);
        }
        for (const count of listeners.values()) expect(count).toBeLessThanOrEqual(50);
      }
    });

    it("every launch template's AMI architecture matches its instance family", () => {
      // Graviton types need the arm64 ECS-optimized AMI (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-optimized_AMI.html).
      for (const app of apps[kind]) {
        const templates = resources(app, "AWS::EC2::LaunchTemplate");
        expect(templates.length).toBeGreaterThan(0);
        for (const { resource, template } of templates) {
          const data = props(resource).LaunchTemplateData as { ImageId: { Ref: string }; InstanceType: string };
          const parameter = template.Parameters?.[data.ImageId.Ref]?.Default ?? "";
          expect(parameter).toMatch(/^\/aws\/service\/ecs\/optimized-ami\//);
          expect(amiArchitecture(parameter)).toBe(instanceArchitecture(data.InstanceType));
        }
      }
      expect(instanceArchitecture("t4g.small")).toBe("arm64");
      expect(amiArchitecture("/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id")).toBe("x86_64");
    });

    it("every image asset and every task pins linux/amd64, the instances' architecture", () => {
      // Fargate runs X86_64 unless runtimePlatform says otherwise
      // (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#runtime-platform).
      for (const app of apps[kind]) {
        const images = app.stacks.flatMap((s) => s.images);
        expect(images.length).toBeGreaterThan(0);
        for (const image of images) expect(image).toMatchObject({ file: "containers/Dockerfile", platform: "linux/amd64" });
        for (const { resource } of resources(app, "AWS::ECS::TaskDefinition")) {
          const fargate = (props(resource).RequiresCompatibilities as string[] | undefined)?.includes("FARGATE");
          if (fargate) expect(props(resource).RuntimePlatform).toEqual({ CpuArchitecture: "X86_64", OperatingSystemFamily: "LINUX" });
        }
      }
    });

    it("every physical name, service tag, rule pattern and tag condition carries the stage", () => {
      for (const app of apps[kind]) {
        for (const name of physicalNames(app)) expect(name).toContain(`proxy-fleet-${app.stage}_`);
        for (const { resource } of resources(app)) {
          const tags = props(resource).Tags as { Key: string; Value: unknown }[] | undefined;
          if (!Array.isArray(tags) || !tags.some((t) => t.Key === "proxy-fleet:service")) continue;
          expect(tags.find((t) => t.Key === "proxy-fleet:stage")?.Value).toBe(app.stage);
        }
        for (const { stack, id, resource } of resources(app, "AWS::Events::Rule")) {
          const pattern = props(resource).EventPattern as { source: string[]; "detail-type": string[] } | undefined;
          if (!pattern) continue; // schedules
          // Unscopable by nature: EC2 state changes carry no tags (the Lambda checks the stage tag), and CloudTrail's
          // Route 53 calls belong to the account (each stage re-reads only its own accepted config).
          if (pattern.source[0] === "aws.ec2" || pattern.source[0] === "aws.route53") continue;
          const json = JSON.stringify(pattern);
          expect(json.includes(`proxy-fleet-${app.stage}_`) || json.includes(`"${app.stage}-proxy-fleet-`), `${stack}/${id}: ${json}`).toBe(true);
        }
        for (const s of statements(app)) {
          for (const [key, value] of Object.entries(Object.assign({}, ...Object.values(s.condition ?? {})) as Record<string, unknown>)) {
            if (key.includes("ResourceTag")) expect(value).toBe(app.stage);
          }
        }
      }
    });

    it("two stages side by side share no physical name, stage tag, writable resource, rule prefix or secret path", () => {
      const [a, b] = apps[kind] as [App, App];
      const namesA = new Set(physicalNames(a));
      expect(physicalNames(b).filter((n) => namesA.has(n))).toEqual([]);
      // Writable resources (with their conditions): no pattern of one stage matches a resource of the other.
      const writable = (app: App) => statements(app).filter((s) => s.actions.some(isWrite))
        .flatMap((s) => s.resources.filter((r) => r !== "*").map((r) => ({ resource: r, condition: JSON.stringify(s.condition ?? {}) })));
      const [wa, wb] = [writable(a), writable(b)];
      expect(wa.length).toBeGreaterThan(0);
      const overlaps = wa.flatMap((x) => wb.filter((y) => x.condition === y.condition && (glob(x.resource).test(y.resource) || glob(y.resource).test(x.resource)))
        .map((y) => `${x.resource} ~ ${y.resource}`));
      expect(overlaps).toEqual([]);
      // Secret paths and heal's group-name prefix are among those resources; check them explicitly too.
      const secretPaths = (app: App) => statements(app).flatMap((s) => s.resources).filter((r) => /:(parameter|secret:)/.test(r));
      expect(secretPaths(a).length).toBeGreaterThan(0);
      expect(secretPaths(a).filter((p) => secretPaths(b).some((q) => glob(p).test(q) || glob(q).test(p)))).toEqual([]);
      const prefixes = (app: App) => resources(app, "AWS::Events::Rule").flatMap(({ resource }) => JSON.stringify(props(resource).EventPattern ?? {}).match(/"prefix":"[^"]+"/g) ?? []);
      expect(prefixes(a).filter((p) => prefixes(b).some((q) => q.startsWith(p.slice(0, -1)) || p.startsWith(q.slice(0, -1))))).toEqual([]);
    });

    it("every Lambda's timeout covers its loop's worst case, and the launch hook outlasts the heal Lambda", () => {
      for (const app of apps[kind]) {
        const functions = resources(app, "AWS::Lambda::Function");
        for (const { resource } of functions) expect(props(resource).Timeout as number).toBeLessThanOrEqual(900);
        const heal = functions.find(({ resource }) => /instance heal/.test(String(props(resource).Description)));
        expect(heal).toBeDefined();
        expect((props(heal!.resource).Timeout as number) * 1000).toBeGreaterThanOrEqual(healWorstCaseMs(DEFAULT_POLICY));
        expect(props(heal!.resource).Timeout).toBe(HEAL_TIMEOUT_SECONDS);
        for (const { resource } of resources(app, "AWS::AutoScaling::AutoScalingGroup")) {
          const hooks = props(resource).LifecycleHookSpecificationList as { HeartbeatTimeout: number }[];
          expect(hooks[0]!.HeartbeatTimeout).toBe(LIFECYCLE_HEARTBEAT_TIMEOUT_SECONDS);
          expect(hooks[0]!.HeartbeatTimeout).toBeGreaterThan(props(heal!.resource).Timeout as number);
        }
      }
    });

    // A misspelt value matches nothing and fails no deploy. EC2's instance states
    // (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html); PutWarmPool's PoolState
    // (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutWarmPool.html); an instance maintenance policy's
    // percentages, both set, at most 100 apart (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_InstanceMaintenancePolicy.html).
    it("every EC2 state a rule matches, warm-pool state and maintenance policy is one AWS accepts", () => {
      const EC2_STATES = ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"];
      for (const app of apps[kind]) {
        for (const { stack, id, resource } of resources(app, "AWS::Events::Rule")) {
          const pattern = props(resource).EventPattern as { "detail-type"?: string[]; detail?: { state?: string[] } } | undefined;
          if (!pattern?.["detail-type"]?.includes("EC2 Instance State-change Notification")) continue;
          expect(pattern.detail?.state?.length, `${stack}/${id}`).toBeGreaterThan(0);
          for (const state of pattern.detail!.state!) expect(EC2_STATES, `${stack}/${id}`).toContain(state);
        }
        for (const { resource } of resources(app, "AWS::AutoScaling::WarmPool")) expect(["Stopped", "Running", "Hibernated"]).toContain(props(resource).PoolState);
        for (const { resource } of resources(app, "AWS::AutoScaling::AutoScalingGroup")) {
          const policy = props(resource).InstanceMaintenancePolicy as { MinHealthyPercentage: number; MaxHealthyPercentage: number } | undefined;
          if (!policy) continue;
          expect(policy.MinHealthyPercentage).toBeGreaterThanOrEqual(0);
          expect(policy.MaxHealthyPercentage).toBeGreaterThanOrEqual(100);
          expect(policy.MaxHealthyPercentage - policy.MinHealthyPercentage).toBeLessThanOrEqual(100);
        }
      }
    });
  });
}

describe("50 listeners on one HAProxy service", () => {
  it("one NLB with 50 listeners, 1 target group on the ECS service, 49 for the task-targets loop", () => {
    const app = apps.large[0]!;
    const router = resources(app, "AWS::ECS::Service").find(({ resource }) => props(resource).ServiceName === "router")!;
    expect(props(router.resource).LoadBalancers as unknown[]).toHaveLength(1);
    const listeners = new Map<string, number>();
    for (const { stack, resource } of resources(app, "AWS::ElasticLoadBalancingV2::Listener")) {
      const nlb = text(props(resource).LoadBalancerArn, stack);
      listeners.set(nlb, (listeners.get(nlb) ?? 0) + 1);
    }
    expect(Math.max(...listeners.values())).toBe(50);
    const taskTargets = resources(app, "AWS::Lambda::Function").find(({ resource }) => /task targets/.test(String(props(resource).Description)))!;
    const env = text((props(taskTargets.resource).Environment as { Variables: Record<string, unknown> }).Variables.TASK_TARGET_GROUPS, taskTargets.stack);
    const groups = JSON.parse(env.replace(/<[^>]+>/g, "ref")) as { cluster: string; service: string; targetGroups: { arn: string; port: number }[] }[];
    const routerGroups = groups.find((g) => g.service === "router")!;
    expect(routerGroups.cluster).toMatch(/^arn:aws:ecs:us-east-1:[^:]+:cluster\/proxy-fleet-dev_proxies$/);
    expect(routerGroups.targetGroups.map((g) => g.port)).toEqual(Array.from({ length: 49 }, (_, i) => 10001 + i));
  });
});

describe("strongSwan peers", () => {
  it("admits IKE, NAT-T and ESP from every peer address of a connection, primary and secondary", () => {
    const app = apps.large[0]!;
    const ingress = resources(app, "AWS::EC2::SecurityGroup").flatMap(({ resource }) => (props(resource).SecurityGroupIngress as { CidrIp?: string; IpProtocol: string; FromPort?: number }[] | undefined) ?? []);
    for (const peer of ["198.51.100.10/32", "198.51.100.110/32"]) {
      expect(ingress.filter((r) => r.CidrIp === peer).map((r) => `${r.IpProtocol}/${r.FromPort ?? ""}`).sort()).toEqual(["50/", "udp/4500", "udp/500"]);
    }
  });
});

// A task reads only SSM parameters and secrets under /proxy-fleet/<stage>/<service>/ (StrongswanSites grants no
// more): a reference elsewhere would deploy a VPN whose task fails at start with AccessDenied, so synth refuses it.
describe("pre-shared keys", () => {
  it("each stage's strongSwan tasks read the keys {stage} names in their own stage's path", () => {
    for (const app of [...apps.examples, ...apps.large]) {
      const definitions = resources(app, "AWS::ECS::TaskDefinition").flatMap(({ resource }) =>
        props(resource).ContainerDefinitions as { Environment?: { Name: string; Value: unknown }[] }[]);
      const stages = definitions.filter((d) => d.Environment?.some((e) => e.Name === "PROXY_FLEET_STAGE"))
        .map((d) => d.Environment!.find((e) => e.Name === "PROXY_FLEET_STAGE")!.Value);
      expect(stages.length, app.stage).toBeGreaterThan(0);
      expect(new Set(stages), app.stage).toEqual(new Set([app.stage]));
      const parameterGrants = statements(app).filter((s) => s.actions.includes("ssm:GetParameter")).flatMap((s) => s.resources);
      expect(parameterGrants.length).toBeGreaterThan(0);
      for (const grant of parameterGrants) expect(grant).toMatch(new RegExp(`:parameter/proxy-fleet/${app.stage}/[a-z0-9-]+/\\*$`));
    }
  });

  it("refuses to synthesize a site whose key lies outside its stage's path, naming the key and the path", async () => {
    const dir = largeConfig({ haproxyListeners: 1, nginx: 0, squid: 0, sites: 1 });
    const fleet = join(dir, "fleet.yaml");
    writeFileSync(fleet, readFileSync(fleet, "utf8").replace("/proxy-fleet/{stage}/site-0/dc0", "/proxy-fleet/prod/site-0/dc0"));
    await expect(synthApp({ stage: "dev", configDir: dir })).rejects.toThrow(
      "site-0 dc0: the pre-shared key proxy-fleet/prod/site-0/dc0 is outside proxy-fleet/dev/site-0/, the only keys stage dev may read");
  }, 120_000);
});
