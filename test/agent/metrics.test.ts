// The agent's EMF lines against the CloudWatch embedded metric format specification
// (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html),
// and the pure parts that turn daemon answers into metric values.
import { describe, expect, it } from "vitest";
import {
  AGENT_METRIC_NAMES, AgentMetrics, TUNNEL_METRIC_NAMES, TunnelTracker, applyMetrics, emfLine, haproxyStatMetrics, isDeniedRequest, parseListSas,
  tunnelStates, type MetricValues,
} from "../../containers/agent/metrics.ts";

/** The spec's structural rules, checked on one parsed document. */
function expectValidEmf(document: Record<string, unknown>): void {
  const aws = document._aws as { Timestamp: unknown; CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit?: string }> }> };
  // _aws: Timestamp (a number of milliseconds since the epoch) and CloudWatchMetrics (MetricDirective objects).
  expect(Number.isInteger(aws.Timestamp)).toBe(true);
  expect(aws.CloudWatchMetrics.length).toBeGreaterThan(0);
  for (const directive of aws.CloudWatchMetrics) {
    expect(directive.Namespace).toMatch(/^\S.{0,254}$/);
    for (const set of directive.Dimensions) {
      expect(set.length).toBeLessThanOrEqual(30);
      // Every dimension is a root member whose value is a string.
      for (const key of set) expect(typeof document[key]).toBe("string");
    }
    expect(directive.Metrics.length).toBeLessThanOrEqual(100);
    // Every metric is a root member whose value is a number.
    for (const metric of directive.Metrics) expect(typeof document[metric.Name]).toBe("number");
  }
}

describe("EMF lines", () => {
  it("names the namespace, the Service dimension and each metric with its unit, values as root members", () => {
    const line = emfLine({ Reloads: 1, CurrentSessions: 7 }, { Service: "router" }, 1_764_158_400_000)!;
    const document = JSON.parse(line);
    expectValidEmf(document);
    expect(document).toEqual({
      _aws: {
        Timestamp: 1_764_158_400_000,
        CloudWatchMetrics: [{ Namespace: "ProxyFleet", Dimensions: [["Service"]], Metrics: [{ Name: "Reloads", Unit: "Count" }, { Name: "CurrentSessions", Unit: "Count" }] }],
      },
      Service: "router",
      Reloads: 1,
      CurrentSessions: 7,
    });
    expect(line).not.toContain("\n");
  });

  it("puts a tunnel's metrics under Service and Connection", () => {
    const document = JSON.parse(emfLine({ TunnelUp: 0, TunnelBytesIn: 0 }, { Service: "vpn", Connection: "to-dc" })!);
    expectValidEmf(document);
    expect(document._aws.CloudWatchMetrics[0].Dimensions).toEqual([["Service", "Connection"]]);
    expect(document._aws.CloudWatchMetrics[0].Metrics).toEqual([{ Name: "TunnelUp", Unit: "None" }, { Name: "TunnelBytesIn", Unit: "Bytes" }]);
    expect(document).toMatchObject({ Service: "vpn", Connection: "to-dc", TunnelUp: 0, TunnelBytesIn: 0 });
  });

  it("prints nothing when there is no value, and drops values that are not finite numbers", () => {
    expect(emfLine({}, { Service: "router" })).toBeUndefined();
    const document = JSON.parse(emfLine({ Reloads: Number.NaN, Rekeys: 2 }, { Service: "vpn" })!);
    expect(document._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name)).toEqual(["Rekeys"]);
    expect(document).not.toHaveProperty("Reloads");
  });

  it("every metric of the contract can be emitted in one line, each with a unit", () => {
    const all = Object.fromEntries(AGENT_METRIC_NAMES.map((name, i) => [name, i])) as MetricValues;
    const lines: string[] = [];
    new AgentMetrics("svc", (line) => lines.push(line)).emit(all);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith("\n")).toBe(true);
    const document = JSON.parse(lines[0]!);
    expectValidEmf(document);
    expect(document._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name)).toEqual([...AGENT_METRIC_NAMES]);
  });
});

describe("apply counters", () => {
  it("counts a reload, an iptables apply, a refused candidate, and nothing for an unchanged document", () => {
    expect(applyMetrics({ applied: true, reason: "reloaded" })).toEqual({ TargetApplies: 1, Reloads: 1 });
    expect(applyMetrics({ applied: true, reason: "iptables-restore" })).toEqual({ TargetApplies: 1 });
    expect(applyMetrics({ applied: false, reason: "candidate refused by haproxy, the running config stays:\n…" })).toEqual({ RefusedCandidates: 1 });
    expect(applyMetrics({ applied: false, reason: "candidate refused by iptables-restore, the running rules stay:\n…" })).toEqual({ RefusedCandidates: 1 });
    expect(applyMetrics({ applied: false, reason: "unchanged" })).toEqual({});
    expect(applyMetrics({ applied: false, reason: "squid changes only by task replacement" })).toEqual({});
  });
});

