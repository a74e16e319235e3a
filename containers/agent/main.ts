// The agent as a container's entry point: fetch the pinned bundle, start the daemon, serve /healthz,
// and apply the runtime target document whenever it changes.
//   CONFIG_BUCKET, PROXY_FLEET_BUNDLE_KEY, PROXY_FLEET_BUNDLE_HASH   the pinned bundle (set by the rollout loop)
//   PROXY_FLEET_SERVICE                                             the fleet service this task runs
//   HEALTH_PORT (8081), POLL_SECONDS (10)
import { agentSources } from "../../functions/aws/agent-sources.ts";
import { CONTAINER_CONTEXT } from "../../functions/render/context.ts";
import { Agent } from "./agent.ts";
import { startHealthServer } from "./health.ts";

const env = (name: string, fallback?: string) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`environment variable ${name} is not set`);
  return value;
};

const log = (message: string, fields: object = {}) => process.stdout.write(JSON.stringify({ agent: message, ...fields }) + "\n");

async function main() {
  const { bundle, targets } = agentSources(env("CONFIG_BUCKET"), env("PROXY_FLEET_SERVICE"), env("PROXY_FLEET_BUNDLE_KEY"));
  const agent = await Agent.start(bundle, {
    bundleDir: CONTAINER_CONTEXT.bundleDir,
    runDir: CONTAINER_CONTEXT.runDir,
    pinnedHash: env("PROXY_FLEET_BUNDLE_HASH"),
    targets: (await targets.poll()) ?? {},
  });
  log("started", { service: agent.model.name, kind: agent.model.kind, hash: agent.hash });
  const health = await startHealthServer(Number(env("HEALTH_PORT", "8081")), () => agent.health());

  const pollMs = Number(env("POLL_SECONDS", "10")) * 1000;
  const timer = setInterval(async () => {
    try {
      const next = await targets.poll();
      if (next) log("runtime targets", { ...(await agent.applyTargets(next)) });
    } catch (error) {
      log("poll failed; the running config stays", { error: String(error) });
    }
  }, pollMs);

  const shutdown = async () => {
    clearInterval(timer);
    health.close();
    await agent.stop();
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

main().catch((error: unknown) => {
  log("failed to start", { error: String(error) });
  process.exit(1);
});
