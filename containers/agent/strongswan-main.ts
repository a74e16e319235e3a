// The strongSwan container's entry point (host network, NET_ADMIN, on EC2): start charon, load the pinned
// bundle's connections with pre-shared keys from SSM / Secrets Manager, apply the iptables rules, serve
// /healthz, and re-apply the rules whenever the runtime target document changes. IPsec is never restarted
// for a DNS change. charon's output (start-up errors on stderr included) goes to the container's output as
// JSON lines tagged "charon". Stop (SIGTERM) is handled from the first line; charon dying ends the agent
// with status 1.
import { DRAIN_MS, Lifecycle, env, log, logDaemonLine, pollAndServe, sampleMetrics } from "./runtime.ts";

/** charon's vici socket, as the image's strongswan.conf (containers/strongswan/strongswan.conf) sets it. */
const VICI = "/run/proxy-fleet/charon.vici";
const STRONGSWAN_ENV = { ...process.env, STRONGSWAN_CONF: process.env.STRONGSWAN_CONF ?? "/etc/proxy-fleet/strongswan.conf" };

const lifecycle = new Lifecycle();

lifecycle.run(async () => {
  const { existsSync } = await import("node:fs");
  const { mkdir } = await import("node:fs/promises");
  const { dirname } = await import("node:path");
  const { agentSources } = await import("../../functions/aws/agent-sources.ts");
  const { awsSecretsResolver } = await import("../../functions/aws/secrets.ts");
  const { CONTAINER_CONTEXT } = await import("../../functions/render/context.ts");
  const { startHealthServer } = await import("./health.ts");
  const { AgentMetrics } = await import("./metrics.ts");
  const { startDaemon, waitFor } = await import("./process.ts");
  const { StrongswanAgent } = await import("./strongswan.ts");

  const vici = process.env.PROXY_FLEET_VICI_SOCKET ?? VICI;
  await mkdir(dirname(vici), { recursive: true });
  const charon = startDaemon("charon-systemd", [], { env: STRONGSWAN_ENV, onLine: (line) => logDaemonLine("charon", line) });
  lifecycle.onStop(async () => {
    await charon.stop("SIGTERM", DRAIN_MS);
    log("daemon stopped", { daemon: "charon", ...(await charon.exited) });
  });
  await waitFor("charon's vici socket", () => existsSync(vici) || !charon.running(), 30_000);
  if (!charon.running()) throw new Error(`charon exited while starting:\n${charon.output()}`);
  // The service's name is known once the bundle is; until then charon's death is reported without metrics.
  const metricsFor: { current?: InstanceType<typeof AgentMetrics> } = {};
  lifecycle.supervise("charon", charon, { emit: (values, connection) => metricsFor.current?.emit(values, connection) });

  const pinnedHash = env("PROXY_FLEET_BUNDLE_HASH");
  const { bundle, targets } = agentSources(env("CONFIG_BUCKET"), env("PROXY_FLEET_SERVICE"), env("PROXY_FLEET_BUNDLE_KEY"));
  const agent = await StrongswanAgent.start(bundle, {
    bundleDir: process.env.PROXY_FLEET_BUNDLE_DIR ?? CONTAINER_CONTEXT.bundleDir,
    runDir: process.env.PROXY_FLEET_RUN_DIR ?? CONTAINER_CONTEXT.runDir,
    pinnedHash,
    secrets: awsSecretsResolver(),
    viciUri: `unix://${vici}`,
    swanctlEnv: STRONGSWAN_ENV,
    targets: (await targets.poll()) ?? {},
  }).catch((error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)} (pinned bundle ${pinnedHash})`, { cause: error });
  });
  if (lifecycle.isStopping) return;
  log("started", { service: agent.model.name, kind: "strongswan", hash: agent.hash });
  const health = await startHealthServer(Number(env("HEALTH_PORT", "8081")), () => {
    const state = agent.health();
    return { ...state, ok: state.ok && charon.running() };
  });
  const metrics = (metricsFor.current = new AgentMetrics(agent.model.name));
  pollAndServe(lifecycle, agent, targets, health, metrics);
  // TunnelUp, bytes and rekeys per connection, every METRICS_SECONDS (10 by default).
  sampleMetrics(lifecycle, async () => {
    for (const [connection, values] of await agent.sampleTunnels()) metrics.emit(values, connection);
  });
});
