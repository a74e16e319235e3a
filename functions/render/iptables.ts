// iptables rules for the strongSwan host: forwarding filter, DNAT port forwards and MASQUERADE.
// Only proxy-fleet's own chains are written (iptables-restore --noflush), so rules other software
// keeps on the host (the ECS agent's, Docker's) are never touched. Hostname endpoints are expanded
// from the DNS loop's resolved targets; a hostname with no addresses yet only mutes its own rule.
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
    for (const host of [...from.unresolved, ...to.unresolved]) notes.push(`# ${rule.name}: ${host} has no IPv4 address yet`);

    for (const source of from.addresses) {
      for (const destination of to.addresses) {
        for (const match of matches(rule)) {
          forward.push(`-A ${CHAINS.forward} -s ${source} -d ${destination}${match}${comment} -j ACCEPT`);
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
            forward.push(
              `-A ${CHAINS.forward} -s ${source} -d ${target}/32 -p ${protocol} --dport ${destinationPort}` +
                ` -m conntrack --ctstate DNAT${comment} -j ACCEPT`,
            );
          });
        }
      }
    }
  }
  if (service.defaultForward === "drop") forward.push(`-A ${CHAINS.forward} -j DROP`);

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
