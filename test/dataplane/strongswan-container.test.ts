// The strongSwan container's own charon configuration starts a charon that answers on its vici socket.
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { afterAll, expect, it } from "vitest";
import { NetworkNamespace } from "../../containers/agent/netns.ts";
import { run, startDaemon, waitFor, type Daemon } from "../../containers/agent/process.ts";
import { tempDir } from "../support/tmp.ts";

let ns: NetworkNamespace | undefined;
let charon: Daemon | undefined;
let work: { path: string; cleanup: () => Promise<void> } | undefined;
afterAll(async () => {
  await charon?.stop();
  await ns?.destroy();
  await work?.cleanup();
});

it("containers/strongswan/strongswan.conf is valid and brings up vici", async () => {
  work = await tempDir("swconf");
  const socket = join(work.path, "charon.vici");
  const conf = (await readFile(resolve(import.meta.dirname, "../../containers/strongswan/strongswan.conf"), "utf8"))
    .replace("/run/proxy-fleet/charon.vici", socket)
    .replace("path = /dev/stdout", `path = ${join(work.path, "charon.log")}`);
  expect(conf).toContain(socket);
  await writeFile(join(work.path, "strongswan.conf"), conf);
  ns = await NetworkNamespace.create("pfsw");
  const env = { ...process.env, STRONGSWAN_CONF: join(work.path, "strongswan.conf") };
  charon = startDaemon("charon-systemd", [], { netns: ns.name, env });
  await waitFor("vici", () => existsSync(socket), 15_000);
  const version = await run("swanctl", ["--version", "--daemon", "--uri", `unix://${socket}`], { netns: ns.name, env });
  expect(version.stdout).toMatch(/strongSwan 5\.9\.\d+ charon-systemd/);
});
