/**
 * One rule's cooldown for one entity, asked for by one event that would
 * alert: "start it at my event time, unless it is already running".
 */
export interface CooldownClaim {
  readonly ruleId: string;
  /** The rule's cooldown key (a string event field) and the event's value of it. */
  readonly field: string;
  readonly value: string;
  readonly eventId: string;
  /** Epoch ms. */
  readonly eventTime: number;
  readonly durationMs: number;
}

/** `running`: the alert is held back by the cooldown that the alert of `startedBy` started at `startedAt`. */
export type CooldownAnswer =
  { readonly running: false } | { readonly running: true; readonly startedAt: number; readonly startedBy: string };

/** One cooldown start: its event time, and the event whose alert started it. */
export interface CooldownRecord {
  readonly startedAt: number;
  readonly startedBy: string;
}

const NOT_RUNNING: CooldownAnswer = { running: false };

/**
 * The one semantic of a claim (docs/suppression.md), over the starts kept for
 * the claim's rule and entity (sorted by `startedAt`); `RedisCooldownStore`'s
 * Lua script makes the same decision, and a test checks they agree.
 *
 * - A start made by this very event (a redelivered batch decided again): not
 *   running, nothing written, so the outcome is the first one.
 * - The latest start at or before the claim's event time covers it
 *   (`startedAt <= t < startedAt + duration`): running.
 * - Otherwise the cooldown starts at the claim's event time (`start`), also
 *   when an earlier event arrives late: so an alert at event time t holds back
 *   the same rule and entity over [t, t + duration) whatever the arrival order
 *   of the events after it. A batch decided again meets the starts its own
 *   later events made; none of them can fall between an event and the start
 *   that covered it, so the answers do not change.
 */
export function judgeClaim(starts: readonly CooldownRecord[], claim: CooldownClaim): { answer: CooldownAnswer; start: boolean } {
  let latest: CooldownRecord | undefined;
  for (const record of starts) {
    if (record.startedBy === claim.eventId) return { answer: NOT_RUNNING, start: false };
    if (record.startedAt <= claim.eventTime) latest = record;
  }
  if (latest !== undefined && claim.eventTime < latest.startedAt + claim.durationMs)
    return { answer: { running: true, startedAt: latest.startedAt, startedBy: latest.startedBy }, start: false };
  return { answer: NOT_RUNNING, start: true };
}

/** Starts kept per rule and entity, newest first kept: enough for any batch to be decided again. */
export const MAX_STARTS_PER_COOLDOWN = 64;

/**
 * Where rule cooldowns live: process memory (embedded engine, replay,
 * backtest) or Redis (shared by every instance). `claim` judges the claims
 * in order, each atomically (`judgeClaim`), and returns one answer per claim.
 * A claim only ever starts a cooldown; the caller sends only claims of events
 * that alert if it is not running. Errors are `RiskEngineError`s; a retriable
 * one may leave some claims applied, which is harmless: claiming again for the
 * same event gives the same answers.
 */
export abstract class CooldownStore {
  abstract claim(claims: readonly CooldownClaim[]): Promise<CooldownAnswer[]>;
  async close(): Promise<void> {}
}
