// NGINX: TLS passthrough routed by SNI (stream + ssl_preread) and HTTP routed by Host, both optionally
// behind PROXY protocol v2 from the NLB, so allow/deny sees the real client address.
import { durationMs, formatDuration } from "../fleet/duration.ts";
import type { ServiceModelOf } from "../fleet/load.ts";
import { canonicalAddress } from "../fleet/net.ts";
import { HEADER, hostPort, logPath, type RenderContext } from "./context.ts";

type Nginx = ServiceModelOf<"nginx">;
type Route = Nginx["tls"][number]["routes"][number];
type Target = Route["upstream"];

export const NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";

const time = (text: string) => formatDuration(durationMs(text), ["ms", "s", "m", "h", "d"]);

export function renderNginx(service: Nginx, ctx: RenderContext): Record<string, string> {
  const lines = [
    HEADER(service.name, "nginx"),
    `load_module ${NGINX_STREAM_MODULE};`,
    "worker_processes auto;",
    `pid ${ctx.runDir}/nginx.pid;`,
    `error_log ${ctx.logDir ? logPath(ctx, "nginx-error.log", "stderr") : "stderr"} notice;`,
    "",
    "events {",
    "    worker_connections 4096;",
    "}",
  ];
  if (service.tls.length > 0) lines.push("", ...streamBlock(service, ctx));
  if (service.http.length > 0) lines.push("", ...httpBlock(service, ctx));
  return { "nginx.conf": lines.join("\n") + "\n" };
}

/**
 * Who may send PROXY protocol: the deployment's load balancer subnets when it has one (the NLB's subnets are
 * known to the stack, not to the config's author), else the config's own `proxyProtocol` setting.
 */
function proxySenders(service: Nginx, ctx: RenderContext): readonly string[] | undefined {
  if (ctx.proxyProtocolFrom) return ctx.proxyProtocolFrom;
  return service.proxyProtocol?.enabled ? service.proxyProtocol.trustedCidrs : undefined;
}

/** 1 for a connection whose sender (the peer before realip) is not a trusted PROXY protocol sender. */
const UNTRUSTED = "$pf_untrusted_sender";

function untrustedSenderGeo(senders: readonly string[]): string[] {
  return [`geo $realip_remote_addr ${UNTRUSTED} {`, "    default 1;", ...senders.map((c) => `    ${c} 0;`), "}"];
}

function listen(ctx: RenderContext, port: number, service: Nginx): string {
  const address = ctx.listenAddress ? hostPort(ctx.listenAddress, port) : String(port);
  return `listen ${address}${proxySenders(service, ctx) ? " proxy_protocol" : ""};`;
}

function resolver(service: Nginx): string[] {
  const addresses = service.resolver.addresses.map((a) => (a.includes(":") ? `[${canonicalAddress(a)}]` : a)).join(" ");
  return [
    `resolver ${addresses} valid=${time(service.resolver.valid)} ipv6=${service.resolver.ipv6 ? "on" : "off"};`,
    `resolver_timeout ${time(service.resolver.timeout)};`,
  ];
}

/** Deny entries first, then allow entries; with an allow list, everything else is denied. */
function accessRules(service: Nginx, ctx: RenderContext): string[] {
  return [
    ...(proxySenders(service, ctx) ?? []).map((c) => `set_real_ip_from ${c};`),
    ...service.access.deny.map((c) => `deny ${c};`),
    ...service.access.allow.map((c) => `allow ${c};`),
    ...(service.access.allow.length > 0 ? ["deny all;"] : []),
  ];
}

/** `hostnames` lets ".example.com" and "*.example.com" match subdomains; exact names win over wildcards. */
function routeMap(source: string, variable: string, routes: readonly Route[], fallback: string, ctx: RenderContext): string[] {
  return [
    `map ${source} ${variable} {`,
    "    hostnames;",
    `    default ${fallback};`,
    ...routes.map((route) => `    ${route.match} ${target(route.upstream, ctx)};`),
    "}",
  ];
}

/**
 * Where a route goes: an upstream group when the DNS loop has resolved the name (so a change is a hitless
 * reload), else "host:port", which NGINX resolves itself through its resolver.
 */
function target(upstream: Target, ctx: RenderContext): string {
  return resolvedAddresses(upstream, ctx).length > 0 ? upstreamName(upstream) : hostPort(upstream.host, upstream.port);
}

const upstreamName = (upstream: Target) => `up_${upstream.host.replace(/[^a-z0-9]/g, "_")}_${upstream.port}`;

function resolvedAddresses(upstream: Target, ctx: RenderContext): string[] {
  return [...new Set(ctx.targets[upstream.host] ?? [])].sort();
}

