// A bundle is everything one service's data plane needs, as files, plus a content hash over them.
// The hash names the bundle in S3 and pins it in the task definition, so it covers every byte.
import { createHash } from "node:crypto";
import type { FleetModel, ServiceModel } from "../fleet/load.ts";
import { compareText, CONTAINER_CONTEXT, type RenderContext } from "./context.ts";
import { renderHaproxy } from "./haproxy.ts";
import { renderIptables, renderIptablesHooks } from "./iptables.ts";
import { renderNginx } from "./nginx.ts";
import { renderSquid } from "./squid.ts";
import { renderSwanctl } from "./strongswan.ts";

export interface Bundle {
  readonly service: string;
  readonly kind: ServiceModel["kind"];
  /** File name → content, in sorted order. */
  readonly files: Readonly<Record<string, string>>;
  /** "sha256:<hex>" over every file name and content. */
  readonly hash: string;
}

export interface Manifest {
  readonly services: Readonly<Record<string, { kind: ServiceModel["kind"]; hash: string; files: string[] }>>;
}

export const MODEL_FILE = "service.json";

export function renderFiles(service: ServiceModel, ctx: RenderContext): Record<string, string> {
  switch (service.kind) {
    case "haproxy": return renderHaproxy(service, ctx);
    case "nginx": return renderNginx(service, ctx);
    case "squid": return renderSquid(service, ctx);
    case "strongswan":
      return { ...renderSwanctl(service, ctx), "iptables.rules": renderIptables(service, ctx), "iptables.hooks": renderIptablesHooks() };
  }
}

/** The bundle as shipped: rendered for the container's paths, with the model so the agent can re-render live. */
export function renderBundle(service: ServiceModel, ctx: RenderContext = CONTAINER_CONTEXT): Bundle {
  const files = { ...renderFiles(service, ctx), [MODEL_FILE]: canonicalJson(service) };
  const sorted = Object.fromEntries(Object.entries(files).sort(([a], [b]) => compareText(a, b)));
  return { service: service.name, kind: service.kind, files: sorted, hash: hashFiles(sorted) };
}

export function renderFleet(model: FleetModel, ctx: RenderContext = CONTAINER_CONTEXT): { bundles: Bundle[]; manifest: Manifest } {
  const bundles = model.services.map((service) => renderBundle(service, ctx));
  const manifest: Manifest = {
    services: Object.fromEntries(
      bundles.map((b) => [b.service, { kind: b.kind, hash: b.hash, files: Object.keys(b.files) }]),
    ),
  };
  return { bundles, manifest };
}

export function hashFiles(files: Readonly<Record<string, string>>): string {
  const hash = createHash("sha256");
  for (const name of Object.keys(files).sort(compareText)) {
    const content = Buffer.from(files[name]!, "utf8");
    // Length-prefixed, so no two different file sets can serialize to the same bytes.
    hash.update(`${Buffer.byteLength(name)}:${name}\n${content.length}:`);
    hash.update(content);
    hash.update("\n");
  }
  return `sha256:${hash.digest("hex")}`;
}

/** JSON with object keys sorted, so equal models serialize to equal bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2) + "\n";
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => compareText(a, b))
        .map(([k, v]) => [k, sortKeys(v)]),
    );
  }
  return value;
}