// Captured from charon 5.9.8 (`swanctl --list-sas --raw`) in test/dataplane/tunnel-metrics.test.ts's tunnel.
const RAW = (ike: string, child: string, bytesIn: number, bytesOut: number, state = "ESTABLISHED") =>
  `list-sa event {to-b {uniqueid=${ike} version=2 state=${state} local-host=10.99.0.1 local-port=4500 local-id=a.vpn.test ` +
  "remote-host=10.99.0.2 remote-port=4500 remote-id=b.vpn.test initiator-spi=045b947460852019 responder-spi=1fd0093777bed418 " +
  "nat-remote=yes nat-any=yes encr-alg=AES_GCM_16 encr-keysize=256 prf-alg=PRF_HMAC_SHA2_256 dh-group=ECP_256 established=0 " +
  `rekey-time=26740 child-sas {to-b-${child} {name=to-b uniqueid=${child} reqid=1 state=INSTALLED mode=TUNNEL protocol=ESP encap=yes ` +
  `spi-in=23183dc4 spi-out=d187eaca encr-alg=AES_GCM_16 encr-keysize=256 bytes-in=${bytesIn} packets-in=4 use-in=0 bytes-out=${bytesOut} ` +
  "packets-out=4 use-out=0 rekey-time=3504 life-time=3960 install-time=0 local-ts=[10.98.1.0/24] remote-ts=[10.98.2.0/24]}}}}\nlist-sas reply {}\n";

describe("strongSwan tunnel metrics", () => {
  it("parses vici's raw structure: values, nested sections and lists", () => {
    const [event] = parseListSas(RAW("1", "1", 238, 216));
    const ike = event!["to-b"] as Record<string, unknown>;
    expect(ike.state).toBe("ESTABLISHED");
    const child = (ike["child-sas"] as Record<string, Record<string, unknown>>)["to-b-1"]!;
    expect(child).toMatchObject({ name: "to-b", state: "INSTALLED", "bytes-in": "238", "bytes-out": "216", "local-ts": ["10.98.1.0/24"] });
    expect(parseListSas("list-sas reply {}\n")).toEqual([]);
  });

  it("is up only with an established IKE SA and an installed CHILD SA; a configured connection without SAs is down", () => {
    const states = tunnelStates(parseListSas(RAW("1", "1", 0, 0)), ["to-b", "to-c"]);
    expect(states.get("to-b")!.up).toBe(true);
    expect(states.get("to-c")!.up).toBe(false);
    expect(tunnelStates(parseListSas(RAW("1", "1", 0, 0, "CONNECTING")), ["to-b"]).get("to-b")!.up).toBe(false);
    // IKE up but the CHILD SA refused (charon: "received TS_UNACCEPTABLE notify, no CHILD_SA built"): no traffic passes, down.
    const ikeOnly = RAW("1", "1", 0, 0).replace(/child-sas \{.*\}\}\}\}/, "child-sas {}}}");
    expect(parseListSas(ikeOnly)[0]!["to-b"]).toMatchObject({ state: "ESTABLISHED", "child-sas": {} });
    expect(tunnelStates(parseListSas(ikeOnly), ["to-b"]).get("to-b")!.up).toBe(false);
  });

  it("a tunnel sample holds exactly the metrics exported as the tunnel's (Service + Connection)", () => {
    const values = new TunnelTracker().next(tunnelStates(parseListSas(RAW("1", "1", 1, 1)), ["to-b"])).get("to-b")!;
    expect(Object.keys(values).sort()).toEqual([...TUNNEL_METRIC_NAMES].sort());
  });

  it("reports bytes per interval, across a CHILD rekey (new counters) and an IKE rekey", () => {
    const tracker = new TunnelTracker();
    const next = (raw: string) => tracker.next(tunnelStates(parseListSas(raw), ["to-b"])).get("to-b");
    expect(next(RAW("1", "1", 100, 50))).toEqual({ TunnelUp: 1, TunnelBytesIn: 100, TunnelBytesOut: 50, Rekeys: 0 });
    expect(next(RAW("1", "1", 160, 90))).toEqual({ TunnelUp: 1, TunnelBytesIn: 60, TunnelBytesOut: 40, Rekeys: 0 });
    // CHILD SA 1 replaced by 2 under the same IKE SA: a rekey; the new SA's counters start at zero.
    expect(next(RAW("1", "2", 30, 10))).toEqual({ TunnelUp: 1, TunnelBytesIn: 30, TunnelBytesOut: 10, Rekeys: 1 });
    // IKE SA 1 replaced by 3 (IKEv2 rekeys an IKE SA into a new one; its CHILD SAs move along).
    expect(next(RAW("3", "2", 30, 10))).toEqual({ TunnelUp: 1, TunnelBytesIn: 0, TunnelBytesOut: 0, Rekeys: 1 });
    expect(next("list-sas reply {}\n")).toEqual({ TunnelUp: 0, TunnelBytesIn: 0, TunnelBytesOut: 0, Rekeys: 0 });
    // Back after being down: a new tunnel, not a rekey.
    expect(next(RAW("4", "5", 10, 10))).toEqual({ TunnelUp: 1, TunnelBytesIn: 10, TunnelBytesOut: 10, Rekeys: 0 });
  });

  it("counts a CHILD rekey once when a poll sees the old and the new CHILD SA side by side", () => {
    const tracker = new TunnelTracker();
    const next = (raw: string) => tracker.next(tunnelStates(parseListSas(raw), ["to-b"])).get("to-b")!;
    const both = RAW("1", "1", 100, 100).replace("}}}}", `} to-b-2 {name=to-b uniqueid=2 state=INSTALLED bytes-in=5 bytes-out=6}}}}`);
    expect(next(RAW("1", "1", 100, 100)).Rekeys).toBe(0);
    expect(next(both)).toEqual({ TunnelUp: 1, TunnelBytesIn: 5, TunnelBytesOut: 6, Rekeys: 1 });
    expect(next(RAW("1", "2", 5, 6))).toEqual({ TunnelUp: 1, TunnelBytesIn: 0, TunnelBytesOut: 0, Rekeys: 0 });
  });

  it("stays up while a CHILD SA is being rekeyed (REKEYING, then REKEYED beside its replacement), and counts the rekey once", () => {
    const tracker = new TunnelTracker();
    const next = (raw: string) => tracker.next(tunnelStates(parseListSas(raw), ["to-b"])).get("to-b")!;
    expect(next(RAW("1", "1", 100, 100)).TunnelUp).toBe(1);
    // The initiator's CREATE_CHILD_SA is out: the old SA is REKEYING, its replacement not installed yet.
    expect(next(RAW("1", "1", 120, 110).replace("state=INSTALLED", "state=REKEYING"))).toEqual({ TunnelUp: 1, TunnelBytesIn: 20, TunnelBytesOut: 10, Rekeys: 0 });
    const replaced = RAW("1", "1", 130, 120).replace("state=INSTALLED", "state=REKEYED").replace("}}}}", `} to-b-2 {name=to-b uniqueid=2 state=INSTALLED bytes-in=5 bytes-out=6}}}}`);
    expect(next(replaced)).toEqual({ TunnelUp: 1, TunnelBytesIn: 15, TunnelBytesOut: 16, Rekeys: 1 });
    // An IKE SA being rekeyed is still established.
    expect(next(RAW("1", "2", 5, 6, "REKEYING"))).toEqual({ TunnelUp: 1, TunnelBytesIn: 0, TunnelBytesOut: 0, Rekeys: 0 });
    // A CHILD SA being deleted with no replacement carries nothing: down.
    expect(next(RAW("1", "2", 5, 6).replace("state=INSTALLED", "state=DELETING")).TunnelUp).toBe(0);
  });
});

