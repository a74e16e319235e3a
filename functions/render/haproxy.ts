// HAProxy: one frontend/backend pair per TCP listener. Hostnames are resolved by the DNS loop, not by
// HAProxy, so a failed lookup never stops the daemon: unresolved servers start without an address.
import { durationMs, formatDuration } from "../fleet/duration.ts";
import { isIpAddress } from "../fleet/net.ts";
import type { ServiceModelOf } from "../fleet/load.ts";
import { HEADER, hostPort, sortedUnique, type RenderContext } from "./context.ts";

type Haproxy = ServiceModelOf<"haproxy">;
type Listener = Haproxy["listeners"][number];

const time = (text: string) => formatDuration(durationMs(text), ["ms", "s", "m", "h", "d"]);

export function renderHaproxy(service: Haproxy, ctx: RenderContext): Record<string, string> {
  const files: Record<string, string> = {};
  const lines = [
    HEADER(service.name, "haproxy"),
    "global",
    "    log stdout format raw local0 info",
    `    stats socket ${ctx.runDir}/haproxy.sock mode 600 level admin expose-fd listeners`,
    "    hard-stop-after 30s",
    "",
    "defaults",
    "    mode tcp",
    "    log global",
    "    option tcplog",
    "    option dontlognull",
    "    timeout connect 5s",
    "    timeout client 1h",
    "    timeout server 1h",
  ];
  for (const listener of service.listeners) {
    const sourcesFile = `sources-${listener.name}.lst`;
    if (listener.allowedSources.length > 0) files[sourcesFile] = listener.allowedSources.join("\n") + "\n";
    lines.push("", ...frontend(listener, ctx, listener.allowedSources.length > 0 ? `${ctx.bundleDir}/${sourcesFile}` : undefined));
    lines.push("", ...backend(listener, ctx));
  }
  files["haproxy.cfg"] = lines.join("\n") + "\n";
  return files;
}

/**
 * Behind the NLB (ctx.proxyProtocolFrom) every bind requires a PROXY header. HAProxy's "tcp-request connection"
 * rules still see the sender (the NLB), so they admit only its subnets; "tcp-request session" rules run after
 * the header is read and see the real client, so the allowlist moves there.
 */
function frontend(listener: Listener, ctx: RenderContext, sourcesPath: string | undefined): string[] {
  const senders = ctx.proxyProtocolFrom;
  const bind = ctx.listenAddress ? hostPort(ctx.listenAddress, listener.port) : `:${listener.port}`;
  return [
    `frontend ${listener.name}`,
    `    bind ${bind}${senders ? " accept-proxy" : ""}`,
    ...(listener.maxConnections ? [`    maxconn ${listener.maxConnections}`] : []),
    `    timeout client ${time(listener.timeouts.client)}`,
    ...(senders ? [`    tcp-request connection reject unless { src ${senders.join(" ")} }`] : []),
    ...(sourcesPath ? [`    tcp-request ${senders ? "session" : "connection"} reject unless { src -f ${sourcesPath} }`] : []),
    `    default_backend ${listener.name}`,
  ];
}

function backend(listener: Listener, ctx: RenderContext): string[] {
  const check = listener.healthCheck;
  const lines = [
    `backend ${listener.name}`,
    `    balance ${listener.balance}`,
    `    timeout connect ${time(listener.timeouts.connect)}`,
    `    timeout server ${time(listener.timeouts.server)}`,
    `    default-server inter ${time(check.interval)} rise ${check.rise} fall ${check.fall}`,
  ];
  const checkFlag = check.enabled ? " check" : "";
  for (const target of listener.backends) {
    if (isIpAddress(target.host)) {
      lines.push(`    server ${target.host}_${target.port} ${hostPort(target.host, target.port)}${checkFlag}`);
      continue;
    }
    const addresses = sortedUnique(ctx.targets[target.host] ?? []);
    if (addresses.length === 0) {
      // Not resolved yet: keep the server, in maintenance, until the DNS loop supplies addresses.
      lines.push(`    server ${target.host}_${target.port} ${hostPort(target.host, target.port)}${checkFlag} init-addr none`);
      continue;
    }
    for (const address of addresses) {
      lines.push(`    server ${target.host}_${address}_${target.port} ${hostPort(address, target.port)}${checkFlag}`);
    }
  }
  return lines;
}
