// The agent as a container's entry point: fetch the pinned bundle, start the daemon, serve /healthz,
// and apply the runtime target document whenever it changes.
//   CONFIG_BUCKET, PROXY_FLEET_BUNDLE_KEY, PROXY_FLEET_BUNDLE_HASH   the pinned bundle (set by the rollout loop)
//   PROXY_FLEET_SERVICE                                             the fleet service this task runs
//   PROXY_FLEET_KIND                                                the kind this image runs (set by the Dockerfile)
//   PROXY_FLEET_PROXY_PROTOCOL_FROM                                 the NLB's subnets (comma-separated CIDRs): every
//                                                                   listener requires PROXY v2 from them only
//   HEALTH_PORT (8081), POLL_SECONDS (10)
// Stop (SIGTERM) is handled from the first line: the daemon drains for up to 20 s, then the agent exits 0.
// A daemon that dies on its own ends the agent with status 1, so ECS replaces the task.
//   METRICS_SECONDS (10): how often the data plane's gauges are sampled and printed as EMF lines (metrics.ts)
import { DRAIN_MS, Lifecycle, env, logDaemonLine, log, pollAndServe, sampleMetrics } from "./runtime.ts";

const lifecycle = new Lifecycle();

lifecycle.run(async () => {
  // Loaded after the stop handler is in place: the SDK and the renderers take a moment to load.
  const { agentSources } = await import("../../functions/aws/agent-sources.ts");
  const { CONTAINER_CONTEXT, PROXY_PROTOCOL_ENV, parseProxyProtocolFrom } = await import("../../functions/render/context.ts");
  const { Agent } = await import("./agent.ts");
  const { startHealthServer } = await import("./health.ts");
  const { AgentMetrics } = await import("./metrics.ts");

  const pinnedHash = env("PROXY_FLEET_BUNDLE_HASH");
  const { bundle, targets } = agentSources(env("CONFIG_BUCKET"), env("PROXY_FLEET_SERVICE"), env("PROXY_FLEET_BUNDLE_KEY"));
  const start = async () => Agent.start(bundle, {
    bundleDir: process.env.PROXY_FLEET_BUNDLE_DIR ?? CONTAINER_CONTEXT.bundleDir,
    runDir: process.env.PROXY_FLEET_RUN_DIR ?? CONTAINER_CONTEXT.runDir,
    proxyProtocolFrom: parseProxyProtocolFrom(process.env[PROXY_PROTOCOL_ENV]),
    pinnedHash,
    targets: (await targets.poll()) ?? {},
    ...(process.env.PROXY_FLEET_KIND ? { expectedKind: process.env.PROXY_FLEET_KIND } : {}),
    onDaemonLine: logDaemonLine,
  });
  const agent = await start().catch((error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)} (pinned bundle ${pinnedHash})`, { cause: error });
  });
  lifecycle.onStop(async () => {
    const exit = await agent.drain(DRAIN_MS);
    log("daemon stopped", { daemon: agent.model.kind, ...exit });
  });
  if (lifecycle.isStopping) return;
  const metrics = new AgentMetrics(agent.model.name);
  lifecycle.supervise(agent.model.kind, { exited: agent.exited, output: () => agent.output() }, metrics);
  log("started", { service: agent.model.name, kind: agent.model.kind, hash: agent.hash });
  const health = await startHealthServer(Number(env("HEALTH_PORT", "8081")), () => agent.health());
  pollAndServe(lifecycle, agent, targets, health, metrics);
  sampleMetrics(lifecycle, async () => metrics.emit(await agent.sample()));
});
