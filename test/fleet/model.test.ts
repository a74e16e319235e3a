// The config model: loading the example, defaults, warnings, allowlists, address helpers and trees.
import { mkdir, mkdtemp, readFile, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllowlist } from "../../functions/fleet/allowlist.ts";
import { durationMs, formatDuration } from "../../functions/fleet/duration.ts";
import { formatIssue } from "../../functions/fleet/issues.ts";
import { loadFleet } from "../../functions/fleet/load.ts";
import { cidrsOverlap, isDnsName, parseCidr } from "../../functions/fleet/net.ts";
import { localPortClashes } from "../../functions/fleet/listeners.ts";
import { DirectoryTree, MemoryTree } from "../../functions/fleet/tree.ts";
import { main } from "../../functions/cli/fleet.ts";
import { writeTree } from "../support/tree.ts";
import { EXAMPLES_DIR, loadExample, loadOrThrow, service } from "../support/fixtures.ts";

describe("the example repository", () => {
  it("is valid, has every kind, and reports its weak IKEv1 algorithms as warnings", async () => {
    const result = await loadFleet(new DirectoryTree(EXAMPLES_DIR));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.model.services.map((s) => `${s.name}:${s.kind}`)).toEqual([
      "datacenter-vpn:strongswan", "egress:squid", "lattice-ingress:nginx", "onprem-router:haproxy", "partner-forward:strongswan",
    ]);
    // The IKEv1 connection's ike and esp proposals both use sha1.
    const sha1Lines = (await readFile(join(EXAMPLES_DIR, "fleet.yaml"), "utf8")).split("\n")
      .flatMap((line, i) => (line.includes("integrity: [sha1]") ? [i + 1] : []));
    expect(sha1Lines).toHaveLength(2);
    expect(result.warnings.map((w) => `${w.file}:${w.line} ${w.rule}`)).toEqual(sha1Lines.map((n) => `fleet.yaml:${n} weak-algorithm`));
  });

  it("fills defaults a user would expect", async () => {
    const model = await loadExample();
    const ldap = service(model, "onprem-router", "haproxy").listeners.find((l) => l.name === "ldap")!;
    expect(ldap.healthCheck).toEqual({ enabled: true, interval: "5s", rise: 2, fall: 3 });
    expect(ldap.timeouts).toEqual({ connect: "5s", client: "1h", server: "1h" });
    expect(ldap.balance).toBe("roundrobin");
    const vpn = service(model, "datacenter-vpn", "strongswan");
    expect(vpn.connections[0]!.startAction).toBe("start");
    expect(vpn.defaultForward).toBe("drop");
  });

  it("normalizes names and CIDRs", async () => {
    const model = await loadOrThrow({
      "fleet.yaml": "version: 1\nservices:\n  r:\n    kind: haproxy\n    listeners: [{ name: a, port: 1, backends: [{ host: DB.Example.COM., port: 1 }], allowedSources: [10.0.0.5] }]\n",
    });
    const listener = service(model, "r", "haproxy").listeners[0]!;
    expect(listener.backends[0]!.host).toBe("db.example.com");
    expect(listener.allowedSources).toEqual(["10.0.0.5/32"]);
  });
});

describe("allowlists", () => {
  it("sorts, lowercases, drops comments, and drops names a .suffix already covers (Squid would refuse them)", () => {
    const list = parseAllowlist("# comment\nB.example.com\n.example.com\nexample.com   # inline\nother.org\nother.org\n\n");
    expect(list.entries).toEqual([".example.com", "other.org"]);
    expect(list.problems.map((p) => `${p.line} ${p.severity} ${p.rule}`)).toEqual([
      "6 warning allowlist-duplicate", "2 warning allowlist-redundant", "4 warning allowlist-redundant",
    ]);
  });

  it("reads 10,000 entries with their line numbers", () => {
    const text = Array.from({ length: 10_000 }, (_, i) => `host-${i}.example.com`).join("\n") + "\nbad_name\n";
    const list = parseAllowlist(text);
    expect(list.entries).toHaveLength(10_000);
    expect(list.problems).toEqual([expect.objectContaining({ line: 10_001, rule: "allowlist-entry" })]);
  });
});

