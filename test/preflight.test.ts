// The fresh-machine guard: every package it can ask for is one ./dev installs, and a missing one is named.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DATA_PLANE_REQUIREMENTS, missingPackages } from "./support/preflight.ts";

describe("the data-plane preflight", () => {
  it("names only packages that ./dev installs", async () => {
    const dev = await readFile(join(import.meta.dirname, "..", "dev"), "utf8");
    const list = /DEBIAN_PACKAGES=\(([^)]*)\)/.exec(dev)?.[1]?.split(/\s+/).filter(Boolean) ?? [];
    expect(list.length).toBeGreaterThan(0);
    for (const requirement of DATA_PLANE_REQUIREMENTS) expect(list, requirement.path).toContain(requirement.debianPackage);
  });

  it("passes on this machine (the suite ran, so the globalSetup did too)", () => {
    expect(missingPackages()).toEqual([]);
  });

  // The fresh Debian 12: charon's openssl and gcm plugins come from libstrongswan-standard-plugins.
  it("names the package of each missing file, once per package", () => {
    const absent = new Set(["/usr/lib/ipsec/plugins/libstrongswan-openssl.so", "/usr/lib/ipsec/plugins/libstrongswan-gcm.so", "/usr/sbin/squid"]);
    expect(missingPackages((path) => !absent.has(path))).toEqual([
      "squid: /usr/sbin/squid (squid -k parse and the Squid traffic tests)",
      "libstrongswan-standard-plugins: /usr/lib/ipsec/plugins/libstrongswan-openssl.so (charon's openssl plugin: ECP/MODP DH groups, AES-CTR/CCM); " +
        "/usr/lib/ipsec/plugins/libstrongswan-gcm.so (charon's gcm plugin: AES-GCM)",
    ]);
  });
});
