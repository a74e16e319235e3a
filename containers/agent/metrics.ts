// Agent metrics as CloudWatch Embedded Metric Format (EMF) lines on the agent's stdout, which the task's
// awslogs driver ships to CloudWatch Logs; CloudWatch extracts the metrics from them. The names are a
// contract: alarms and the dashboard are built on exactly these.
//
// One EMF document per line (spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
//   { "_aws": { "Timestamp": <ms since epoch>, "CloudWatchMetrics": [ { "Namespace", "Dimensions": [[<dimension keys>]],
//     "Metrics": [ { "Name", "Unit" } ] } ] }, <dimension key>: <string>, <metric name>: <number> }
// Every dimension key and every metric name is a member of the root ("target members"); dimension values are
// strings; a directive holds at most 100 metrics and a dimension set at most 30 keys.
import type { ApplyResult } from "./agent.ts";

export const AGENT_METRIC_NAMES = [
  "Reloads",
  "RefusedCandidates",
  "TargetApplies",
  "DaemonRestarts",
  "CurrentSessions",
  "BackendsUp",
  "BackendsDown",
  "RequestsDenied",
  "TunnelUp",
  "TunnelBytesIn",
  "TunnelBytesOut",
  "Rekeys",
] as const;

export type AgentMetricName = (typeof AGENT_METRIC_NAMES)[number];

export const METRIC_NAMESPACE = "ProxyFleet";

/** Every metric carries the Service dimension; these carry Service and Connection (one strongSwan connection). */
export const TUNNEL_METRIC_NAMES = ["TunnelUp", "TunnelBytesIn", "TunnelBytesOut", "Rekeys"] as const satisfies readonly AgentMetricName[];
export const METRIC_DIMENSIONS = { service: "Service", connection: "Connection" } as const;

/** EMF units (the spec's StandardUnit values): counts of events, byte counts, and a 1/0 state. */
export const METRIC_UNITS: Record<AgentMetricName, "Count" | "Bytes" | "None"> = {
  Reloads: "Count",
  RefusedCandidates: "Count",
  TargetApplies: "Count",
  DaemonRestarts: "Count",
  CurrentSessions: "Count",
  BackendsUp: "Count",
  BackendsDown: "Count",
  RequestsDenied: "Count",
  TunnelUp: "None",
  TunnelBytesIn: "Bytes",
  TunnelBytesOut: "Bytes",
  Rekeys: "Count",
};

export type MetricValues = Partial<Record<AgentMetricName, number>>;

/** The dimensions of a data plane's metrics: the service, and for a tunnel also its connection. */
export type MetricDimensions = { readonly Service: string; readonly Connection?: string };

/** One EMF document (one line, no newline) carrying `values` under `dimensions`; undefined when there is nothing to say. */
export function emfLine(values: MetricValues, dimensions: MetricDimensions, timestamp: number = Date.now()): string | undefined {
  const names = AGENT_METRIC_NAMES.filter((name) => values[name] !== undefined && Number.isFinite(values[name]));
  if (names.length === 0) return undefined;
  const keys = dimensions.Connection === undefined ? ["Service"] : ["Service", "Connection"];
  const document: Record<string, unknown> = {
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [{ Namespace: METRIC_NAMESPACE, Dimensions: [keys], Metrics: names.map((name) => ({ Name: name, Unit: METRIC_UNITS[name] })) }],
    },
  };
  for (const key of keys) document[key] = dimensions[key as keyof MetricDimensions];
  for (const name of names) document[name] = values[name];
  return JSON.stringify(document);
}

/** Writes EMF lines for one service; `write` is the container's stdout unless a test captures it. */
export class AgentMetrics {
  readonly service: string;
  private readonly write: (line: string) => void;

  constructor(service: string, write: (line: string) => void = (line) => void process.stdout.write(line)) {
    this.service = service;
    this.write = write;
  }

  emit(values: MetricValues, connection?: string): void {
    const line = emfLine(values, connection === undefined ? { Service: this.service } : { Service: this.service, Connection: connection });
    if (line !== undefined) this.write(line + "\n");
  }

  /** What one runtime-target apply counts: a change applied (and, for HAProxy/NGINX, a reload) or a candidate refused. */
  applied(result: ApplyResult): void {
    this.emit(applyMetrics(result));
  }
}

/**
 * The counters one apply produces. An applied change is a TargetApply; HAProxy and NGINX apply it by a
 * reload ("reloaded"), strongSwan by iptables-restore (no daemon reload). A candidate the daemon's own check
 * (or iptables-restore --test) refused is a RefusedCandidate; "unchanged" counts nothing.
 */
