// DNS for the local fleet: a small authoritative server on 127.0.0.1 answering the local zone (real A/AAAA
// answers with TTLs), and the DNS loop (functions/dns/sync.ts) pointed at it through the resolver it uses in
// AWS. Runtime target documents go to the running generations, which apply them live.
import { createServer as createTcpServer } from "node:net";
import dns2 from "dns2";
import { MemoryDnsState, MemoryLeases, MemoryOwnership, MemoryTargetGroups } from "../dns/memory.ts";
import { LookupSchedule, type AcceptedConfigSource, type DocumentStore } from "../dns/ports.ts";
import { createDnsClient } from "../dns/resolve.ts";
import { syncDns, type SyncPorts, type SyncReport, type SyncRequest } from "../dns/sync.ts";
import type { RuntimeDocument } from "../plan/documents.ts";
import type { ResolvedTargets } from "../render/context.ts";
import type { Zone } from "./hosts.ts";

const { Packet } = dns2;
const RCODE_NXDOMAIN = 3;

interface Question { name: string; type: number }
interface DnsRequest { questions: Question[] }
interface DnsResponse { header: { rcode: number; aa: number }; answers: object[] }

export interface LocalDnsServer {
  /** "127.0.0.1:<port>", as the resolver takes it. */
  readonly address: string;
  readonly port: number;
  setZone(zone: Zone): void;
  close(): Promise<void>;
}

/** Answers A and AAAA from the zone (authoritative, TTLs as written); any other name is NXDOMAIN. */
export async function startLocalDnsServer(zone: Zone, port?: number): Promise<LocalDnsServer> {
  let current = zone;
  const server = dns2.createServer({
    udp: true,
    tcp: true,
    handle: ((request: DnsRequest, send: (response: DnsResponse) => void) => {
      const response = Packet.createResponseFromRequest(request as never) as unknown as DnsResponse;
      response.header.aa = 1;
      const question = request.questions[0];
      const entry = question ? current[question.name.toLowerCase().replace(/\.$/, "")] : undefined;
      if (!question || !entry) {
        response.header.rcode = RCODE_NXDOMAIN;
      } else {
        const v6 = question.type === Packet.TYPE.AAAA;
        for (const address of entry.addresses) {
          if (address.includes(":") !== v6) continue;
          response.answers.push({
            name: question.name, type: v6 ? Packet.TYPE.AAAA : Packet.TYPE.A, class: Packet.CLASS.IN, ttl: entry.ttlSeconds, address,
          });
        }
      }
      send(response);
    }) as never,
  });
  const chosen = port ?? (await freeUdpAndTcpPort());
  await server.listen({ udp: { port: chosen, address: "127.0.0.1" }, tcp: { port: chosen, address: "127.0.0.1" } });
  return {
    address: `127.0.0.1:${chosen}`,
    port: chosen,
    setZone: (zone) => (current = zone),
    close: () => server.close(),
  };
}

/** A port free on TCP (the kernel's pick); UDP on the same number is tried by listen, which fails loudly if taken. */
async function freeUdpAndTcpPort(): Promise<number> {
  const probe = createTcpServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Runtime documents kept in memory and handed to `apply` (the running generations) when one changes. */
export class ApplyingDocuments implements DocumentStore {
  private readonly stored = new Map<string, { hash: string; targets: ResolvedTargets }>();
  private readonly apply: (service: string, targets: ResolvedTargets) => Promise<void>;
  constructor(apply: (service: string, targets: ResolvedTargets) => Promise<void>) {
    this.apply = apply;
  }
  async storedHash(service: string) {
    return this.stored.get(service)?.hash;
  }
  async put(service: string, body: string, hash: string) {
    const document = JSON.parse(body) as RuntimeDocument;
    this.stored.set(service, { hash, targets: document.targets });
    await this.apply(service, document.targets);
  }
  /** The service's targets as last written; {} before the first run. */
  targets(service: string): ResolvedTargets {
    return this.stored.get(service)?.targets ?? {};
  }
}

export interface LocalDnsLoopOptions {
  readonly config: AcceptedConfigSource;
  /** "127.0.0.1:<port>" of the local server. */
  readonly resolver: string;
  readonly apply: (service: string, targets: ResolvedTargets) => Promise<void>;
  readonly onReport?: (report: SyncReport) => void;
  readonly onError?: (error: unknown) => void;
}

/**
 * The DNS loop on in-memory state. Runs are serialized (one writer); a request arriving during a run is
 * merged into the one next run, so a burst of triggers costs at most one extra run.
 */
export class LocalDnsLoop {
  readonly documents: ApplyingDocuments;
  private readonly ports: SyncPorts;
  private readonly options: LocalDnsLoopOptions;
  private running: Promise<void> | undefined;
  private queued: SyncRequest | undefined;

  constructor(options: LocalDnsLoopOptions) {
    this.options = options;
    this.documents = new ApplyingDocuments(options.apply);
    const client = createDnsClient({ servers: [options.resolver], timeoutMs: 1_000, tries: 2 });
    const leases = new MemoryLeases();
    this.ports = {
      config: options.config,
      dns: () => client,
      state: new MemoryDnsState(),
      ownership: new MemoryOwnership(leases),
      targetGroups: new MemoryTargetGroups(),
      documents: this.documents,
      leases,
      schedule: new LookupSchedule(),
    };
  }

  /** Asks for a run and resolves when a run that started after this call has finished. */
  request(request: SyncRequest): Promise<void> {
    this.queued = merge(this.queued, request);
    return this.drain();
  }

  private async drain(): Promise<void> {
    while (this.running) await this.running;
    if (!this.queued) return;
    const request = this.queued;
    this.queued = undefined;
    this.running = this.runOnce(request).finally(() => (this.running = undefined));
    await this.running;
  }

  private async runOnce(request: SyncRequest): Promise<void> {
    try {
      const report = await syncDns(request, this.ports, { now: Date.now() });
      this.options.onReport?.(report);
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}

function merge(a: SyncRequest | undefined, b: SyncRequest): SyncRequest {
  if (!a) return b;
  if (a.scope === "due" || b.scope === "due") {
    // "due" looks only at names whose TTL ran out; named ones must still be looked at.
    const names = [...(a.scope === "names" ? a.names : []), ...(b.scope === "names" ? b.names : [])];
    return names.length > 0 ? { scope: "names", names: [...new Set(names)] } : { scope: "due" };
  }
  return { scope: "names", names: [...new Set([...a.names, ...b.names])] };
}
