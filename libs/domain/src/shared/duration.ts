const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `30s`, `10m`, `1h`, `7d` or a bare number of milliseconds. */
export function parseDuration(text: string | number): number {
  if (typeof text === 'number') {
    if (Number.isSafeInteger(text) && text >= 0) return text;
    throw new Error(`invalid duration ${text}: expected a non-negative integer of milliseconds`);
  }
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new Error(`invalid duration "${text}": expected e.g. 500ms, 30s, 10m, 1h, 7d`);
  return Number(match[1]) * UNIT_MS[match[2] ?? 'ms'];
}
