// The steps between a strongSwan instance's loss and the tunnel being up again, each with the latency range the
// heal timeline bench draws from and where that range comes from. Where AWS documents no figure the range is an
// assumption and says so; docs/heal.md lists the same steps (test/heal/budget.test.ts keeps the two in step).

/**
 * cold: no warm instance (the fallback), loss found by status checks. warm-stopped: the stopped pool deployed before,
 * loss found by status checks. warm-running: a running pool as such, the ECS agent left to its own once-a-minute
 * look. fast: what the stack deploys now, for a loss EC2 announces (stopping, shutting-down): heal marks the instance
 * unhealthy at once, a running warm instance leaves the pool, its ECS agent restarted as it goes into service, the
 * image already on it. fast-impaired: the same stack, for an instance impaired while still running: only status
 * checks find it.
 */
export type HealPath = "cold" | "warm-stopped" | "warm-running" | "fast" | "fast-impaired";
export const HEAL_PATHS: readonly HealPath[] = ["cold", "warm-stopped", "warm-running", "fast", "fast-impaired"];

/** Where a step's range comes from: an AWS or daemon document, a measurement here, or this project's assumption. */
export type Basis = "documented" | "measured" | "assumed";

export interface BudgetStep {
  readonly id: string;
  readonly what: string;
  /** Seconds, drawn uniformly between the two on each simulated run. */
  readonly range: readonly [number, number];
  readonly source: string;
  readonly basis: Basis;
  /** The paths that go through this step (every path when absent). */
  readonly paths?: readonly HealPath[];
  /** Runs while the heal Lambda works on the hook: the slower of the two counts, not their sum. */
  readonly parallelWithHeal?: boolean;
}

const ASSUMED = "assumed: AWS documents no latency figure for this step";
const STATUS_CHECKED: readonly HealPath[] = ["cold", "warm-stopped", "warm-running", "fast-impaired"];
const RUNNING_POOL: readonly HealPath[] = ["warm-running", "fast", "fast-impaired"];
const AGENT_RESTARTED: readonly HealPath[] = ["fast", "fast-impaired"];

