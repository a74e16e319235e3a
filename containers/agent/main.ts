// The agent as a container's entry point: fetch the pinned bundle, start the daemon, serve /healthz,
// and apply the runtime target document whenever it changes.
//   CONFIG_BUCKET, PROXY_FLEET_BUNDLE_KEY, PROXY_FLEET_BUNDLE_HASH   the pinned bundle (set by the rollout loop)
//   PROXY_FLEET_SERVICE                                             the fleet service this task runs
//   HEALTH_PORT (8081), POLL_SECONDS (10)
import { agentSources } from "../../functions/aws/agent-sources.ts";
import { CONTAINER_CONTEXT } from "../../functions/render/context.ts";
import { Agent } from "./agent.ts";
import { startHealthServer } from "./health.ts";
import { env, exitOnFailure, log, pollAndServe } from "./runtime.ts";

exitOnFailure(async () => {
  const { bundle, targets } = agentSources(env("CONFIG_BUCKET"), env("PROXY_FLEET_SERVICE"), env("PROXY_FLEET_BUNDLE_KEY"));
  const agent = await Agent.start(bundle, {
    bundleDir: CONTAINER_CONTEXT.bundleDir,
    runDir: CONTAINER_CONTEXT.runDir,
    pinnedHash: env("PROXY_FLEET_BUNDLE_HASH"),
    targets: (await targets.poll()) ?? {},
  });
  log("started", { service: agent.model.name, kind: agent.model.kind, hash: agent.hash });
  const health = await startHealthServer(Number(env("HEALTH_PORT", "8081")), () => agent.health());
  pollAndServe(agent, targets, health, () => agent.stop());
});
