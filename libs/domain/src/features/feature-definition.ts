import { InvalidInputError, type FieldError } from '../shared/errors';
import { parseDuration } from '../shared/duration';
import type { DeclaredValue } from '../events/risk-event';
import type { DeclaredField, DeclaredFieldType } from '../events/declared-fields';

export type FeatureAggregate = 'count' | 'distinct' | 'sum' | 'changed' | 'min' | 'max' | 'avg' | 'first_seen_age' | 'since_last';

/** One `where` condition: the event's `field` holds one of `values` (absent fails). */
export interface FieldFilter {
  readonly field: string;
  readonly values: readonly DeclaredValue[];
}

/**
 * One feature, declared as data in `rules/features.json` (SPEC §3).
 * - count:    events of the entity in the window (optionally filtered by type)
 * - distinct: distinct non-empty `field` values in the window
 * - sum:      sum of `field` (absent = 0) in the window
 * - changed:  the event's `field` differs from the entity's latest known one
 * - min, max, avg: of a numeric `field` in the window (events without it do not take part; empty: 0)
 * - first_seen_age: ms from the earliest event in the window to the event (empty: 0)
 * - since_last: ms since the previous event in the window, by event time (none: -1)
 * (docs/features.md has the exact table.)
 */
export interface FeatureDefinition {
  readonly name: string;
  /**
   * A string field, SPEC §1's or a declared one (docs/fields.md), or a
   * composite of two such fields written `a+b` (`["user_id", "device_id"]`
   * in features.json; see {@link entityFields}).
   */
  readonly entity: string;
  readonly aggregate: FeatureAggregate;
  readonly field: string | undefined;
  /** Only events of these types take part; `undefined` means all types. */
  readonly eventTypes: readonly string[] | undefined;
  /** Only events meeting every condition take part; `undefined` means no condition. */
  readonly where?: readonly FieldFilter[];
  /** Window length in ms; 0 for `changed`. */
  readonly windowMs: number;
  /** Free text for people (GET /features); not part of the definition's identity (`featureId`). */
  readonly description?: string;
}

export type FeatureValue = number | boolean;
/** Feature values keyed by feature name, in definition order. */
export type FeatureValues = Record<string, FeatureValue>;

const NAME = /^[a-z][a-z0-9_]{0,63}$/;
/**
 * Longest window: a year and a day. Longer ones hold no fraud signal, and an
 * unbounded one (`99999999999999999999d`, now reachable through PUT /features)
 * would overflow the state's retention and Redis TTLs.
 */
export const MAX_WINDOW_MS = 366 * 86_400_000;
/**
 * Different entity keys (fields, or composites of two) one feature set may
 * name: each is looked up, read and written per event, and the Redis store's
 * write script numbers them in 6 bits (redis-feature.scripts.ts).
 */
export const MAX_ENTITY_KEYS = 63;
const AGGREGATES: readonly FeatureAggregate[] = [
  'count',
  'distinct',
  'sum',
  'changed',
  'min',
  'max',
  'avg',
  'first_seen_age',
  'since_last',
];
/** Aggregates over a numeric field. */
const NUMERIC: readonly string[] = ['sum', 'min', 'max', 'avg'];
/** Aggregates that read a field. */
const WITH_FIELD: readonly string[] = ['distinct', 'sum', 'changed', 'min', 'max', 'avg'];

/** The types of SPEC §1's fields a feature may name (event_time is the window's own axis). */
const SPEC_FIELD_TYPES: Readonly<Record<string, DeclaredFieldType>> = {
  event_id: 'string',
  user_id: 'string',
  event_type: 'string',
  ip_address: 'string',
  device_id: 'string',
  location_city: 'string',
  amount: 'number',
};

/**
 * Validates the JSON of `rules/features.json` (`{ "features": [...] }` or a
 * bare array). `declared` are the declared event fields (`rules/fields.json`):
 * entities, fields and filters may name them as well as SPEC §1's fields.
 */
