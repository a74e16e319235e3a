// The strongSwan agent's checks against a real charon in a network namespace the test creates: a swanctl
// load that swanctl rejects is a failure (the old check read stdout only and said ok), proposals that use an
// algorithm the running charon has no plugin for are refused before anything is loaded, and charon's own
// words reach the error when it cannot start.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeMissing, missingAlgorithms, parseListAlgs, transformOf } from "../../containers/agent/algorithms.ts";
import { CHARON_PLUGINS, startCharon, type Charon } from "../../containers/agent/charon.ts";
import { loadSwanctl, swanctlLoadProblems } from "../../containers/agent/checks.ts";
import type { NetworkNamespace } from "../../containers/agent/netns.ts";
import { run } from "../../containers/agent/process.ts";
import { StrongswanAgent } from "../../containers/agent/strongswan.ts";
import { DH_GROUPS, ENCRYPTION, INTEGRITY } from "../../functions/fleet/algorithms.ts";
import { renderBundle } from "../../functions/render/bundle.ts";
import { loadOrThrow } from "../support/fixtures.ts";
import { Sandbox } from "../support/sandbox.ts";
import { tempDir } from "../support/tmp.ts";

const sandbox = new Sandbox();
let ns: NetworkNamespace;
let charon: Charon;
let dir: string;

beforeAll(async () => {
  const work = await tempDir("swchecks");
  sandbox.track({ stop: work.cleanup });
  dir = work.path;
  await sandbox.setup(async () => {
    ns = await sandbox.namespace("pfswc");
    charon = sandbox.track(await startCharon({ dir: join(dir, "charon"), netns: ns.name }));
  });
}, 30_000);
afterAll(() => sandbox.cleanup());

const listAlgs = async (c: Charon) => (await run("swanctl", ["--list-algs", "--uri", c.viciUri], { netns: ns.name, env: c.env })).stdout;

describe("swanctl --load-all verdicts", () => {
  // swanctl prints "loaded N of M connections, K failed to load" (src/swanctl/commands/load_conns.c) and reports
  // a parse error as "syntax error …" / "invalid config file" on stderr, then exits 0 having loaded nothing.
  it("refuses a file swanctl cannot parse, though swanctl exits 0", async () => {
    const file = join(dir, "syntax.conf");
    await writeFile(file, "connections {\n  x {\n    proposals = aes256-sha256-modp2048\n    local { auth = psk\n  }\n");
    const result = await loadSwanctl(file, charon.viciUri, ns.name, charon.env);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/syntax error/);
  });

  it("refuses a connection charon discards (\"loaded 0 of 1\")", async () => {
    const file = join(dir, "discarded.conf");
    await writeFile(file, "connections {\n  x {\n    proposals = aes256-bogus99-modp2048\n    local { auth = psk }\n    remote { auth = psk }\n  }\n}\n");
    const result = await loadSwanctl(file, charon.viciUri, ns.name, charon.env);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/loaded 0 of 1 connections, 1 failed to load/);
  });

  it("accepts a file every connection of which loads (the positive control)", async () => {
    const file = join(dir, "good.conf");
    await writeFile(file, "connections {\n  x {\n    proposals = aes256-sha256-modp2048\n    local { auth = psk }\n    remote { auth = psk }\n  }\n}\n");
    const result = await loadSwanctl(file, charon.viciUri, ns.name, charon.env);
    expect(result).toMatchObject({ ok: true });
    expect(result.output).toMatch(/successfully loaded 1 connections/);
  });

  it("does not count missing credential directories or swanctl's own plugin notes as problems", () => {
    expect(swanctlLoadProblems([
      "opening directory '/etc/swanctl/x509' failed: No such file or directory",
      "plugin 'curl': failed to load - curl_plugin_create not found and no plugin file available",
      "loaded connection 'dc1'",
      "successfully loaded 1 connections, 0 unloaded",
    ].join("\n"))).toEqual([]);
  });
});

