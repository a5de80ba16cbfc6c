import { InvalidInputError, type FieldError } from '../shared/errors';

/** `GET /rules/stats` without `from`: the last 24 hours of event time. */
export const DEFAULT_STATS_RANGE_MS = 24 * 3_600_000;
/** The longest range one request may ask for: bounds the rows SQLite scans (Elasticsearch has no trouble). */
export const MAX_STATS_RANGE_MS = 31 * 24 * 3_600_000;

/**
 * The event-time range [from, to) of `GET /rules/stats`, epoch ms: `to`
 * defaults to now, `from` to 24 h before `to`. A range that is empty,
 * reversed or longer than 31 days is a 400 naming the parameter.
 */
export function ruleStatsRange(from: number | undefined, to: number | undefined, now: number): { from: number; to: number } {
  const end = to ?? now;
  const start = from ?? end - DEFAULT_STATS_RANGE_MS;
  const errors: FieldError[] = [];
  if (start >= end) errors.push({ path: from === undefined ? 'to' : 'from', message: 'must be before to' });
  else if (end - start > MAX_STATS_RANGE_MS)
    errors.push({ path: from === undefined ? 'to' : 'from', message: 'the range is at most 31 days' });
  if (errors.length > 0) throw new InvalidInputError('INVALID_QUERY', 'invalid rule statistics range', errors);
  return { from: start, to: end };
}