export function parseFeatureDefinitions(json: unknown, declared: readonly DeclaredField[] = []): FeatureDefinition[] {
  const types = new Map<string, DeclaredFieldType>(Object.entries(SPEC_FIELD_TYPES));
  for (const field of declared) types.set(field.name, field.type);
  const names = [...types.keys()].join(', ');
  const ofType = (wanted: readonly DeclaredFieldType[]): string =>
    [...types]
      .filter(([, type]) => wanted.includes(type))
      .map(([name]) => name)
      .join(', ');
  const list = Array.isArray(json) ? json : (json as { features?: unknown } | null)?.features;
  const errors: FieldError[] = [];
  if (!Array.isArray(list)) {
    throw new InvalidInputError('INVALID_FEATURES', 'features file must hold a "features" array', [
      { path: 'features', message: 'must be an array' },
    ]);
  }
  const seen = new Set<string>();
  const entityKeys = new Set<string>();
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
    let entity = raw.entity;
    if (Array.isArray(entity)) {
      // A composite key of two string fields.
      const parts: unknown[] = entity;
      if (parts.length !== 2 || parts[0] === parts[1]) {
        errors.push({ path: `${at}.entity`, message: 'a composite entity must name two different fields' });
      }
      parts.forEach((part, i) => {
        if (typeof part !== 'string' || types.get(part) !== 'string') {
          errors.push({ path: `${at}.entity[${i}]`, message: `must be one of ${ofType(['string'])} (a string field)` });
        }
      });
      entity = parts.join(COMPOSITE);
    } else if (typeof entity !== 'string' || types.get(entity) !== 'string') {
      errors.push({ path: `${at}.entity`, message: `must be one of ${ofType(['string'])} (a string field)` });
    }
    const aggregate = raw.aggregate;
    if (!AGGREGATES.includes(aggregate as FeatureAggregate)) {
      errors.push({ path: `${at}.aggregate`, message: `must be one of ${AGGREGATES.join(', ')}` });
    }
    const field = raw.field;
    const needsField = WITH_FIELD.includes(aggregate as string);
    const fieldType = typeof field === 'string' ? types.get(field) : undefined;
    if (needsField && fieldType === undefined) errors.push({ path: `${at}.field`, message: `must be one of ${names}` });
    else if (!needsField && field !== undefined)
      errors.push({ path: `${at}.field`, message: `is not used by aggregate "${String(aggregate)}"` });
    else if (NUMERIC.includes(aggregate as string) && fieldType !== 'number')
      errors.push({ path: `${at}.field`, message: `${String(aggregate)} needs a numeric field: one of ${ofType(['number'])}` });
    else if (needsField && fieldType === 'boolean')
      errors.push({ path: `${at}.field`, message: `${String(aggregate)} needs a string or number field` });
    const eventTypes = raw.event_types;
    if (
      eventTypes !== undefined &&
      (!Array.isArray(eventTypes) || eventTypes.length === 0 || !eventTypes.every((t) => typeof t === 'string'))
    ) {
      errors.push({ path: `${at}.event_types`, message: 'must be a non-empty array of event types' });
    }
    const where = parseWhere(raw.where, `${at}.where`, types, errors);
    let windowMs = 0;
    if (aggregate === 'changed') {
      if (raw.window !== undefined) errors.push({ path: `${at}.window`, message: '"changed" has no window' });
    } else {
      try {
        windowMs = parseDuration(raw.window as string);
        if (windowMs <= 0 || windowMs > MAX_WINDOW_MS) throw new Error('out of range');
      } catch {
        errors.push({ path: `${at}.window`, message: 'must be a positive duration up to 366d, such as 10m, 1h, 24h' });
      }
    }
    for (const key of Object.keys(raw)) {
      if (!['name', 'entity', 'aggregate', 'field', 'event_types', 'where', 'window', 'description'].includes(key)) {
        errors.push({ path: `${at}.${key}`, message: 'unknown property' });
      }
    }
    if (errors.length === before && !entityKeys.has(entity as string) && entityKeys.size >= MAX_ENTITY_KEYS) {
      errors.push({ path: `${at}.entity`, message: `a feature set may key its features on at most ${MAX_ENTITY_KEYS} different entities` });
    }
    if (errors.length > before) return;
    seen.add(name as string);
    entityKeys.add(entity as string);
    definitions.push({
      name: name as string,
      entity: entity as string,
      aggregate: aggregate as FeatureAggregate,
      field: field as string | undefined,
      eventTypes: eventTypes as string[] | undefined,
      where,
      windowMs,
      ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
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

/**
 * `where`: a non-empty array of `{ "field": f, "in": [v, ...] }` or
 * `{ "field": f, "equals": v }`, each value of the field's type.
 */
function parseWhere(
  raw: unknown,
  at: string,
  types: ReadonlyMap<string, DeclaredFieldType>,
  errors: FieldError[],
): FieldFilter[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw) || raw.length === 0) {
    errors.push({ path: at, message: 'must be a non-empty array of conditions' });
    return undefined;
  }
  const filters: FieldFilter[] = [];
  raw.forEach((item: unknown, index) => {
    const path = `${at}[${index}]`;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      errors.push({ path, message: 'must be an object such as { "field": "channel", "in": ["web"] }' });
      return;
    }
    const condition = item as Record<string, unknown>;
    const field = condition.field;
    const type = typeof field === 'string' ? types.get(field) : undefined;
    if (type === undefined) errors.push({ path: `${path}.field`, message: `must be one of ${[...types.keys()].join(', ')}` });
    for (const key of Object.keys(condition)) {
      if (!['field', 'in', 'equals'].includes(key)) errors.push({ path: `${path}.${key}`, message: 'unknown property' });
    }
    const hasIn = condition.in !== undefined;
    const hasEquals = condition.equals !== undefined;
    if (hasIn === hasEquals) {
      errors.push({ path, message: 'must have exactly one of "in" or "equals"' });
      return;
    }
    const values: unknown[] = hasIn ? (Array.isArray(condition.in) ? condition.in : []) : [condition.equals];
    if (hasIn && values.length === 0) {
      errors.push({ path: `${path}.in`, message: 'must be a non-empty array of values' });
      return;
    }
    if (type === undefined) return;
    const bad = values.findIndex((v) => typeof v !== type || (type === 'string' && v === '') || (type === 'number' && !Number.isFinite(v)));
    if (bad >= 0) {
      errors.push({ path: hasIn ? `${path}.in[${bad}]` : `${path}.equals`, message: `must be a ${type}, as ${String(field)} is` });
      return;
    }
    filters.push({ field: field as string, values: [...new Set(values as DeclaredValue[])] });
  });
  return filters;
}

/** The value a feature takes when its entity key is absent from the event. */
export function emptyFeatureValue(definition: FeatureDefinition): FeatureValue {
  return definition.aggregate === 'changed' ? false : definition.aggregate === 'since_last' ? NO_PREVIOUS_EVENT : 0;
}

/** Joins the fields of a composite entity (`user_id+device_id`): field names cannot hold it. */
export const COMPOSITE = '+';

/** The fields of an entity: one, or the two of a composite key. */
export function entityFields(entity: string): string[] {
  return entity.split(COMPOSITE);
}

/** `since_last` when the window holds no earlier event (the entity's first, or first in the window). */
export const NO_PREVIOUS_EVENT = -1;