/** One upstream group per resolved name and port used by these listeners. */
function upstreamBlocks(listeners: ReadonlyArray<{ routes: readonly Route[]; default?: Target | undefined }>, ctx: RenderContext): string[] {
  const seen = new Map<string, Target>();
  for (const listener of listeners) {
    for (const upstream of [...listener.routes.map((r) => r.upstream), ...(listener.default ? [listener.default] : [])]) {
      if (resolvedAddresses(upstream, ctx).length > 0) seen.set(upstreamName(upstream), upstream);
    }
  }
  return [...seen].sort(([a], [b]) => (a < b ? -1 : 1)).flatMap(([name, upstream]) => [
    "",
    `upstream ${name} {`,
    ...resolvedAddresses(upstream, ctx).map((address) => `    server ${hostPort(address, upstream.port)};`),
    "}",
  ]);
}

function streamBlock(service: Nginx, ctx: RenderContext): string[] {
  const rejectSocket = `unix:${ctx.runDir}/nginx-no-route.sock`;
  const body = [
    ...resolver(service),
    "log_format routed '$remote_addr [$time_local] $protocol $status $ssl_preread_server_name $upstream_addr $bytes_sent $bytes_received $session_time';",
    `access_log ${logPath(ctx, "nginx-stream-access.log", "stdout")} routed;`,
    "",
    "# Connections whose SNI matches no route are closed here.",
    "server {",
    `    listen ${rejectSocket};`,
    "    return \"\";",
    "}",
    ...upstreamBlocks(service.tls, ctx),
  ];
  const senders = proxySenders(service, ctx);
  if (senders) body.push("", ...untrustedSenderGeo(senders));
  for (const listener of service.tls) {
    const routed = `$tls_${listener.port}_upstream`;
    const variable = senders ? `$tls_${listener.port}_target` : routed;
    body.push(
      "",
      ...routeMap("$ssl_preread_server_name", routed, listener.routes, listener.default ? target(listener.default, ctx) : rejectSocket, ctx),
      // A PROXY header from anyone but the load balancer is a forged client address: such connections are closed.
      ...(senders ? ["", `map ${UNTRUSTED} ${variable} {`, `    1 ${rejectSocket};`, `    default ${routed};`, "}"] : []),
      "",
      "server {",
      `    ${listen(ctx, listener.port, service)}`,
      ...accessRules(service, ctx).map((line) => `    ${line}`),
      "    ssl_preread on;",
      `    proxy_connect_timeout ${time(service.connectTimeout)};`,
      `    proxy_pass ${variable};`,
      "}",
    );
  }
  return ["stream {", ...indent(body), "}"];
}

function httpBlock(service: Nginx, ctx: RenderContext): string[] {
  const body = [
    ...resolver(service),
    `client_body_temp_path ${ctx.runDir}/nginx-client-body;`,
    `proxy_temp_path ${ctx.runDir}/nginx-proxy;`,
    `fastcgi_temp_path ${ctx.runDir}/nginx-fastcgi;`,
    `uwsgi_temp_path ${ctx.runDir}/nginx-uwsgi;`,
    `scgi_temp_path ${ctx.runDir}/nginx-scgi;`,
    `access_log ${logPath(ctx, "nginx-http-access.log", "stdout")} combined;`,
    "server_tokens off;",
    // The upstream learns the client only from NGINX: a Forwarded value with IPv6 needs quotes and brackets.
    "map $remote_addr $pf_forwarded {",
    '    ~: "for=\\"[$remote_addr]\\"";',
    '    default "for=$remote_addr";',
    "}",
    ...upstreamBlocks(service.http, ctx),
  ];
  const senders = proxySenders(service, ctx);
  if (senders) body.push("", ...untrustedSenderGeo(senders));
  for (const listener of service.http) {
    const variable = `$http_${listener.port}_upstream`;
    body.push(
      "",
      ...routeMap("$host", variable, listener.routes, listener.default ? target(listener.default, ctx) : '""', ctx),
      "",
      "server {",
      `    ${listen(ctx, listener.port, service)}`,
      ...(senders ? ["    real_ip_header proxy_protocol;", `    if (${UNTRUSTED}) {`, "        return 444;", "    }"] : []),
      ...accessRules(service, ctx).map((line) => `    ${line}`),
      "    location / {",
      `        if (${variable} = "") {`,
      "            return 421;",
      "        }",
      `        proxy_connect_timeout ${time(service.connectTimeout)};`,
      "        proxy_http_version 1.1;",
      '        proxy_set_header Connection "";',
      "        proxy_set_header Host $host;",
      // Whatever the client sent in these headers is replaced: the upstream sees only the address NGINX trusts.
      "        proxy_set_header X-Forwarded-For $remote_addr;",
      "        proxy_set_header X-Real-IP $remote_addr;",
      "        proxy_set_header Forwarded $pf_forwarded;",
      `        proxy_pass http://${variable};`,
      "    }",
      "}",
    );
  }
  return ["http {", ...indent(body), "}"];
}

function indent(lines: string[]): string[] {
  return lines.map((line) => (line === "" ? "" : `    ${line}`));
}
