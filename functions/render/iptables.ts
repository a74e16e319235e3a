// iptables rules for the strongSwan host: forwarding filter, DNAT port forwards and MASQUERADE.
// Only proxy-fleet's own chains are written (iptables-restore --noflush), so rules other software
// keeps on the host (the ECS agent's, Docker's) are never touched. Hostname endpoints are expanded
// from the DNS loop's resolved targets; a hostname with no addresses yet only mutes its own rule.
import { createHash } from "node:crypto";
import { isIPv4 } from "../fleet/net.ts";
import type { ServiceModelOf } from "../fleet/load.ts";
import type { StrongswanRuleConfig } from "../fleet/schema.ts";
import { sortedUnique, type RenderContext } from "./context.ts";

type Strongswan = ServiceModelOf<"strongswan">;

export const CHAINS = { forward: "PF-FORWARD", prerouting: "PF-PREROUTING", postrouting: "PF-POSTROUTING" } as const;

/** Jumps from the built-in chains into ours; installed once, idempotently, before the first restore. */
export const HOOKS = [
  { table: "filter", chain: "FORWARD", target: CHAINS.forward },
  { table: "nat", chain: "PREROUTING", target: CHAINS.prerouting },
  { table: "nat", chain: "POSTROUTING", target: CHAINS.postrouting },
] as const;

const MULTIPORT_SLOTS = 15;

/** iptables-extensions(8), LOG: "--log-prefix prefix … up to 29 letters long". */
const LOG_PREFIX_MAX = 29;

/**
 * The LOG prefix naming a rule: "pf:<rule> " (kernel log lines start with it). A name too long for the 29
 * characters keeps its start and gets a short hash of the whole name, so two long names never share a prefix.
 * Rule names are lowercase; the default drop logs as "pf:DROP ", which no rule name can be.
 */
export function logPrefix(ruleName: string): string {
  const room = LOG_PREFIX_MAX - "pf: ".length;
  const label = ruleName.length <= room ? ruleName : `${ruleName.slice(0, room - 5)}~${createHash("sha256").update(ruleName).digest("hex").slice(0, 4)}`;
  return `pf:${label} `;
}

/**
 * New connections only (conntrack NEW: a connection's first packet), and at most 10 a second with bursts of
 * 50 (iptables-extensions(8), limit), so a scan cannot flood the host's kernel log.
 */
const LOG_MATCH = " -m conntrack --ctstate NEW -m limit --limit 10/second --limit-burst 50";

interface Expanded {
  readonly addresses: string[];
  readonly unresolved: string[];
}

function expand(endpoints: readonly string[], ctx: RenderContext): Expanded {
  const addresses: string[] = [];
  const unresolved: string[] = [];
  for (const endpoint of endpoints) {
    if (endpoint.includes("/")) {
      if (isIPv4(endpoint.split("/")[0]!)) addresses.push(endpoint);
      continue;
    }
    const resolved = (ctx.targets[endpoint] ?? []).filter((a) => isIPv4(a));
    if (resolved.length === 0) unresolved.push(endpoint);
    addresses.push(...resolved.map((a) => `${a}/32`));
  }
  return { addresses: sortedUnique(addresses), unresolved };
}

/** multiport takes 15 slots a rule; a range takes two. */
function portChunks(ports: ReadonlyArray<number | string>): string[] {
  const chunks: string[][] = [];
  let current: string[] = [];
  let used = 0;
  for (const port of ports) {
    const text = String(port).replace("-", ":");
    const cost = text.includes(":") ? 2 : 1;
    if (used + cost > MULTIPORT_SLOTS) {
      chunks.push(current);
      current = [];
      used = 0;
    }
    current.push(text);
    used += cost;
  }
  if (current.length) chunks.push(current);
  return chunks.map((chunk) => chunk.join(","));
}