export function applyMetrics(result: ApplyResult): MetricValues {
  if (result.applied) return result.reason === "reloaded" ? { TargetApplies: 1, Reloads: 1 } : { TargetApplies: 1 };
  if (result.reason.startsWith("candidate refused")) return { RefusedCandidates: 1 };
  return {};
}

// ---- strongSwan: per-connection tunnel state from charon ----

/** A vici message section as `swanctl --raw` prints it: key=value pairs, named sub-sections and lists. */
export interface ViciSection {
  [key: string]: string | string[] | ViciSection;
}

/**
 * Parses `swanctl --list-sas --raw`: one `list-sa event {…}` line per IKE SA, in vici's own structure
 * (`key=value`, `name {…}` sections, `key=[a b]` lists; strongSwan's vici README, "list-sas" / "list-sa"):
 *   list-sa event {<IKE config name> {uniqueid=… state=ESTABLISHED … child-sas {<child>-<id> {name=… uniqueid=…
 *   state=INSTALLED bytes-in=… bytes-out=… …}}}}
 */
export function parseListSas(raw: string): ViciSection[] {
  const events: ViciSection[] = [];
  for (const line of raw.split("\n")) {
    if (!line.startsWith("list-sa event")) continue;
    const tokens = line.slice(line.indexOf("{")).match(/[{}[\]]|[^\s{}[\]]+/g) ?? [];
    const cursor = { at: 1 };
    events.push(parseSection(tokens, cursor));
  }
  return events;
}

function parseSection(tokens: string[], cursor: { at: number }): ViciSection {
  const section: ViciSection = {};
  while (cursor.at < tokens.length) {
    const token = tokens[cursor.at++]!;
    if (token === "}") break;
    const equals = token.indexOf("=");
    if (equals > 0 && token.endsWith("=") && tokens[cursor.at] === "[") {
      // A list: `local-ts=[10.0.0.0/24 10.1.0.0/24]`.
      cursor.at++;
      const items: string[] = [];
      while (cursor.at < tokens.length && tokens[cursor.at] !== "]") items.push(tokens[cursor.at++]!);
      cursor.at++;
      section[token.slice(0, -1)] = items;
    } else if (equals > 0) {
      section[token.slice(0, equals)] = token.slice(equals + 1);
    } else if (tokens[cursor.at] === "{") {
      cursor.at++;
      section[token] = parseSection(tokens, cursor);
    }
    // Anything else is a piece of a value with spaces in it (an identity such as "C=CH, O=…"): not needed here.
  }
  return section;
}

const sectionsOf = (value: ViciSection[string] | undefined): ViciSection[] =>
  value && typeof value === "object" && !Array.isArray(value) ? Object.values(value).filter((v): v is ViciSection => typeof v === "object" && !Array.isArray(v)) : [];
const text = (value: ViciSection[string] | undefined): string => (typeof value === "string" ? value : "");

// States in which charon's SAs are in the kernel and carry traffic (strongSwan child_sa.h / ike_sa.h): a CHILD SA
// being rekeyed stays REKEYING (initiator) or REKEYED (responder) until its replacement is INSTALLED, and an IKE
// SA being rekeyed stays REKEYING; a sample taken in that window is not a tunnel down.
const CHILD_CARRYING = new Set(["INSTALLED", "UPDATING", "REKEYING", "REKEYED"]);
const IKE_ESTABLISHED = new Set(["ESTABLISHED", "REKEYING"]);
/** An IKE SA in this state is established (a rekey in progress included). */
export const ikeEstablished = (state: string): boolean => IKE_ESTABLISHED.has(state);
/** A CHILD SA in this state is in the kernel and carries traffic (a rekey in progress included). */
export const childCarriesTraffic = (state: string): boolean => CHILD_CARRYING.has(state);

/** One connection's SAs at one moment. */
export interface TunnelState {
  /** An IKE SA ESTABLISHED (or REKEYING) with at least one CHILD SA INSTALLED (or being rekeyed). */
  readonly up: boolean;
  /** The unique ids of its ESTABLISHED (or REKEYING) IKE SAs. */
  readonly established: readonly string[];
  /** CHILD SAs carrying traffic by unique id: their config name and byte counters (which start at 0 with every new CHILD SA). */
  readonly children: ReadonlyMap<string, { readonly name: string; readonly bytesIn: number; readonly bytesOut: number }>;
}

