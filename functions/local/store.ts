// The local config bucket: bundles stored by content hash (write-once) and the accepted snapshots (current and
// per commit), as files in one folder. It is the rollout loop's BundleStore, the rollout watch's AcceptedStore
// and the DNS loop's AcceptedConfigSource, as the S3 bucket is in AWS.
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { AcceptedConfigSource, AcceptedSnapshot } from "../dns/ports.ts";
import { canonicalJson, type Bundle } from "../render/bundle.ts";
import type { AcceptedStore, BundleStore } from "../rollout/ports.ts";

export class LocalBundleStore implements BundleStore, AcceptedStore, AcceptedConfigSource {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /** Returns the bundle's key: `bundles/<service>/<hex of its hash>.json`. */
  async putBundle(bundle: Bundle): Promise<string> {
    const key = `bundles/${bundle.service}/${bundle.hash.replace(/^sha256:/, "")}.json`;
    if (!(await this.readText(key))) await this.writeAtomically(key, canonicalJson(bundle));
    return key;
  }

  async getBundle(key: string): Promise<Bundle> {
    const text = await this.readText(key);
    if (!text) throw new Error(`bundle ${key} is not in ${this.dir}`);
    return JSON.parse(text) as Bundle;
  }

  async putAccepted(snapshot: AcceptedSnapshot): Promise<void> {
    await this.writeAtomically(`accepted/${snapshot.commit}.json`, canonicalJson(snapshot));
    await this.writeAtomically("accepted/current.json", canonicalJson(snapshot));
  }

  async load(): Promise<AcceptedSnapshot | undefined> {
    return (await this.current())?.snapshot;
  }

  async current(): Promise<{ snapshot: AcceptedSnapshot; token: string } | undefined> {
    const text = await this.readText("accepted/current.json");
    return text ? { snapshot: JSON.parse(text) as AcceptedSnapshot, token: tokenOf(text) } : undefined;
  }

  async atCommit(commit: string): Promise<AcceptedSnapshot | undefined> {
    if (!/^[0-9a-f]{4,64}$/.test(commit)) return undefined;
    const text = await this.readText(`accepted/${commit}.json`);
    return text ? (JSON.parse(text) as AcceptedSnapshot) : undefined;
  }

  /** Conditional on the content read: one process writes this folder, so compare-and-swap needs no lock. */
  async replaceCurrent(snapshot: AcceptedSnapshot, token: string): Promise<boolean> {
    const text = await this.readText("accepted/current.json");
    if (!text || tokenOf(text) !== token) return false;
    await this.writeAtomically("accepted/current.json", canonicalJson(snapshot));
    return true;
  }

  private async readText(key: string): Promise<string | undefined> {
    try {
      return await readFile(join(this.dir, key), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  private async writeAtomically(key: string, text: string): Promise<void> {
    const path = join(this.dir, key);
    await mkdir(join(path, ".."), { recursive: true });
    await writeFile(`${path}.tmp`, text);
    await rename(`${path}.tmp`, path);
  }
}

function tokenOf(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
