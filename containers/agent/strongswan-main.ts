// The strongSwan container's entry point (host network, NET_ADMIN, on EC2): start charon, load the pinned
// bundle's connections with pre-shared keys from SSM / Secrets Manager, apply the iptables rules, serve
// /healthz, and re-apply the rules whenever the runtime target document changes. IPsec is never restarted
// for a DNS change.
import { existsSync } from "node:fs";
import { agentSources } from "../../functions/aws/agent-sources.ts";
import { awsSecretsResolver } from "../../functions/aws/secrets.ts";
import { CONTAINER_CONTEXT } from "../../functions/render/context.ts";
import { startHealthServer } from "./health.ts";
import { startDaemon, waitFor } from "./process.ts";
import { env, exitOnFailure, log, pollAndServe } from "./runtime.ts";
import { StrongswanAgent } from "./strongswan.ts";

/** charon's vici socket, as the image's strongswan.conf (containers/strongswan/strongswan.conf) sets it. */
const VICI = "/run/proxy-fleet/charon.vici";
const STRONGSWAN_ENV = { ...process.env, STRONGSWAN_CONF: "/etc/proxy-fleet/strongswan.conf" };

exitOnFailure(async () => {
  const charon = startDaemon("charon-systemd", [], { env: STRONGSWAN_ENV });
  await waitFor("charon's vici socket", () => existsSync(VICI), 30_000);
  const { bundle, targets } = agentSources(env("CONFIG_BUCKET"), env("PROXY_FLEET_SERVICE"), env("PROXY_FLEET_BUNDLE_KEY"));
  const agent = await StrongswanAgent.start(bundle, {
    bundleDir: CONTAINER_CONTEXT.bundleDir,
    runDir: CONTAINER_CONTEXT.runDir,
    pinnedHash: env("PROXY_FLEET_BUNDLE_HASH"),
    secrets: awsSecretsResolver(),
    viciUri: `unix://${VICI}`,
    swanctlEnv: STRONGSWAN_ENV,
    targets: (await targets.poll()) ?? {},
  });
  log("started", { service: agent.model.name, hash: agent.hash });
  const health = await startHealthServer(Number(env("HEALTH_PORT", "8081")), () => {
    const state = agent.health();
    return { ...state, ok: state.ok && charon.process.exitCode === null };
  });
  pollAndServe(agent, targets, health, () => charon.stop());
});
