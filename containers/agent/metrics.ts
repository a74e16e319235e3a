/**
 * Agent metrics as CloudWatch Embedded Metric Format lines on stdout.
 * The names are a contract: alarms and the dashboard are built on exactly these.
 */
export const AGENT_METRIC_NAMES = [
  'Reloads',
  'RefusedCandidates',
  'TargetApplies',
  'DaemonRestarts',
  'CurrentSessions',
  'BackendsUp',
  'BackendsDown',
  'RequestsDenied',
  'TunnelUp',
  'TunnelBytesIn',
  'TunnelBytesOut',
  'Rekeys',
] as const;

export type AgentMetricName = (typeof AGENT_METRIC_NAMES)[number];

export const METRIC_NAMESPACE = 'ProxyFleet';