describe("algorithms the running charon offers", () => {
  // swanctl --list-algs prints each transform type with its algorithms and the plugin providing each
  // (src/swanctl/commands/list_algs.c); proposal keywords: docs.strongswan.org, "IKEv2 Cipher Suites".
  it("every algorithm fleet.yaml accepts maps to a transform the full plugin set provides", async () => {
    const available = parseListAlgs(await listAlgs(charon));
    for (const keyword of [...ENCRYPTION, ...INTEGRITY, ...DH_GROUPS]) {
      const transform = transformOf(keyword);
      expect(transform, keyword).toBeDefined();
      expect(available.get(transform!.type)?.has(transform!.name), `${keyword} → ${transform!.type} ${transform!.name}`).toBe(true);
    }
  });

  it("refuses, before loading anything, proposals that use an algorithm charon has no plugin for, naming it", async () => {
    // Without the openssl plugin (libstrongswan-standard-plugins), charon has no ECP groups: the bug issue 9 found.
    const lacking = sandbox.track(await startCharon({
      dir: join(dir, "charon-no-openssl"), netns: ns.name, plugins: CHARON_PLUGINS.filter((p) => p !== "openssl"),
    }));
    const model = await loadOrThrow({
      "fleet.yaml": `version: 1
services:
  vpn:
    kind: strongswan
    connections:
      - name: dc1
        psk: { ssmParameter: /proxy-fleet/test/psk }
        local: { subnets: [10.98.1.0/24] }
        remote: { address: 10.99.0.2, subnets: [10.98.2.0/24] }
        ike: { encryption: [aes256gcm16], integrity: [sha256], dhGroups: [ecp256] }
        esp: { encryption: [aes256gcm16], dhGroups: [ecp256] }
`,
    });
    const bundle = renderBundle(model.services[0]!);
    let resolved = 0;
    const start = StrongswanAgent.start({ fetch: async () => bundle }, {
      bundleDir: join(dir, "bundle"), runDir: join(dir, "run"), netns: ns.name,
      secrets: { resolve: async () => { resolved++; return Buffer.from("never used"); } },
      viciUri: lacking.viciUri, swanctlEnv: lacking.env,
    });
    await expect(start).rejects.toThrow("ecp256 (dh ECP_256) in dc1 IKE proposal aes256gcm16-prfsha256-ecp256");
    await expect(start).rejects.toThrow("ecp256 (dh ECP_256) in dc1 ESP proposal aes256gcm16-ecp256");
    expect(resolved).toBe(0);
    const conns = await run("swanctl", ["--list-conns", "--uri", lacking.viciUri], { netns: ns.name, env: lacking.env });
    expect(conns.stdout).not.toContain("dc1");
  });

  it("names nothing when every algorithm is there", () => {
    const available = parseListAlgs("aead:\n  AES_GCM_16[gcm]\nprf:\n  PRF_HMAC_SHA2_256[hmac]\ndh:\n  ECP_256[openssl]\n");
    expect(missingAlgorithms([{ usedIn: "dc1", context: "ike", proposals: "aes256gcm16-prfsha256-ecp256" }], available)).toEqual([]);
    const missing = missingAlgorithms([{ usedIn: "dc1", context: "esp", proposals: "aes128gcm16-modp2048,aes256gcm16-ecp256" }], available);
    expect(describeMissing(missing)).toBe("modp2048 (dh MODP_2048) in dc1 ESP proposal aes128gcm16-modp2048");
  });
});

describe("charon's start-up output", () => {
  it("reaches the error when charon cannot start", async () => {
    await expect(startCharon({ dir: join(dir, "charon-broken"), netns: ns.name, plugins: [...CHARON_PLUGINS, "no-such-plugin!"] }))
      .rejects.toThrow(/charon exited while starting[\s\S]*loading critical plugin 'no-such-plugin' failed/);
  });
});
