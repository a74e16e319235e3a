// The steps between a strongSwan instance's loss and the tunnel being up again, each with the latency range the
// heal timeline bench draws from and where that range comes from. Where AWS documents no figure the range is an
// assumption and says so; docs/heal.md lists the same steps (test/heal/budget.test.ts keeps the two in step).

export type HealPath = "cold" | "warm-stopped" | "warm-running";

export interface BudgetStep {
  readonly id: string;
  readonly what: string;
  /** Seconds, drawn uniformly between the two on each simulated run. */
  readonly range: readonly [number, number];
  readonly source: string;
  /** The paths that go through this step (every path when absent). */
  readonly paths?: readonly HealPath[];
  /** Runs while the heal Lambda works on the hook: the slower of the two counts, not their sum. */
  readonly parallelWithHeal?: boolean;
}

const ASSUMED = "assumed: AWS documents no latency figure for this step";

export const BUDGET_STEPS: readonly BudgetStep[] = [
  {
    id: "detection",
    what: "instance loss → Auto Scaling finds it unhealthy and starts a replacement",
    range: [1, 70],
    source: "EC2 status checks report whether the instance passed them in the last minute, at a 1-minute frequency (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/viewing_metrics_with_cloudwatch.html#status-check-metrics); "
      + "an instance that terminates unexpectedly is replaced too (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-health-checks.html); "
      + "the 0–10 s Auto Scaling takes to act is " + ASSUMED,
  },
  {
    id: "cold-launch",
    what: "RunInstances → the new instance waits in Pending:Wait",
    range: [5, 20],
    source: ASSUMED,
    paths: ["cold"],
  },
  {
    id: "warm-start",
    what: "a Warmed:Stopped instance leaves the pool → StartInstances → Pending:Wait",
    range: [2, 10],
    source: ASSUMED + " (a stopped instance keeps its EBS root volume: https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-warm-pools.html)",
    paths: ["warm-stopped"],
  },
  {
    id: "warm-running-leave",
    what: "a Warmed:Running instance leaves the pool → Pending:Wait",
    range: [1, 3],
    source: ASSUMED,
    paths: ["warm-running"],
  },
  {
    id: "event-delivery",
    what: "the launch lifecycle event reaches the heal Lambda through EventBridge",
    range: [0.1, 2],
    source: "EventBridge delivers Auto Scaling events on a best-effort basis (https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pools-eventbridge-events.html); " + ASSUMED,
  },
  {
    id: "lambda-cold-start",
    what: "the heal Lambda's cold start (a heal is rare: always cold)",
    range: [0.1, 1.5],
    source: "\"from under 100 ms to over 1 second\" (https://docs.aws.amazon.com/lambda/latest/operatorguide/execution-environments.html)",
  },
  {
    id: "attachment-settles",
    what: "the attached ENI appears in the guest and the EIP routes to it",
    range: [1, 5],
    source: ASSUMED,
  },
  {
    id: "cold-boot",
    what: "first boot: kernel, cloud-init, user data, Docker and the ECS agent's first start (runs during Pending:Wait)",
    range: [40, 90],
    source: ASSUMED + "; warm pools exist to skip exactly this (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-warm-pools.html)",
    paths: ["cold"],
    parallelWithHeal: true,
  },
  {
    id: "warm-boot",
    what: "boot of an initialized instance: kernel, Docker, the ECS agent (no first-boot work; runs during Pending:Wait)",
    range: [15, 40],
    source: ASSUMED,
    paths: ["warm-stopped"],
    parallelWithHeal: true,
  },
  {
    id: "ecs-register",
    what: "the ECS agent sees the instance InService (ECS_WARM_POOLS_CHECK) and registers it",
    range: [1, 10],
    source: "the agent waits for the instance to leave the warm pool before registering (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-warm-pool.html); " + ASSUMED,
  },
  {
    id: "task-placement",
    what: "the ECS service scheduler places the pending task on the registered instance",
    range: [1, 5],
    source: ASSUMED,
  },
  {
    id: "image-pull",
    what: "the strongSwan image is pulled from ECR (never cached on a new or warmed instance)",
    range: [5, 25],
    source: "the agent pulls the image when it starts a task and caches it afterwards (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/pull-behavior.html); " + ASSUMED,
  },
  {
    id: "task-start",
    what: "container start, in-task agent fetches and verifies the bundle, charon-systemd starts and loads swanctl.conf",
    range: [1, 4],
    source: "measured locally: charon-systemd starts and swanctl --load-all returns in well under a second (docs/design.md, Data-plane facts); S3 GetObject and ECS container start are " + ASSUMED,
  },
  {
    id: "ike",
    what: "start_action = start: charon initiates at once; IKE_SA_INIT + IKE_AUTH (2 round trips) and the CHILD_SA",
    range: [0.05, 0.6],
    source: "RFC 7296 §1.2 (two exchanges); an IKEv2 PSK tunnel between two namespaces came up in ~30 ms here (docs/design.md); internet round trips are " + ASSUMED,
  },
];

/** One EC2 / Auto Scaling / DynamoDB API round trip as seen from the heal Lambda, in seconds. */
export const API_CALL_RANGE: readonly [number, number] = [0.03, 0.3];
export const API_CALL_SOURCE = ASSUMED + " (AWS publishes no API latency figures)";

/** The ≤ 30 s goal of issue 14, measured from instance loss. */
export const HEAL_GOAL_SECONDS = 30;
