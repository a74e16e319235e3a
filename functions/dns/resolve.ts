// Asking DNS: what one lookup of one name saw. Uses Node's c-ares resolver, which returns every record
// with its TTL (no 8-record cap) and retries over TCP when a UDP answer comes back truncated.
import { Resolver } from "node:dns/promises";

export type Family = 4 | 6;

export type Observation =
  | { readonly kind: "answer"; readonly addresses: readonly string[]; readonly ttlSeconds: number }
  /** The name does not exist. Counts as a miss, never as an instant wipe. */
  | { readonly kind: "nxdomain" }
  /** The name exists but has no records of this family (an empty answer). Also a miss. */
  | { readonly kind: "nodata" }
  /** No usable answer (timeout, SERVFAIL, REFUSED, truncated then failed): the last known good stands. */
  | { readonly kind: "failure"; readonly reason: FailureReason; readonly detail: string };

export type FailureReason =
  | "timeout" | "servfail" | "refused" | "unreachable" | "bad-response" | "other"
  /** Reading the hosted zone: Route 53 throttled the call (after the SDK's retries), or it failed otherwise. */
  | "throttled" | "zone-api";

export interface DnsClient {
  lookup(name: string, family: Family): Promise<Observation>;
}

export interface ResolverOptions {
  /** "10.0.0.2", "127.0.0.1:5353" or "[::1]:53". */
  readonly servers: readonly string[];
  readonly timeoutMs: number;
  /** Attempts per server before giving up. */
  readonly tries?: number;
}

const FAILURES: Record<string, FailureReason> = {
  ETIMEOUT: "timeout",
  ESERVFAIL: "servfail",
  EREFUSED: "refused",
  ECONNREFUSED: "unreachable",
  EBADRESP: "bad-response",
  EFORMERR: "bad-response",
};

export function createDnsClient(options: ResolverOptions): DnsClient {
  const resolver = new Resolver({ timeout: options.timeoutMs, tries: options.tries ?? 2 });
  resolver.setServers([...options.servers]);
  return {
    async lookup(name, family) {
      try {
        const records = family === 4 ? await resolver.resolve4(name, { ttl: true }) : await resolver.resolve6(name, { ttl: true });
        if (records.length === 0) return { kind: "nodata" };
        return {
          kind: "answer",
          addresses: [...new Set(records.map((r) => r.address))].sort(),
          ttlSeconds: Math.min(...records.map((r) => r.ttl)),
        };
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? "";
        if (code === "ENOTFOUND") return { kind: "nxdomain" };
        if (code === "ENODATA") return { kind: "nodata" };
        return { kind: "failure", reason: FAILURES[code] ?? "other", detail: code || String(error) };
      }
    },
  };
}
