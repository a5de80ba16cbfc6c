import { InvalidInputError, type FieldError } from '../shared/errors';
import { parseDuration } from '../shared/duration';
import { EVENT_FIELDS, type EventField } from '../events/risk-event';

export type FeatureAggregate = 'count' | 'distinct' | 'sum' | 'changed';

/**
 * One feature, declared as data in `rules/features.json` (SPEC §3).
 * - count:    events of the entity in the window (optionally filtered by type)
 * - distinct: distinct non-empty `field` values in the window
 * - sum:      sum of `field` (absent = 0) in the window
 * - changed:  the event's `field` differs from the entity's latest known one
 */
export interface FeatureDefinition {
  readonly name: string;
  readonly entity: EventField;
  readonly aggregate: FeatureAggregate;
  readonly field: EventField | undefined;
  /** Only events of these types take part; `undefined` means all types. */
  readonly eventTypes: readonly string[] | undefined;
  /** Window length in ms; 0 for `changed`. */
  readonly windowMs: number;
}

export type FeatureValue = number | boolean;
/** Feature values keyed by feature name, in definition order. */
export type FeatureValues = Record<string, FeatureValue>;

const NAME = /^[a-z][a-z0-9_]{0,63}$/;
const AGGREGATES: readonly FeatureAggregate[] = ['count', 'distinct', 'sum', 'changed'];

/** Validates the JSON of `rules/features.json` (`{ "features": [...] }` or a bare array). */
export function parseFeatureDefinitions(json: unknown): FeatureDefinition[] {
  const list = Array.isArray(json) ? json : (json as { features?: unknown } | null)?.features;
  const errors: FieldError[] = [];
  if (!Array.isArray(list)) {
    throw new InvalidInputError('INVALID_FEATURES', 'features file must hold a "features" array', [
      { path: 'features', message: 'must be an array' },
    ]);
  }
  const seen = new Set<string>();
  const definitions: FeatureDefinition[] = [];
  list.forEach((item: unknown, index) => {
    const at = `features[${index}]`;
    if (item === null || typeof item !== 'object') {
      errors.push({ path: at, message: 'must be an object' });
      return;
    }
    const raw = item as Record<string, unknown>;
    const before = errors.length;
    const name = raw.name;
    if (typeof name !== 'string' || !NAME.test(name)) errors.push({ path: `${at}.name`, message: 'must match ^[a-z][a-z0-9_]{0,63}$' });
    else if (seen.has(name)) errors.push({ path: `${at}.name`, message: `duplicate feature "${name}"` });
    const entity = raw.entity;
    if (!isEventField(entity)) errors.push({ path: `${at}.entity`, message: `must be one of ${EVENT_FIELDS.join(', ')}` });
    const aggregate = raw.aggregate;
    if (!AGGREGATES.includes(aggregate as FeatureAggregate)) {
      errors.push({ path: `${at}.aggregate`, message: `must be one of ${AGGREGATES.join(', ')}` });
    }
    const field = raw.field;
    const needsField = aggregate === 'distinct' || aggregate === 'sum' || aggregate === 'changed';
    if (needsField && !isEventField(field)) errors.push({ path: `${at}.field`, message: `must be one of ${EVENT_FIELDS.join(', ')}` });
    if (!needsField && field !== undefined)
      errors.push({ path: `${at}.field`, message: `is not used by aggregate "${String(aggregate)}"` });
    if (aggregate === 'sum' && field !== 'amount') errors.push({ path: `${at}.field`, message: 'sum needs a numeric field: amount' });
    const eventTypes = raw.event_types;
    if (
      eventTypes !== undefined &&
      (!Array.isArray(eventTypes) || eventTypes.length === 0 || !eventTypes.every((t) => typeof t === 'string'))
    ) {
      errors.push({ path: `${at}.event_types`, message: 'must be a non-empty array of event types' });
    }
    let windowMs = 0;
    if (aggregate === 'changed') {
      if (raw.window !== undefined) errors.push({ path: `${at}.window`, message: '"changed" has no window' });
    } else {
      try {
        windowMs = parseDuration(raw.window as string);
        if (windowMs <= 0) throw new Error('must be positive');
      } catch {
        errors.push({ path: `${at}.window`, message: 'must be a positive duration such as 10m, 1h, 24h' });
      }
    }
    for (const key of Object.keys(raw)) {
      if (!['name', 'entity', 'aggregate', 'field', 'event_types', 'window', 'description'].includes(key)) {
        errors.push({ path: `${at}.${key}`, message: 'unknown property' });
      }
    }
    if (errors.length > before) return;
    seen.add(name as string);
    definitions.push({
      name: name as string,
      entity: entity as EventField,
      aggregate: aggregate as FeatureAggregate,
      field: field as EventField | undefined,
      eventTypes: eventTypes as string[] | undefined,
      windowMs,
    });
  });
  if (errors.length > 0) {
    // The message names every path too: it is what a start-up log or a CLI's stderr shows.
    throw new InvalidInputError(
      'INVALID_FEATURES',
      `invalid feature definitions: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      errors,
    );
  }
  return definitions;
}

function isEventField(value: unknown): value is EventField {
  return typeof value === 'string' && (EVENT_FIELDS as readonly string[]).includes(value);
}

/** The value a feature takes when its entity key is absent from the event. */
export function emptyFeatureValue(definition: FeatureDefinition): FeatureValue {
  return definition.aggregate === 'changed' ? false : 0;
}