function matches(rule: StrongswanRuleConfig): string[] {
  const protocols = rule.protocols.includes("all") ? ["all"] : rule.protocols;
  return protocols.flatMap((protocol) => {
    if (protocol === "all") return [""];
    if (protocol === "icmp" || rule.ports === "all") return [` -p ${protocol}`];
    return portChunks(rule.ports).map((chunk) => ` -p ${protocol} -m multiport --dports ${chunk}`);
  });
}

export function renderIptables(service: Strongswan, ctx: RenderContext): string {
  const forward: string[] = [`-A ${CHAINS.forward} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`];
  const prerouting: string[] = [];
  const postrouting: string[] = [];
  const notes: string[] = [];

  for (const rule of service.rules) {
    const from = expand(rule.from, ctx);
    const to = expand(rule.to, ctx);
    const comment = ` -m comment --comment ${rule.name}`;
    // A logged rule's accept is preceded by the same match logging the connection's first packet.
    const accept = (match: string) => {
      if (rule.log) forward.push(`-A ${CHAINS.forward}${match}${LOG_MATCH}${comment} -j LOG --log-prefix "${logPrefix(rule.name)}"`);
      forward.push(`-A ${CHAINS.forward}${match}${comment} -j ACCEPT`);
    };
    for (const host of [...from.unresolved, ...to.unresolved]) notes.push(`# ${rule.name}: ${host} has no IPv4 address yet`);

    for (const source of from.addresses) {
      for (const destination of to.addresses) {
        for (const match of matches(rule)) {
          accept(` -s ${source} -d ${destination}${match}`);
        }
        // Masquerade only what the rule forwards: its own protocols and ports.
        if (rule.masquerade) {
          for (const match of matches(rule)) {
            postrouting.push(`-A ${CHAINS.postrouting} -s ${source} -d ${destination}${match}${comment} -j MASQUERADE`);
          }
        }
      }
    }

    const forwards = Object.entries(rule.portForward ?? {}).sort(([a], [b]) => Number(a) - Number(b));
    const protocols = rule.protocols.filter((p) => p === "tcp" || p === "udp");
    for (const [destinationPort, sourcePort] of forwards) {
      for (const protocol of protocols) {
        for (const source of from.addresses) {
          const targets = to.addresses.map((a) => a.replace(/\/32$/, ""));
          targets.forEach((target, i) => {
            // Spread new connections over every address the name resolves to.
            const remaining = targets.length - i;
            const spread = remaining > 1 ? ` -m statistic --mode nth --every ${remaining} --packet 0` : "";
            prerouting.push(
              `-A ${CHAINS.prerouting} -s ${source} -p ${protocol} -m addrtype --dst-type LOCAL --dport ${sourcePort}${spread}` +
                `${comment} -j DNAT --to-destination ${target}:${destinationPort}`,
            );
            accept(` -s ${source} -d ${target}/32 -p ${protocol} --dport ${destinationPort} -m conntrack --ctstate DNAT`);
          });
        }
      }
    }
  }
  if (service.defaultForward === "drop") {
    if (service.rules.some((rule) => rule.log)) forward.push(`-A ${CHAINS.forward}${LOG_MATCH} -j LOG --log-prefix "pf:DROP "`);
    forward.push(`-A ${CHAINS.forward} -j DROP`);
  }

  return [
    `# proxy-fleet: iptables rules for "${service.name}". Load with iptables-restore --noflush.`,
    ...notes,
    "*filter",
    `:${CHAINS.forward} - [0:0]`,
    ...forward,
    "COMMIT",
    "*nat",
    `:${CHAINS.prerouting} - [0:0]`,
    `:${CHAINS.postrouting} - [0:0]`,
    ...prerouting,
    ...postrouting,
    "COMMIT",
    "",
  ].join("\n");
}

export function renderIptablesHooks(): string {
  return HOOKS.map((hook) => `${hook.table} ${hook.chain} ${hook.target}`).join("\n") + "\n";
}
