// Squid: an explicit egress proxy that tunnels (CONNECT) only to allowlisted domains on allowed ports,
// from allowed client networks, caches nothing and denies everything else.
import type { ServiceModelOf } from "../fleet/load.ts";
import { HEADER, hostPort, logPath, type RenderContext } from "./context.ts";

type Squid = ServiceModelOf<"squid">;

const ports = (list: ReadonlyArray<number | string>) => list.map(String).join(" ");

export function renderSquid(service: Squid, ctx: RenderContext): Record<string, string> {
  const lines = [
    HEADER(service.name, "squid"),
    `http_port ${ctx.listenAddress ? hostPort(ctx.listenAddress, service.port) : service.port}`,
    "",
    `acl allowed_sources src ${service.allowedSources.join(" ")}`,
    // -n: match the requested name only; never reverse-resolve an IP literal into an allowed name.
    `acl allowed_domains dstdomain -n "${ctx.bundleDir}/allowlist.txt"`,
    `acl connect_ports port ${ports(service.connectPorts)}`,
    ...(service.httpPorts.length > 0 ? [`acl http_ports port ${ports(service.httpPorts)}`] : []),
    "acl CONNECT method CONNECT",
    "",
    "http_access deny !allowed_sources",
    "http_access deny CONNECT !connect_ports",
    "http_access allow CONNECT allowed_domains",
    ...(service.httpPorts.length > 0 ? ["http_access allow !CONNECT http_ports allowed_domains"] : []),
    "http_access deny all",
    "",
    "cache deny all",
    "cache_mem 0 MB",
    "forwarded_for delete",
    "httpd_suppress_version_string on",
    "shutdown_lifetime 3 seconds",
    "",
    `pid_filename ${ctx.runDir}/squid.pid`,
    `coredump_dir ${ctx.runDir}`,
    `cache_log ${logPath(ctx, "squid-cache.log", "stderr")}`,
    `access_log stdio:${logPath(ctx, "squid-access.log", "stdout")} squid`,
    "logfile_rotate 0",
    ...(service.dnsNameservers.length > 0 ? [`dns_nameservers ${service.dnsNameservers.join(" ")}`] : []),
    ...(ctx.squidHostsFile
      ? [
          `hosts_file ${ctx.squidHostsFile}`,
          // DNS sockets stay on loopback when a hosts file stands in for DNS.
          "udp_incoming_address 127.0.0.1",
          "udp_outgoing_address 127.0.0.1",
        ]
      : []),
  ];
  return {
    "squid.conf": lines.join("\n") + "\n",
    "allowlist.txt": service.allowlistEntries.join("\n") + "\n",
  };
}
