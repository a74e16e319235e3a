// The strongSwan container's entry point (host network, NET_ADMIN, on EC2): start charon, load the pinned
// bundle's connections with pre-shared keys from SSM / Secrets Manager, apply the iptables rules, serve
// /healthz, and re-apply the rules whenever the runtime target document changes. IPsec is never restarted
// for a DNS change.
import { agentSources } from "../../functions/aws/agent-sources.ts";
import { awsSecretsResolver } from "../../functions/aws/secrets.ts";
import { CONTAINER_CONTEXT } from "../../functions/render/context.ts";
import { startDaemon, waitFor } from "./process.ts";
import { existsSync } from "node:fs";
import { startHealthServer } from "./health.ts";
import { StrongswanAgent } from "./strongswan.ts";

const env = (name: string, fallback?: string) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`environment variable ${name} is not set`);
  return value;
};
const log = (message: string, fields: object = {}) => process.stdout.write(JSON.stringify({ agent: message, ...fields }) + "\n");

/** charon's vici socket, as the image's strongswan.conf (containers/strongswan/strongswan.conf) sets it. */
const VICI = "/run/proxy-fleet/charon.vici";

async function main() {
  const charon = startDaemon("charon-systemd", [], { env: { ...process.env, STRONGSWAN_CONF: "/etc/proxy-fleet/strongswan.conf" } });
  await waitFor("charon's vici socket", () => existsSync(VICI), 30_000);
  const { bundle, targets } = agentSources(env("CONFIG_BUCKET"), env("PROXY_FLEET_SERVICE"), env("PROXY_FLEET_BUNDLE_KEY"));
  const agent = await StrongswanAgent.start(bundle, {
    bundleDir: CONTAINER_CONTEXT.bundleDir,
    runDir: CONTAINER_CONTEXT.runDir,
    pinnedHash: env("PROXY_FLEET_BUNDLE_HASH"),
    secrets: awsSecretsResolver(),
    viciUri: `unix://${VICI}`,
    swanctlEnv: { ...process.env, STRONGSWAN_CONF: "/etc/proxy-fleet/strongswan.conf" },
    targets: (await targets.poll()) ?? {},
  });
  log("started", { service: agent.model.name, hash: agent.hash });
  const health = await startHealthServer(Number(env("HEALTH_PORT", "8081")), () => {
    const state = agent.health();
    return { ...state, ok: state.ok && charon.process.exitCode === null };
  });
  const timer = setInterval(async () => {
    try {
      const next = await targets.poll();
      if (next) log("runtime targets", { ...(await agent.applyTargets(next)) });
    } catch (error) {
      log("poll failed; the running rules stay", { error: String(error) });
    }
  }, Number(env("POLL_SECONDS", "10")) * 1000);
  const shutdown = async () => {
    clearInterval(timer);
    health.close();
    await charon.stop();
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

main().catch((error: unknown) => {
  log("failed to start", { error: String(error) });
  process.exit(1);
});
