// Squid: an explicit egress proxy that tunnels (CONNECT) only to allowlisted domains on allowed ports,
// from allowed client networks, caches nothing and denies everything else.
import type { ServiceModelOf } from "../fleet/load.ts";
import { HEADER, hostPort, logPath, type RenderContext } from "./context.ts";

type Squid = ServiceModelOf<"squid">;

const ports = (list: ReadonlyArray<number | string>) => list.map(String).join(" ");

/**
 * Destinations no allowlisted name may lead to, whatever DNS says (a rebinding path to the task's AWS
 * credentials): loopback, "this network", link-local (instance metadata 169.254.169.254, ECS credentials
 * 169.254.170.2), the EC2 IPv6 metadata address, unspecified, multicast and broadcast.
 */
export const FORBIDDEN_DESTINATIONS = [
  "0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "255.255.255.255/32",
  "::/128", "::1/128", "fe80::/10", "fd00:ec2::254/128", "ff00::/8",
] as const;

/** The external ACL helper that reads the VPC endpoint id from the PROXY v2 AWS TLV. */
export const ENDPOINT_HELPER_FILE = "vpce-id-helper.sh";

/**
 * Squid hands the helper one line per lookup: the AWS TLV (type 234 = 0xEA) URL-encoded, its first byte the
 * subtype 0x01 (VPC endpoint id), then the ACL's arguments. "any" answers whether a connection came through
 * an endpoint at all; otherwise OK means the id is one of the arguments.
 */
const ENDPOINT_HELPER = `#!/bin/sh
# proxy-fleet: answers Squid's external ACL lookups on the PROXY v2 VPC endpoint id. Generated; do not edit.
while read -r tlv allowed; do
  case "$tlv" in
    %01vpce-*) id=\${tlv#%01} ;;
    *) echo ERR; continue ;;
  esac
  answer=ERR
  for entry in $allowed; do
    if [ "$entry" = any ] || [ "$entry" = "$id" ]; then answer=OK; fi
  done
  echo "$answer"
done
`;

export function renderSquid(service: Squid, ctx: RenderContext): Record<string, string> {
  const senders = ctx.proxyProtocolFrom;
  const endpoints = service.allowedEndpoints ?? [];
  const listen = ctx.listenAddress ? hostPort(ctx.listenAddress, service.port) : String(service.port);
  const lines = [
    HEADER(service.name, "squid"),
    `http_port ${listen}${senders ? " require-proxy-header" : ""}`,
    "",
    `acl allowed_sources src ${service.allowedSources.join(" ")}`,
    // -n: match the requested name only; never reverse-resolve an IP literal into an allowed name.
    `acl allowed_domains dstdomain -n "${ctx.bundleDir}/allowlist.txt"`,
    `acl forbidden_destinations dst ${FORBIDDEN_DESTINATIONS.join(" ")}`,
    `acl connect_ports port ${ports(service.connectPorts)}`,
    ...(service.httpPorts.length > 0 ? [`acl http_ports port ${ports(service.httpPorts)}`] : []),
    "acl CONNECT method CONNECT",
    ...(senders
      ? [
          // Only the load balancer may state who the client is; any other sender's connection is closed.
          `acl proxy_protocol_senders src ${senders.join(" ")}`,
          "proxy_protocol_access allow proxy_protocol_senders",
          "proxy_protocol_access deny all",
        ]
      : []),
    ...(endpoints.length > 0
      ? [
          `external_acl_type vpce_id ttl=0 negative_ttl=0 children-max=2 %proxy_protocol::>h{234} /bin/sh ${ctx.bundleDir}/${ENDPOINT_HELPER_FILE}`,
          "acl via_endpoint external vpce_id any",
          `acl allowed_endpoints external vpce_id ${endpoints.join(" ")}`,
        ]
      : []),
    "",
    // Through PrivateLink the client address is the consumer's own (often overlapping ours), so a connection
    // that came through a VPC endpoint is judged by its endpoint id alone; others by their source address.
    ...(endpoints.length > 0
      ? ["http_access deny via_endpoint !allowed_endpoints", "http_access deny !via_endpoint !allowed_sources"]
      : ["http_access deny !allowed_sources"]),
    "http_access deny CONNECT !connect_ports",
    // The destination check comes last on the line: only an allowlisted name is ever looked up.
    "http_access allow CONNECT allowed_domains !forbidden_destinations",
    ...(service.httpPorts.length > 0 ? ["http_access allow !CONNECT http_ports allowed_domains !forbidden_destinations"] : []),
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
    ...(endpoints.length > 0 ? { [ENDPOINT_HELPER_FILE]: ENDPOINT_HELPER } : {}),
  };
}
