import type { RiskEvent } from '../events/risk-event';
import { parseDuration } from '../shared/duration';
import type { FieldError } from '../shared/errors';

/** An entity's alerts held back, for one rule or all, until `expires_at` (wall clock). */
export interface Snooze {
  readonly id: string;
  /** A string event field: `user_id`, `ip_address`, `device_id`, … */
  readonly key: string;
  readonly value: string;
  /** The one rule snoozed; null: every rule. */
  readonly rule_id: string | null;
  readonly reason: string;
  /** The API key's name. */
  readonly created_by: string;
  readonly created_at: string;
  readonly expires_at: string;
}

/** One entry of the snooze audit trail, newest first. */
export interface SnoozeAuditEntry {
  readonly at: string;
  readonly actor: string;
  readonly action: 'create' | 'delete';
  readonly snooze: Snooze;
  /** Why it was ended early (`DELETE /snoozes/:id?reason=`); the snooze keeps its own reason. */
  readonly reason?: string;
}

export interface SnoozeAuditPage {
  readonly total: number;
  readonly items: readonly SnoozeAuditEntry[];
}

/** `POST /snoozes` once validated. */
export interface SnoozeRequest {
  readonly key: string;
  readonly value: string;
  readonly rule_id: string | null;
  readonly durationMs: number;
  readonly reason: string;
}

export const MIN_SNOOZE_MS = 60_000;
export const MAX_SNOOZE_MS = 90 * 86_400_000;
/** Active snoozes at once (each instance holds them all in memory). */
export const MAX_ACTIVE_SNOOZES = 10_000;
const MAX_VALUE_LENGTH = 128;
const MAX_REASON_LENGTH = 1024;
const REQUEST_KEYS = new Set(['key', 'value', 'rule_id', 'duration', 'reason']);

/** Checks a `POST /snoozes` body; every problem names its property. */
export function parseSnoozeRequest(
  body: unknown,
  entityKeys: ReadonlySet<string>,
  ruleExists: (id: string) => boolean,
): { ok: true; request: SnoozeRequest } | { ok: false; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const fail = (path: string, message: string): void => {
    errors.push({ path, message });
  };
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, errors: [{ path: '$', message: 'must be a JSON object {key, value, rule_id?, duration, reason}' }] };
  }
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) if (!REQUEST_KEYS.has(key)) fail(key, 'unknown property');
  if (typeof b.key !== 'string' || !entityKeys.has(b.key))
    fail('key', `must name a string event field: one of ${[...entityKeys].join(', ')}`);
  if (typeof b.value !== 'string' || b.value.length === 0 || [...b.value].length > MAX_VALUE_LENGTH)
    fail('value', `must be a string of 1–${MAX_VALUE_LENGTH} characters`);
  if (b.rule_id !== undefined && b.rule_id !== null) {
    if (typeof b.rule_id !== 'string' || b.rule_id.length > 128) fail('rule_id', 'must be a rule id, or null for every rule');
    else if (!ruleExists(b.rule_id)) fail('rule_id', `no rule "${b.rule_id}" in the active rule set`);
  }
  let durationMs = Number.NaN;
  if (typeof b.duration === 'string') {
    try {
      durationMs = parseDuration(b.duration);
    } catch {
      // reported below
    }
  }
  if (Number.isNaN(durationMs)) fail('duration', 'must be a duration such as "30m", "2h" or "7d"');
  else if (durationMs < MIN_SNOOZE_MS || durationMs > MAX_SNOOZE_MS) fail('duration', 'must be from 1m to 90d');
  if (typeof b.reason !== 'string' || b.reason.trim().length === 0 || b.reason.length > MAX_REASON_LENGTH)
    fail('reason', `must be a non-blank string of at most ${MAX_REASON_LENGTH} characters`);
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    request: {
      key: b.key as string,
      value: b.value as string,
      rule_id: (b.rule_id as string | null | undefined) ?? null,
      durationMs,
      reason: b.reason as string,
    },
  };
}

/** The event's value of a string event field (SPEC §1 or declared), or undefined when absent or not a string. */
export function entityValue(event: RiskEvent, field: string): string | undefined {
  const own = (event as unknown as Record<string, unknown>)[field];
  const value = own !== undefined ? own : event.fields?.[field];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

interface HeldSnooze {
  readonly snooze: Snooze;
  readonly expiresMs: number;
}

/**
 * The snoozes an instance decides with, indexed for the hot path: a lookup
 * per snoozed field per alerting rule. Replaced whole by the snooze watcher
 * (hot reload); expired ones are ignored until the next replacement drops them.
 */
export class SnoozeBook {
  private byField = new Map<string, Map<string, HeldSnooze[]>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  replace(snoozes: readonly Snooze[]): void {
    const byField = new Map<string, Map<string, HeldSnooze[]>>();
    for (const snooze of snoozes) {
      let byValue = byField.get(snooze.key);
      if (byValue === undefined) byField.set(snooze.key, (byValue = new Map<string, HeldSnooze[]>()));
      const held = { snooze, expiresMs: Date.parse(snooze.expires_at) };
      const list = byValue.get(snooze.value);
      if (list === undefined) byValue.set(snooze.value, [held]);
      else list.push(held);
    }
    this.byField = byField;
    this.count = snoozes.length;
  }

  /**
   * The snooze that holds back `ruleId`'s alert for this event at `now`
   * (wall clock, epoch ms): among those matching, the one that lasts longest
   * (ties: the smaller id), so the answer does not depend on load order.
   */
  find(ruleId: string, event: RiskEvent, now: number): Snooze | undefined {
    if (this.count === 0) return undefined;
    let best: HeldSnooze | undefined;
    for (const [field, byValue] of this.byField) {
      const value = entityValue(event, field);
      if (value === undefined) continue;
      const list = byValue.get(value);
      if (list === undefined) continue;
      for (const held of list) {
        if (held.expiresMs <= now) continue;
        if (held.snooze.rule_id !== null && held.snooze.rule_id !== ruleId) continue;
        if (best === undefined || held.expiresMs > best.expiresMs || (held.expiresMs === best.expiresMs && held.snooze.id < best.snooze.id))
          best = held;
      }
    }
    return best?.snooze;
  }
}
