// The ports a service listens on, wherever they are needed: load balancer listeners, the local fleet.
import type { ServiceModel } from "./load.ts";

/** The config agent's health endpoint, in every proxy task next to the daemon. One place for stacks, agent and checks. */
export const AGENT_HEALTH_PORT = 8081;

/** IKE and NAT-T (udp): charon listens on them on every strongSwan host. */
export const IKE_PORTS: readonly number[] = [500, 4500];

/**
 * `fleet local` runs every haproxy, nginx and squid service on 127.0.0.1 (ports moved by one offset), where
 * deployed services each have a host of their own: a port two services share would clash only there.
 * Returns one sentence per clash, naming both services.
 */
export function localPortClashes(services: readonly ServiceModel[], offset = 0): string[] {
  const owners = new Map<number, string>();
  const clashes: string[] = [];
  for (const service of services) {
    for (const port of listenPorts(service)) {
      const owner = owners.get(port);
      if (owner !== undefined && owner !== service.name) {
        clashes.push(`services ${owner} and ${service.name} both listen on port ${port + offset}; fleet local runs every service on 127.0.0.1, so run one of them at a time (or give it another port)`);
      } else {
        owners.set(port, service.name);
      }
    }
  }
  return clashes;
}

export function listenPorts(service: ServiceModel): number[] {
  switch (service.kind) {
    case "haproxy": return service.listeners.map((l) => l.port);
    case "nginx": return [...service.tls, ...service.http].map((l) => l.port);
    case "squid": return [service.port];
    case "strongswan": return [];
  }
}

/** The model with every listen port moved by `offset`. */
export function shiftPorts(service: ServiceModel, offset: number): ServiceModel {
  switch (service.kind) {
    case "haproxy": return { ...service, listeners: service.listeners.map((l) => ({ ...l, port: l.port + offset })) };
    case "nginx": return {
      ...service,
      tls: service.tls.map((l) => ({ ...l, port: l.port + offset })),
      http: service.http.map((l) => ({ ...l, port: l.port + offset })),
    };
    case "squid": return { ...service, port: service.port + offset };
    case "strongswan": return service;
  }
}
