// Durations are written as "<n><unit>" (ms, s, m, h, d) and rendered in each daemon's own syntax.
export const DURATION_PATTERN = /^([0-9]{1,9})(ms|s|m|h|d)$/;

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function durationMs(text: string): number {
  const match = DURATION_PATTERN.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** Largest exact unit among the given ones, so "90s" stays "90s" and "3600s" becomes "1h". */
export function formatDuration(ms: number, units: ReadonlyArray<keyof typeof UNIT_MS>): string {
  const ordered = [...units].sort((a, b) => UNIT_MS[b] - UNIT_MS[a]);
  for (const unit of ordered) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  const smallest = ordered[ordered.length - 1]!;
  return `${Math.ceil(ms / UNIT_MS[smallest])}${smallest}`;
}

export function durationSeconds(text: string): number {
  return Math.ceil(durationMs(text) / 1000);
}
