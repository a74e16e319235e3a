// Deploy-time settings (environment variables read at synth) and the stage-scoped names every stack uses.
// Each setting is checked here, so a bad value fails the synth with a message naming the variable.
import { secretPath as fleetSecretPath } from "../functions/fleet/secrets.ts";

/** proxy-fleet's tags: the service a resource belongs to, and the stage (one deployment) that owns it. */
export { SERVICE_TAG, STAGE_TAG } from "../functions/heal/ports.ts";

/**
 * SST stages name everything; `_` ends the stage in every physical name, so no stage's names are a prefix of
 * another's ("dev" never matches "dev-2"'s resources in a name pattern).
 */
const STAGE_PATTERN = /^[a-z][a-z0-9-]{0,19}$/;

export function checkStage(stage: string): string {
  if (!STAGE_PATTERN.test(stage)) {
    throw new Error(`stage "${stage}": proxy-fleet stages are 1-20 lowercase letters, digits and hyphens, starting with a letter (names and IAM patterns embed it)`);
  }
  return stage;
}

/** The prefix of every physical name a stage creates: `proxy-fleet-<stage>_`. */
export const stagePrefix = (stage: string) => `proxy-fleet-${checkStage(stage)}_`;
/** A stage-scoped physical name: `proxy-fleet-<stage>_<part>-<part>…`. */
export const stageName = (stage: string, ...parts: string[]) => `${stagePrefix(stage)}${parts.join("-")}`;

/** Where a stage's pre-shared keys live: SSM parameters under `/proxy-fleet/<stage>/<service>/`, secrets under `proxy-fleet/<stage>/<service>/`. */
export const secretPath = (stage: string, service: string) => fleetSecretPath(checkStage(stage), service);

export interface DeploySettings {
  /** PROXY_FLEET_RESERVED_CONCURRENCY: reserve this many executions per loop (unset: none, the leases serialize). */
  readonly reservedConcurrency?: number;
  /** PROXY_FLEET_CREATE_TRAIL=true: create a CloudTrail trail (Route 53 events need one). */
  readonly createTrail: boolean;
  /** PROXY_FLEET_ENDPOINT_PRINCIPALS: comma-separated principal ARNs allowed to connect to Squid's endpoint service. */
  readonly endpointPrincipals: readonly string[];
  /**
   * PROXY_FLEET_VPN_ROUTES=true: route each IPsec site's remote subnets from the private subnets to its persistent
   * ENI. A route names one ENI, so such a site runs in one availability zone (the first).
   */
  readonly vpnRoutes: boolean;
  /** PROXY_FLEET_ALARM_EMAIL: an address subscribed (by email) to the stage's alarm topic. */
  readonly alarmEmail?: string;
  /**
   * PROXY_FLEET_ALARM_TOPIC_ARN: an existing SNS topic every alarm also notifies (SNS cannot subscribe a topic to a
   * topic, so it becomes a second alarm action).
   */
  readonly alarmTopicArn?: string;
}

/**
 * Reserved concurrency is subtracted from the account's pool, of which Lambda keeps 100 unreserved (10 on new
 * accounts whose quota is 10, where any reservation fails):
 * https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
 */
export const MAX_RESERVED_CONCURRENCY = 10;

export function deploySettings(env: Record<string, string | undefined> = process.env): DeploySettings {
  const reserved = env.PROXY_FLEET_RESERVED_CONCURRENCY;
  let reservedConcurrency: number | undefined;
  if (reserved !== undefined && reserved !== "") {
    reservedConcurrency = Number(reserved);
    if (!Number.isInteger(reservedConcurrency) || reservedConcurrency < 1 || reservedConcurrency > MAX_RESERVED_CONCURRENCY) {
      throw new Error(`PROXY_FLEET_RESERVED_CONCURRENCY="${reserved}": expected an integer from 1 to ${MAX_RESERVED_CONCURRENCY}, or unset (the loops serialize through state-table leases and need no reservation)`);
    }
  }
  const flag = (name: string) => {
    const value = env[name] ?? "";
    if (!["", "true", "false"].includes(value)) throw new Error(`${name}="${value}": expected true or false`);
    return value === "true";
  };
  const endpointPrincipals = (env.PROXY_FLEET_ENDPOINT_PRINCIPALS ?? "").split(",").map((p) => p.trim()).filter(Boolean);
  for (const principal of endpointPrincipals) {
    if (!/^arn:aws[a-z-]*:iam::\d{12}:(root|role\/.+|user\/.+)$/.test(principal)) {
      throw new Error(`PROXY_FLEET_ENDPOINT_PRINCIPALS: "${principal}" is not an IAM principal ARN (arn:aws:iam::<account>:root|role/…|user/…)`);
    }
  }
  const alarmEmail = env.PROXY_FLEET_ALARM_EMAIL?.trim() || undefined;
  if (alarmEmail && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(alarmEmail)) {
    throw new Error(`PROXY_FLEET_ALARM_EMAIL="${alarmEmail}": expected one email address (name@example.com)`);
  }
  const alarmTopicArn = env.PROXY_FLEET_ALARM_TOPIC_ARN?.trim() || undefined;
  if (alarmTopicArn && !/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/.test(alarmTopicArn)) {
    throw new Error(`PROXY_FLEET_ALARM_TOPIC_ARN="${alarmTopicArn}": expected a standard SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)`);
  }
  return {
    ...(reservedConcurrency ? { reservedConcurrency } : {}),
    createTrail: flag("PROXY_FLEET_CREATE_TRAIL"), endpointPrincipals, vpnRoutes: flag("PROXY_FLEET_VPN_ROUTES"),
    ...(alarmEmail ? { alarmEmail } : {}), ...(alarmTopicArn ? { alarmTopicArn } : {}),
  };
}

/** What a strongSwan site's warm-pool instance does while it waits: runs (booted, image pulled), or is stopped. */
export type WarmPoolState = "running" | "stopped";

/**
 * PROXY_FLEET_WARM_POOL: `running` (the default: a replacement needs no boot, the VPN is back within about 30 s of a
 * serving instance stopping; costs one more running instance per site) or `stopped` (pays only for its EBS volume;
 * a replacement boots first). docs/heal.md has the budget of each.
 */
export function warmPoolState(env: Record<string, string | undefined> = process.env): WarmPoolState {
  const value = env.PROXY_FLEET_WARM_POOL?.trim() || "running";
  if (value !== "running" && value !== "stopped") throw new Error(`PROXY_FLEET_WARM_POOL="${value}": expected running or stopped`);
  return value;
}

/** The two ECS clusters of a stage, by name (known before either stack exists, so rules and policies need no export). */
export const proxyClusterName = (stage: string) => stageName(stage, "proxies");
export const strongswanClusterName = (stage: string) => stageName(stage, "strongswan");
