import { formatEventTime } from '../events/event-time';
import type { FieldError } from '../shared/errors';

/** Why the pipeline rejected a message (the `reason` label of the rejects metric). */
export type RejectReason = 'invalid' | 'event_time_ahead';

/**
 * The reason to reject an event dated more than `maxSkewMs` after the
 * reference time (the instance's clock), or undefined when it may be accepted.
 * SPEC §2 lets the greatest accepted event_time set the watermark, so without
 * this bound one event dated next year would make every later event late and
 * let state and dedup memory expire at once.
 */
export function eventTimeAheadError(eventTimeMs: number, referenceMs: number, maxSkewMs: number): FieldError | undefined {
  if (eventTimeMs - referenceMs <= maxSkewMs) return undefined;
  return {
    path: 'event_time',
    message:
      `is ${formatEventTime(eventTimeMs)}, more than ${formatSkew(maxSkewMs)} after the engine's clock ` +
      `(${formatEventTime(referenceMs)}); future-dated events are rejected (MAX_EVENT_TIME_SKEW)`,
  };
}

/** In the unit `parseDuration` reads (`5m`, `90s`), so the message names the setting as it is written. */
function formatSkew(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