describe("addresses", () => {
  it("parses IPv4 and IPv6 CIDRs canonically and refuses host bits", () => {
    expect(parseCidr("10.0.0.0/8")).toMatchObject({ ok: true, cidr: { text: "10.0.0.0/8" } });
    expect(parseCidr("2001:DB8:0:0::/32")).toMatchObject({ ok: true, cidr: { text: "2001:db8::/32" } });
    expect(parseCidr("::ffff:10.0.0.0/104")).toMatchObject({ ok: true, cidr: { text: "::ffff:a00:0/104" } });
    expect(parseCidr("10.0.0.1/8")).toEqual({ ok: false, reason: "has host bits set (did you mean 10.0.0.0/8?)" });
    expect(parseCidr("10.0.0.0/")).toMatchObject({ ok: false });
    expect(parseCidr("300.0.0.0/8")).toMatchObject({ ok: false });
  });

  it("knows when CIDRs overlap, and never across families", () => {
    const c = (t: string) => (parseCidr(t) as { ok: true; cidr: never }).cidr;
    expect(cidrsOverlap(c("10.0.0.0/8"), c("10.255.0.0/16"))).toBe(true);
    expect(cidrsOverlap(c("10.0.0.0/9"), c("10.128.0.0/9"))).toBe(false);
    expect(cidrsOverlap(c("0.0.0.0/0"), c("::/0"))).toBe(false);
  });

  it("accepts DNS names per RFC 1123 and refuses the rest", () => {
    for (const ok of ["a", "a.b", "x-1.example.com", "example.com.", "1a.example.com"]) expect(isDnsName(ok), ok).toBe(true);
    for (const bad of ["", "-a.com", "a-.com", "a..com", "a_b.com", "1.2.3.4", "a.123", `${"a".repeat(64)}.com`, "a b.com"]) {
      expect(isDnsName(bad), bad).toBe(false);
    }
  });

  it("formats durations in each daemon's largest exact unit", () => {
    expect(durationMs("90s")).toBe(90_000);
    expect(formatDuration(3_600_000, ["ms", "s", "m", "h", "d"])).toBe("1h");
    expect(formatDuration(1500, ["s", "m", "h", "d"])).toBe("2s");
  });
});

describe("config trees", () => {
  it("never reads outside the repository", async () => {
    const root = await mkdtemp(join(tmpdir(), "pf-tree-"));
    await mkdir(join(root, "repo"));
    await writeFile(join(root, "secret.txt"), "outside");
    await writeFile(join(root, "repo", "in.txt"), "inside");
    const tree = new DirectoryTree(join(root, "repo"));
    expect(await tree.read("in.txt")).toBe("inside");
    expect(await tree.read("../secret.txt")).toBeUndefined();
    expect(await tree.read(join(root, "secret.txt"))).toBeUndefined();
    expect(await new MemoryTree({ "a/../b": "x" }).read("a/../b")).toBeUndefined();
  });

  it("formats issues as file:line:column: severity[rule]: message", () => {
    expect(formatIssue({ severity: "error", file: "f.yaml", line: 3, column: 7, rule: "cidr", message: "bad" })).toBe("f.yaml:3:7: error[cidr]: bad");
  });
});