/** Each configured connection's state in a `list-sas` answer; a connection with no SA is down. */
export function tunnelStates(events: readonly ViciSection[], connections: readonly string[]): Map<string, TunnelState> {
  const states = new Map<string, TunnelState>();
  for (const connection of connections) {
    let up = false;
    const established: string[] = [];
    const children = new Map<string, { name: string; bytesIn: number; bytesOut: number }>();
    for (const event of events) {
      const ike = event[connection];
      if (!ike || typeof ike !== "object" || Array.isArray(ike)) continue;
      const isEstablished = ikeEstablished(text(ike.state));
      if (isEstablished) established.push(text(ike.uniqueid));
      for (const child of sectionsOf(ike["child-sas"])) {
        if (!childCarriesTraffic(text(child.state))) continue;
        if (isEstablished) up = true;
        children.set(text(child.uniqueid), { name: text(child.name), bytesIn: Number(text(child["bytes-in"])) || 0, bytesOut: Number(text(child["bytes-out"])) || 0 });
      }
    }
    states.set(connection, { up, established, children });
  }
  return states;
}

/**
 * Turns successive tunnel states into metrics per connection: TunnelUp 1/0, the bytes carried since the
 * previous poll, and rekeys. A CHILD SA with a new unique id and the config name of one seen at the previous
 * poll replaces it (a CHILD rekey, whether or not both are seen side by side); a new ESTABLISHED IKE SA while
 * one was established at the previous poll is an IKE rekey (IKEv2 moves the CHILD SAs to it, keeping their
 * ids). A re-establishment inside one poll interval counts the same way; one after a poll that saw the
 * tunnel down does not.
 */
export class TunnelTracker {
  private previous = new Map<string, TunnelState>();

  next(states: ReadonlyMap<string, TunnelState>): Map<string, MetricValues> {
    const metrics = new Map<string, MetricValues>();
    for (const [connection, state] of states) {
      const before = this.previous.get(connection);
      let bytesIn = 0;
      let bytesOut = 0;
      let rekeys = 0;
      const namesBefore = new Set([...(before?.children.values() ?? [])].map((child) => child.name));
      for (const [id, child] of state.children) {
        const old = before?.children.get(id);
        bytesIn += Math.max(0, child.bytesIn - (old?.bytesIn ?? 0));
        bytesOut += Math.max(0, child.bytesOut - (old?.bytesOut ?? 0));
        if (!old && namesBefore.has(child.name)) rekeys += 1;
      }
      if (before && before.established.length > 0) rekeys += state.established.filter((id) => !before.established.includes(id)).length;
      metrics.set(connection, { TunnelUp: state.up ? 1 : 0, TunnelBytesIn: bytesIn, TunnelBytesOut: bytesOut, Rekeys: rekeys });
    }
    this.previous = new Map(states);
    return metrics;
  }
}

// ---- HAProxy: sessions and servers from its stats socket ----

/**
 * Reads `show stat` (HAProxy management guide, "show stat": CSV, first line "# pxname,svname,…"; `type` 0 =
 * frontend, 1 = backend, 2 = server; `scur` current sessions; `status` UP, DOWN, NOLB, MAINT, "no check", …
 * with transitional forms such as "UP 1/3"). CurrentSessions is the frontends' total; a server is up when its
 * status starts with UP (or is "no check": no health check, always in use) and down when it starts with DOWN;
 * servers in maintenance (no address yet) count as neither.
 */
export function haproxyStatMetrics(csv: string): MetricValues {
  const lines = csv.split("\n").filter((line) => line.trim() !== "");
  const header = lines.find((line) => line.startsWith("# "));
  if (!header) return {};
  const columns = header.slice(2).split(",");
  const at = (row: string[], name: string) => row[columns.indexOf(name)] ?? "";
  let sessions = 0;
  let up = 0;
  let down = 0;
  for (const line of lines) {
    if (line.startsWith("#")) continue;
    const row = line.split(",");
    const type = at(row, "type");
    if (type === "0") sessions += Number(at(row, "scur")) || 0;
    if (type !== "2") continue;
    const status = at(row, "status");
    if (status.startsWith("UP") || status === "no check") up += 1;
    else if (status.startsWith("DOWN")) down += 1;
  }
  return { CurrentSessions: sessions, BackendsUp: up, BackendsDown: down };
}

// ---- Squid: denied requests from its access log ----

/**
 * True for an access-log line of a request Squid denied: the result code field is `TCP_DENIED/<status>`
 * (Squid wiki, SquidFaq/SquidLogs "Squid result codes"; also TCP_DENIED_REPLY for a denied reply).
 */
export function isDeniedRequest(line: string): boolean {
  return /(^|\s)TCP_DENIED(_REPLY)?\/\d{3}(\s|$)/.test(line);
}