export const BUDGET_STEPS: readonly BudgetStep[] = [
  {
    id: "detection",
    what: "instance loss → Auto Scaling finds it unhealthy by its status checks and starts a replacement",
    range: [1, 70],
    source: "EC2 status checks report whether the instance passed them in the last minute, at a 1-minute frequency (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/viewing_metrics_with_cloudwatch.html#status-check-metrics); "
      + "an instance that terminates unexpectedly is replaced too (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-health-checks.html); "
      + "the 0–10 s Auto Scaling takes to act is " + ASSUMED,
    basis: "documented",
    paths: STATUS_CHECKED,
  },
  {
    id: "event-detection",
    what: "the instance enters stopping / shutting-down → EC2's state-change event → heal Lambda → SetInstanceHealth Unhealthy (one call)",
    range: [0.3, 4],
    source: "EC2 sends the event as the instance enters the state (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instance-state-changes.html); "
      + "SetInstanceHealth without the grace period has Auto Scaling replace it (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetInstanceHealth.html); "
      + "delivery (0.1–2 s), a Lambda cold start (0.1–1.5 s) and the call are " + ASSUMED,
    basis: "assumed",
    paths: ["fast"],
  },
  {
    id: "asg-replaces",
    what: "Unhealthy → Auto Scaling terminates the instance and, at the same time, takes the warm instance out of the pool",
    range: [1, 10],
    source: "terminate and launch together (min 0 % / max 100 %: https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-maintenance-policy-overview-and-considerations.html); " + ASSUMED,
    basis: "assumed",
    paths: ["fast"],
  },
  {
    id: "cold-launch",
    what: "RunInstances → the new instance waits in Pending:Wait",
    range: [5, 20],
    source: ASSUMED,
    basis: "assumed",
    paths: ["cold"],
  },
  {
    id: "warm-start",
    what: "a Warmed:Stopped instance leaves the pool → StartInstances → Pending:Wait",
    range: [2, 10],
    source: ASSUMED + " (a stopped instance keeps its EBS root volume: https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-warm-pools.html)",
    basis: "assumed",
    paths: ["warm-stopped"],
  },
  {
    id: "warm-running-leave",
    what: "a Warmed:Running instance leaves the pool → Pending:Wait (no boot: it is running)",
    range: [1, 3],
    source: ASSUMED,
    basis: "assumed",
    paths: RUNNING_POOL,
  },
  {
    id: "event-delivery",
    what: "the launch lifecycle event reaches the heal Lambda through EventBridge",
    range: [0.1, 2],
    source: "EventBridge delivers Auto Scaling events on a best-effort basis (https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pools-eventbridge-events.html); " + ASSUMED,
    basis: "assumed",
  },
  {
    id: "lambda-cold-start",
    what: "the heal Lambda's cold start (a heal is rare: counted cold, even right after the detection run)",
    range: [0.1, 1.5],
    source: "\"from under 100 ms to over 1 second\" (https://docs.aws.amazon.com/lambda/latest/operatorguide/execution-environments.html)",
    basis: "documented",
  },
  {
    id: "attachment-settles",
    what: "the attached ENI appears in the guest and the EIP routes to it",
    range: [1, 5],
    source: ASSUMED,
    basis: "assumed",
  },
  {
    id: "cold-boot",
    what: "first boot: kernel, cloud-init, user data, Docker and the ECS agent's first start (runs during Pending:Wait)",
    range: [40, 90],
    source: ASSUMED + "; warm pools exist to skip exactly this (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-warm-pools.html)",
    basis: "assumed",
    paths: ["cold"],
    parallelWithHeal: true,
  },
  {
    id: "warm-boot",
    what: "boot of an initialized instance: kernel, Docker, the ECS agent (no first-boot work; runs during Pending:Wait)",
    range: [15, 40],
    source: ASSUMED,
    basis: "assumed",
    paths: ["warm-stopped"],
    parallelWithHeal: true,
  },
  {
    id: "ecs-register",
    what: "the ECS agent, started at boot, reads the target state InService at once and registers",
    range: [1, 10],
    source: "the agent reads the target lifecycle state when it starts (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-warm-pool.html; amazon-ecs-agent agent/app/agent.go waitUntilInstanceInService); " + ASSUMED,
    basis: "assumed",
    paths: ["cold", "warm-stopped"],
  },
  {
    id: "ecs-agent-poll",
    what: "a running warm instance's ECS agent, waiting since it warmed, reads the target state again only once a minute, then registers",
    range: [1, 70],
    source: "amazon-ecs-agent agent/app/agent.go: asgLifecyclePollWait = time.Minute between reads of the target state; registering (0–10 s) " + ASSUMED,
    basis: "documented",
    paths: ["warm-running"],
  },
  {
    id: "ecs-agent-restart",
    what: "the host helper reads InService from the instance metadata (every second) and restarts the ECS agent, which registers at once",
    range: [2, 8],
    source: "the target lifecycle state is in the instance metadata (https://docs.aws.amazon.com/autoscaling/ec2/userguide/retrieving-target-lifecycle-state-through-imds.html); the agent reads it first thing on start (agent.go); the restart and registration are " + ASSUMED,
    basis: "assumed",
    paths: AGENT_RESTARTED,
  },
  {
    id: "task-placement",
    what: "the ECS service scheduler places the pending task on the registered instance",
    range: [1, 5],
    source: ASSUMED,
    basis: "assumed",
  },
  {
    id: "image-pull",
    what: "the strongSwan image is pulled from ECR (not on a new instance; a stopped pool's warm-up may be cut short before its pull ends)",
    range: [5, 25],
    source: "the agent pulls the image when it starts a task and caches it afterwards (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/pull-behavior.html); " + ASSUMED,
    basis: "assumed",
    paths: ["cold", "warm-stopped", "warm-running"],
  },
  {
    id: "task-start",
    what: "container start (image on disk: prefer-cached), in-task agent fetches and verifies the bundle, charon-systemd starts and loads swanctl.conf",
    range: [1, 4],
    source: "measured locally: charon-systemd starts and swanctl --load-all returns in well under a second (docs/design.md, Data-plane facts); S3 GetObject and ECS container start are " + ASSUMED,
    basis: "assumed",
  },
  {
    id: "ike",
    what: "start_action = start: charon initiates at once; IKE_SA_INIT + IKE_AUTH (2 round trips) and the CHILD_SA",
    range: [0.05, 0.6],
    source: "RFC 7296 §1.2 (two exchanges); an IKEv2 PSK tunnel between two namespaces came up in ~30 ms here (docs/design.md); internet round trips are " + ASSUMED,
    basis: "measured",
  },
];

/** One EC2 / Auto Scaling / DynamoDB API round trip as seen from the heal Lambda, in seconds. */
export const API_CALL_RANGE: readonly [number, number] = [0.03, 0.3];
export const API_CALL_SOURCE = ASSUMED + " (AWS publishes no API latency figures)";

/** The goal: the VPN back within 30 s of the instance's loss. */
export const HEAL_GOAL_SECONDS = 30;