describe("HAProxy show stat", () => {
  // Columns as HAProxy 2.6 prints them (abridged to the ones read; the header names them, order is not assumed).
  const CSV = [
    "# pxname,svname,qcur,qmax,scur,smax,status,type",
    "pool,FRONTEND,,,3,9,OPEN,0",
    "admin,FRONTEND,,,1,1,OPEN,0",
    "pool,web_10.0.0.1_80,0,0,2,5,UP,2",
    "pool,web_10.0.0.2_80,0,0,0,0,DOWN,2",
    "pool,web_10.0.0.3_80,0,0,0,0,UP 1/2,2",
    "pool,web_10.0.0.4_80,0,0,0,0,DOWN 1/2,2",
    "pool,unresolved_80,0,0,0,0,MAINT,2",
    "pool,nocheck_80,0,0,1,1,no check,2",
    "pool,BACKEND,0,0,3,9,UP,1",
    "",
  ].join("\n");

  it("sums the frontends' sessions and counts servers up and down; maintenance is neither", () => {
    expect(haproxyStatMetrics(CSV)).toEqual({ CurrentSessions: 4, BackendsUp: 3, BackendsDown: 2 });
  });

  it("says nothing for an answer that is not show stat", () => {
    expect(haproxyStatMetrics("Unknown command.\n")).toEqual({});
  });
});

describe("Squid denied requests", () => {
  it("matches the TCP_DENIED result codes of its native access log, and nothing else", () => {
    expect(isDeniedRequest("1764158400.123      0 127.0.0.1 TCP_DENIED/403 3885 CONNECT denied.test:443 - HIER_NONE/- text/html")).toBe(true);
    expect(isDeniedRequest("1764158400.123      2 127.0.0.1 TCP_DENIED_REPLY/403 10 GET http://x.test/ - HIER_DIRECT/10.0.0.1 text/html")).toBe(true);
    expect(isDeniedRequest("1764158400.123     51 127.0.0.1 TCP_TUNNEL/200 1024 CONNECT allowed.test:443 - HIER_DIRECT/10.0.0.1 -")).toBe(false);
    expect(isDeniedRequest("2026/11/26 11:30:02| WARNING: TCP_DENIED is mentioned in a cache.log line")).toBe(false);
  });
});
