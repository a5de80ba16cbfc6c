import { parseDuration } from '../shared/duration';
import type { RuleDefinition } from '../rules/rule';

/** Shortest and longest cooldown a rule may carry: below a second it means nothing, past 30 days it is a snooze. */
export const MIN_COOLDOWN_MS = 1_000;
export const MAX_COOLDOWN_MS = 30 * 86_400_000;

/**
 * Event fields a cooldown (or a snooze) may group by without declarations:
 * the SPEC §1 string fields. Declared string fields (docs/fields.md) are added
 * by `knownFacts` (see `FactNames.entityKeys`).
 */
export const SPEC_ENTITY_KEYS: readonly string[] = ['user_id', 'ip_address', 'device_id', 'location_city', 'event_type'];

/**
 * The fact names a rule may use, and among them the string event fields a
 * cooldown or a snooze may be keyed by. `knownFacts` returns one; a plain set
 * (tests) allows the SPEC string fields only.
 */
export interface FactNames extends ReadonlySet<string> {
  readonly entityKeys?: ReadonlySet<string>;
}

const DEFAULT_ENTITY_KEYS: ReadonlySet<string> = new Set(SPEC_ENTITY_KEYS);

export function entityKeysOf(facts: ReadonlySet<string>): ReadonlySet<string> {
  return (facts as FactNames).entityKeys ?? DEFAULT_ENTITY_KEYS;
}

/**
 * Checks a rule's optional `cooldown` ({"key": "user_id", "duration": "30m"});
 * each problem names its path. `entityKeys`: the string event fields it may name.
 */
export function validateCooldown(value: unknown, entityKeys: ReadonlySet<string>, fail: (path: string, message: string) => void): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail('cooldown', 'must be an object {"key": "<string event field>", "duration": "30m"}');
    return;
  }
  const c = value as Record<string, unknown>;
  for (const key of Object.keys(c)) if (key !== 'key' && key !== 'duration') fail(`cooldown.${key}`, 'unknown property');
  if (typeof c.key !== 'string' || !entityKeys.has(c.key))
    fail('cooldown.key', `must name a string event field: one of ${[...entityKeys].join(', ')}`);
  const ms = typeof c.duration === 'string' ? durationOrNaN(c.duration) : Number.NaN;
  if (Number.isNaN(ms)) fail('cooldown.duration', 'must be a duration such as "90s", "30m", "2h" or "1d"');
  else if (ms < MIN_COOLDOWN_MS || ms > MAX_COOLDOWN_MS) fail('cooldown.duration', 'must be from 1s to 30d');
}

/** A validated rule's cooldown in milliseconds and its key, or undefined when it has none. */
export function cooldownOf(rule: RuleDefinition): { readonly key: string; readonly durationMs: number } | undefined {
  const cooldown = rule.cooldown;
  if (cooldown === undefined) return undefined;
  return { key: cooldown.key, durationMs: parseDuration(cooldown.duration) };
}

function durationOrNaN(text: string): number {
  try {
    return parseDuration(text);
  } catch {
    return Number.NaN;
  }
}
