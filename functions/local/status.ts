// The local fleet's status: one board the control loops write to and the status page, its live event stream and
// `fleet status` read. Pure data and an event emitter: no I/O here, so every writer and reader can be tested alone.
import { EventEmitter } from "node:events";
import type { ServiceModel } from "../fleet/load.ts";

/** "draining": no new connections (the front listener shifted away); open ones may finish before it stops. */
export type ServiceHealth = "starting" | "healthy" | "unhealthy" | "draining" | "stopped";

export interface GenerationStatus {
  /** Increases by one per started generation of the service. */
  readonly generation: number;
  readonly hash: string;
  readonly commit: string;
  readonly health: ServiceHealth;
  /** Where this generation listens (the front listener forwards to it while it is active). */
  readonly ports: readonly number[];
  /** Daemon restarts by the supervisor, with the last reason. */
  readonly restarts: number;
  readonly lastRestartReason?: string;
}

export interface ServiceStatus {
  readonly service: string;
  readonly kind: ServiceModel["kind"];
  /** The front ports users connect to (the local stand-in for the load balancer's listeners). */
  readonly ports: readonly number[];
  /** The generation that receives new connections; undefined before the first one is healthy. */
  readonly active?: GenerationStatus;
  /** Generations still draining or starting. */
  readonly others: readonly GenerationStatus[];
  /** Bundle hashes whose generation never became healthy: not rolled out again automatically. */
  readonly failedHashes: readonly string[];
}

export interface TargetStatus {
  readonly name: string;
  readonly addresses: readonly string[];
  /** "dns" (answered by the local authoritative server), "last-known-good" (answer kept after a failure)… */
  readonly source: string;
  readonly ttlSeconds?: number;
  /** ms since the epoch of the last answer. */
  readonly resolvedAt?: number;
}

export interface TunnelStatus {
  readonly service: string;
  readonly connection: string;
  readonly state: "up" | "down" | "connecting";
  readonly since: number;
  readonly detail?: string;
}

export interface RolloutRecord {
  readonly commit: string;
  readonly service: string;
  readonly hash: string;
  readonly outcome: "in-progress" | "succeeded" | "rolled-back" | "unchanged";
  readonly startedAt: number;
  readonly finishedAt?: number;
  /** Step timings in ms since startedAt, e.g. { healthyMs, shiftedMs, drainedMs }; shown as "healthy +820 ms". */
  readonly timings?: Readonly<Record<string, number>>;
  readonly detail?: string;
}

export interface LocatedError {
  readonly file: string;
  readonly line: number;
  readonly column?: number;
  readonly rule: string;
  readonly message: string;
}

export interface RejectedCommit {
  readonly commit: string;
  readonly subject: string;
  readonly at: number;
  readonly errors: readonly LocatedError[];
}

export interface LocalEvent {
  readonly at: number;
  readonly level: "info" | "warn" | "error";
  /** What produced it: "rollout", "dns", "heal", "supervisor", "vpn"… */
  readonly source: string;
  readonly message: string;
}

export interface LocalStatus {
  readonly startedAt: number;
  readonly repository?: string;
  readonly branch?: string;
  /** The head of the tracked branch as last processed, and the last accepted commit. */
  readonly headCommit?: string;
  readonly acceptedCommit?: string;
  readonly services: readonly ServiceStatus[];
  readonly targets: readonly TargetStatus[];
  readonly tunnels: readonly TunnelStatus[];
  /** Newest first, bounded. */
  readonly rollouts: readonly RolloutRecord[];
  readonly rejected: readonly RejectedCommit[];
  readonly events: readonly LocalEvent[];
}

const KEEP = { rollouts: 50, rejected: 20, events: 200 } as const;

/**
 * The single source of the local status. Writers call `update` (a pure function of the previous status) or the
 * helpers; every change emits "change" with the new snapshot, which the status page streams as server-sent events.
 */
export class StatusBoard extends EventEmitter<{ change: [LocalStatus] }> {
  private status: LocalStatus;

  constructor(now: number = Date.now()) {
    super();
    this.status = { startedAt: now, services: [], targets: [], tunnels: [], rollouts: [], rejected: [], events: [] };
  }

  snapshot(): LocalStatus {
    return this.status;
  }

  update(change: (status: LocalStatus) => LocalStatus): void {
    const next = change(this.status);
    this.status = {
      ...next,
      rollouts: next.rollouts.slice(0, KEEP.rollouts),
      rejected: next.rejected.slice(0, KEEP.rejected),
      events: next.events.slice(0, KEEP.events),
    };
    this.emit("change", this.status);
  }

  event(level: LocalEvent["level"], source: string, message: string, at: number = Date.now()): void {
    this.update((s) => ({ ...s, events: [{ at, level, source, message }, ...s.events] }));
  }

  setService(service: ServiceStatus): void {
    this.update((s) => ({ ...s, services: upsert(s.services, service, (x) => x.service === service.service) }));
  }

  setTargets(targets: readonly TargetStatus[]): void {
    this.update((s) => ({ ...s, targets: [...targets].sort((a, b) => a.name.localeCompare(b.name)) }));
  }

  setTunnel(tunnel: TunnelStatus): void {
    this.update((s) => ({
      ...s,
      tunnels: upsert(s.tunnels, tunnel, (x) => x.service === tunnel.service && x.connection === tunnel.connection),
    }));
  }

  /** Records a rollout; a record for the same commit and service replaces the earlier one (in-progress → done). */
  recordRollout(record: RolloutRecord): void {
    this.update((s) => ({
      ...s,
      rollouts: [record, ...s.rollouts.filter((r) => !(r.commit === record.commit && r.service === record.service))],
    }));
  }

  recordRejected(rejected: RejectedCommit): void {
    this.update((s) => ({ ...s, headCommit: rejected.commit, rejected: [rejected, ...s.rejected.filter((r) => r.commit !== rejected.commit)] }));
  }
}

function upsert<T>(list: readonly T[], item: T, same: (x: T) => boolean): T[] {
  const index = list.findIndex(same);
  return index < 0 ? [...list, item] : list.map((x, i) => (i === index ? item : x));
}
