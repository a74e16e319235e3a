// The rollout loops' ports, wired to AWS from the Lambda environment:
//   CONFIG_REPOSITORY  the CodeCommit repository holding fleet.yaml
//   CONFIG_BRANCH      the tracked branch (default main)
//   CONFIG_BUCKET      bundles and the accepted config (the watch re-points accepted/current.json after a failure)
//   STATE_TABLE        rollout state
//   ECS_SERVICES       JSON: { "<fleet service>": { "cluster": …, "service": …, "container": … } }
//   EVENT_BUS_NAME     where proxy-fleet's events go (default: the default bus)
import * as z from "zod";
import type { RolloutPorts } from "../rollout/run.ts";
import type { WatchPorts } from "../rollout/watch.ts";
import { codeCommitClient, dynamoClient, ecsClient, eventsClient, requireEnv, s3Client } from "./clients.ts";
import { codeCommitRepository } from "./codecommit.ts";
import { acceptedStore, bundleStore } from "./config-bucket.ts";
import { ecsDeployer } from "./ecs.ts";
import { eventPublisher } from "./events.ts";
import { rolloutStateStore } from "./state-table.ts";

const EcsServices = z.record(z.string(), z.object({ cluster: z.string().min(1), service: z.string().min(1), container: z.string().min(1) }));

export function rolloutSettings() {
  return { repository: requireEnv("CONFIG_REPOSITORY"), branch: process.env.CONFIG_BRANCH ?? "main" };
}

export function rolloutPorts(instrument: <T>(client: T) => T = (c) => c): RolloutPorts {
  const { repository, branch } = rolloutSettings();
  const s3 = instrument(s3Client());
  return {
    repository: codeCommitRepository(instrument(codeCommitClient()), repository),
    branch,
    bundles: bundleStore(s3, requireEnv("CONFIG_BUCKET")),
    deployer: ecsDeployer(instrument(ecsClient())),
    state: rolloutStateStore(instrument(dynamoClient()), requireEnv("STATE_TABLE")),
    events: eventPublisher(instrument(eventsClient()), process.env.EVENT_BUS_NAME ?? "default"),
    targets: EcsServices.parse(JSON.parse(process.env.ECS_SERVICES ?? "{}")),
    accepted: acceptedStore(s3, requireEnv("CONFIG_BUCKET")),
  };
}

/** The watch's clients only: CodeCommit, DynamoDB, EventBridge and S3 (no ECS). */
export function watchPorts(instrument: <T>(client: T) => T = (c) => c): WatchPorts {
  const { repository, branch } = rolloutSettings();
  return {
    repository: codeCommitRepository(instrument(codeCommitClient()), repository),
    branch,
    state: rolloutStateStore(instrument(dynamoClient()), requireEnv("STATE_TABLE")),
    events: eventPublisher(instrument(eventsClient()), process.env.EVENT_BUS_NAME ?? "default"),
    // Reads accepted/history/*, reads and conditionally replaces accepted/current.json.
    accepted: acceptedStore(instrument(s3Client()), requireEnv("CONFIG_BUCKET")),
  };
}