describe("private addresses (what NLB IP targets may be)", () => {
  it("knows RFC 1918, RFC 6598 and IPv6 ULA, and their edges", async () => {
    const { isPrivateAddress } = await import("../../functions/fleet/net.ts");
    for (const yes of ["10.0.0.0", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1", "100.127.255.255", "fd00::1", "fc00::"]) {
      expect(isPrivateAddress(yes), yes).toBe(true);
    }
    for (const no of ["9.255.255.255", "11.0.0.0", "172.15.255.255", "172.32.0.0", "192.169.0.1", "100.63.255.255", "100.128.0.0", "8.8.8.8", "2001:db8::1", "fe80::1"]) {
      expect(isPrivateAddress(no), no).toBe(false);
    }
  });
});

describe("what validate accepts that it used to refuse", () => {
  const squid = (extra: string, list = "example.com\n") => new MemoryTree({
    "fleet.yaml": `version: 1\nservices:\n  egress:\n    kind: squid\n    allowlist: allow.txt\n    allowedSources: [10.0.0.0/8]\n${extra}`,
    "allow.txt": list,
  });

  it("takes 443-443 as a one-port range", async () => {
    const result = await loadFleet(squid("    connectPorts: [443-443]\n"));
    expect(result.ok && result.model.services[0]).toMatchObject({ connectPorts: ["443-443"] });
  });

  // https://docs.strongswan.org/docs/latest/config/proposals.html (keywords) and `swanctl --list-algs` of a charon with the project's plugins (5.9.8:
  // AES_CTR, AES_CCM_8/12/16, AES_GCM_8/12/16, CHACHA20_POLY1305, ECP_192/224, ECP_*_BP, CURVE_25519/448).
  it("accepts every algorithm the project's charon offers", async () => {
    const proposal = "{ encryption: [aes128ctr, aes256ccm12, aes128gcm8, aes192gcm12, chacha20poly1305, camellia256], dhGroups: [ecp192, ecp224, ecp224bp, ecp256bp, ecp384bp, ecp512bp, curve25519, curve448, modp2048s256] }";
    const result = await loadFleet(new MemoryTree({ "fleet.yaml": `version: 1
services:
  v:
    kind: strongswan
    connections:
      - name: dc
        psk: { ssmParameter: /p }
        local: { subnets: [10.0.0.0/16] }
        remote: { addresses: [192.0.2.1, 192.0.2.2], id: gw.example.com, subnets: [192.168.0.0/24] }
        ike: ${proposal}
        esp: ${proposal}
` }));
    expect(result.ok, JSON.stringify(!result.ok && result.errors)).toBe(true);
  });

  it("warns (without failing) when a suffix opens a whole storage service, and fleet validate prints it with file:line", async () => {
    const list = "example.com\n.s3.amazonaws.com\n.blob.core.windows.net\n.storage.googleapis.com\n.s3.eu-west-1.amazonaws.com\nmybucket.s3.amazonaws.com\n";
    const result = await loadFleet(squid("", list));
    expect(result.ok).toBe(true);
    expect(result.warnings.map((w) => `${w.file}:${w.line} ${w.rule}`)).toEqual([
      "allow.txt:2 allowlist-storage", "allow.txt:3 allowlist-storage", "allow.txt:4 allowlist-storage", "allow.txt:5 allowlist-storage",
      "allow.txt:6 allowlist-redundant",
    ]);
    expect(parseAllowlist(".amazonaws.com\n").problems.map((p) => p.rule)).toEqual(["allowlist-storage"]);
    expect(parseAllowlist("sts.amazonaws.com\n.example.com\n").problems).toEqual([]);
    const repo = await mkdtemp(join(tmpdir(), "pf-storage-"));
    await writeTree(repo, { "fleet.yaml": (await squid("").read("fleet.yaml"))!, "allow.txt": list });
    const err: string[] = [];
    expect(await main(["validate", repo], { out: () => undefined, err: (text) => err.push(text) })).toBe(0);
    expect(err.join("")).toContain(`${join(repo, "allow.txt")}:2:1: warning[allowlist-storage]: ".s3.amazonaws.com" allows every S3 bucket`);
  });
});

describe("symbolic links", () => {
  it("are refused wherever they point, named at the line that references them", async () => {
    const root = await mkdtemp(join(tmpdir(), "pf-link-"));
    await writeFile(join(root, "outside.txt"), "example.com\n");
    const repo = join(root, "repo");
    await writeTree(repo, {
      "fleet.yaml": "version: 1\nservices:\n  a:\n    kind: squid\n    allowlist: out.txt\n    allowedSources: [10.0.0.0/8]\n  b:\n    kind: squid\n    port: 3129\n    allowlist: in.txt\n    allowedSources: [10.0.0.0/8]\n",
      "real.txt": "example.com\n",
    });
    await symlink(join(root, "outside.txt"), join(repo, "out.txt"));
    await symlink("real.txt", join(repo, "in.txt"));
    const result = await loadFleet(new DirectoryTree(repo));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => `${e.file}:${e.line} ${e.rule}`)).toEqual(["fleet.yaml:5 symlink", "fleet.yaml:10 symlink"]);
    expect(result.errors[0]!.message).toContain("out.txt is a symbolic link");
  });
});

describe("fleet local runs every service on 127.0.0.1", () => {
  it("names both services that would share a port there", async () => {
    const model = await loadOrThrow({
      "fleet.yaml": `version: 1
services:
  a: { kind: haproxy, listeners: [{ name: l, port: 3128, backends: [{ host: 10.0.0.1, port: 1 }] }] }
  b: { kind: squid, allowlist: allow.txt, allowedSources: [10.0.0.0/8] }
  c: { kind: haproxy, listeners: [{ name: l, port: 80, backends: [{ host: 10.0.0.1, port: 1 }] }] }
`,
      "allow.txt": "example.com\n",
    });
    expect(localPortClashes(model.services, 10000)).toEqual([
      "services a and b both listen on port 13128; fleet local runs every service on 127.0.0.1, so run one of them at a time (or give it another port)",
    ]);
    expect(localPortClashes((await loadExample()).services)).toEqual([]);
  });
});
