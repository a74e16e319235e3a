// The ports a service listens on, wherever they are needed: load balancer listeners, the local fleet.
import type { ServiceModel } from "./load.ts";

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
