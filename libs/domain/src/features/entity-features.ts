import { createHash } from 'node:crypto';
import { EVENT_FIELDS, type DeclaredValue, type EventField, type RiskEvent } from '../events/risk-event';
import { eventFieldReader, type EventFieldReader } from '../events/declared-fields';
import {
  emptyFeatureValue,
  entityFields,
  NO_PREVIOUS_EVENT,
  type FeatureAggregate,
  type FeatureDefinition,
  type FeatureValue,
} from './feature-definition';
import type { StateSettings } from './feature-store';
import {
  countDistinct,
  countDistinctFromSliding,
  insertSorted,
  insertTime,
  NO_VALUES,
  SLIDING_THRESHOLD,
  slidingOf,
  TRIM_BATCH,
  trim,
  upperBound,
  upperBoundFrom,
  type Series,
  type SeriesValues,
} from './window-series';

/**
 * The one implementation of the feature semantics (SPEC §3) for one entity:
 * every backend keeps an {@link EntityState} per entity key, however it
 * stores it (a Map in process memory, a compare-and-set blob in Redis), and
 * calls {@link applyEventToEntity} for each accepted event in order.
 */

export interface LatestValue {
  value: string | number;
  time: number;
}

/** All state of one entity key (one user, one IP, one device). */
export interface EntityState {
  /** One slot per windowed feature of the entity's group (undefined: no entry yet). */
  readonly series: (Series | undefined)[];
  /** One slot per `changed` feature of the group. */
  readonly latest: (LatestValue | undefined)[];
  /** Newest event_time seen for this key (idle expiry). */
  newest: number;
}

export interface FeatureSlot {
  readonly definition: FeatureDefinition;
  /** Stable fingerprint of the definition: backends key stored state by it. */
  readonly id: string;
  /** Position in the feature vector (definition order). */
  readonly output: number;
  /** Entries at or before (newest − horizon) can no longer fall in any non-late window. */
  readonly horizonMs: number;
  readonly types: ReadonlySet<string> | undefined;
  /** The same event types as a list: a few `===` are cheaper than a Set lookup per event. */
  readonly typeList: readonly string[] | undefined;
  /** The value when the entity key is absent or the entity has no entry yet (0; -1 for since_last). */
  readonly emptyValue: number;
  /** Only events carrying the field take part (distinct, min, max, avg). */
  readonly needsValue: boolean;
  /** What its series' values hold: none for the aggregates of times only, which keep no values. */
  readonly values: SeriesValues;
  /** Reads the aggregated field (resolved once); undefined for count. */
  readonly read: EventFieldReader | undefined;
  /**
   * The aggregated field when it is one of SPEC §1's: read by `specValue`,
   * a named property load, where a call of `read` (a different closure per field at
   * one call site) measurably slows the default features.
   */
  readonly specField: EventField | undefined;
  /** The `where` conditions, each field's reader resolved once; undefined when none. */
  readonly where: readonly SlotFilter[] | undefined;
}

export interface SlotFilter {
  readonly read: EventFieldReader;
  readonly values: readonly DeclaredValue[];
}

/** One entity field (user_id, ip_address, a declared field, ...) and the features keyed on it. */
export interface EntityGroup {
  readonly entity: string;
  /** Reads the entity key of an event (resolved once). */
  readonly readKey: EventFieldReader;
  /** The entity field when it is one of SPEC §1's (see FeatureSlot.specField); `entityKey` reads either. */
  readonly specKey: EventField | undefined;
  readonly windowed: readonly FeatureSlot[];
  readonly changed: readonly FeatureSlot[];
  /** How long an idle key must be kept: its longest horizon, or the latest-value retention. */
  readonly retentionMs: number;
  /** Longest windowed horizon: after it, only latest values (`changed`) remain useful. */
  readonly windowRetentionMs: number;
}

/** Counters a backend may keep of what its states hold (memory budget). */
export interface StateTally {
  entries: number;
  series: number;
}

/**
 * State is keyed by a fingerprint of the definition: a feature redefined
 * (other window, filter or field) starts from empty state instead of reading
 * series built for another meaning, and every other feature keeps its state.
 */
export function featureId(definition: FeatureDefinition): string {
  const { name, entity, aggregate, field, eventTypes, where, windowMs } = definition;
  const fingerprint: unknown[] = [name, entity, aggregate, field ?? null, eventTypes ?? null, windowMs];
  // Added only when present: the ids of features without filters stay those already stored.
  if (where !== undefined) fingerprint.push(where.map((f) => [f.field, f.values]));
  return createHash('sha1').update(JSON.stringify(fingerprint)).digest('hex').slice(0, 8);
}

/** Groups the definitions by entity field, in order of first appearance. */
export function buildEntityGroups(definitions: readonly FeatureDefinition[], settings: StateSettings): EntityGroup[] {
  const byEntity = new Map<string, { windowed: FeatureSlot[]; changed: FeatureSlot[] }>();
  definitions.forEach((definition, output) => {
    let group = byEntity.get(definition.entity);
    if (group === undefined) byEntity.set(definition.entity, (group = { windowed: [], changed: [] }));
    const slot: FeatureSlot = {
      definition,
      id: featureId(definition),
      output,
      horizonMs: definition.windowMs + settings.allowedLatenessMs,
      types: definition.eventTypes === undefined ? undefined : new Set(definition.eventTypes),
      typeList: definition.eventTypes === undefined ? undefined : [...new Set(definition.eventTypes)],
      emptyValue: definition.aggregate === 'changed' ? 0 : (emptyFeatureValue(definition) as number),
      needsValue: ['distinct', 'min', 'max', 'avg'].includes(definition.aggregate),
      values: seriesValues(definition.aggregate),
      read: definition.field === undefined ? undefined : eventFieldReader(definition.field),
      specField: specField(definition.field),
      where: definition.where?.map((f) => ({ read: eventFieldReader(f.field), values: f.values })),
    };
    (definition.aggregate === 'changed' ? group.changed : group.windowed).push(slot);
  });
  return [...byEntity].map(([entity, { windowed, changed }]) => {
    const windowRetentionMs = Math.max(0, ...windowed.map((s) => s.horizonMs));
    const retentionMs = Math.max(windowRetentionMs, changed.length > 0 ? settings.latestValueRetentionMs : 0);
    return { entity, readKey: keyReader(entity), specKey: specField(entity), windowed, changed, retentionMs, windowRetentionMs };
  });
}

/**
 * The reader of an entity key. A composite key's value is both fields' values,
 * absent when either is: `<length of the first>:<first>|<second>`, e.g.
 * `5:alice|dev-1` (the length keeps it unambiguous whatever the values hold).
 */
function keyReader(entity: string): EventFieldReader {
  const fields = entityFields(entity);
  if (fields.length === 1) return eventFieldReader(entity);
  const first = eventFieldReader(fields[0]);
  const second = eventFieldReader(fields[1]);
  return (event) => {
    const a = first(event);
    if (a === undefined) return undefined;
    const b = second(event);
    if (b === undefined) return undefined;
    const text = String(a);
    return `${text.length}:${text}|${String(b)}`;
  };
}

function seriesValues(aggregate: FeatureAggregate): SeriesValues {
  if (aggregate === 'count' || aggregate === 'first_seen_age' || aggregate === 'since_last') return 'none';
  return aggregate === 'distinct' ? 'any' : 'numbers';
}

function specField(name: string | undefined): EventField | undefined {
  return (EVENT_FIELDS as readonly (string | undefined)[]).includes(name) ? (name as EventField) : undefined;
}

/** The entity key of an event for `group` (undefined: absent). */
export function entityKey(group: EntityGroup, event: RiskEvent): DeclaredValue | undefined {
  const spec = group.specKey;
  return spec !== undefined ? specValue(event, spec) : group.readKey(event);
}

/**
 * `event[field]` for one of SPEC §1's fields, as a switch of named loads.
 * The keyed load `event[field]`, with a field name that differs from one
 * feature to the next at the same site, is megamorphic in V8: about 900
 * instructions an event over the default features' dozen reads (cachegrind,
 * `Builtins_KeyedLoadIC_Megamorphic`), where each named load here sees the
 * decoder's one event shape, and the cases compare interned names by pointer.
 */
function specValue(event: RiskEvent, field: EventField): string | number | undefined {
  switch (field) {
    case 'user_id':
      return event.user_id;
    case 'device_id':
      return event.device_id;
    case 'location_city':
      return event.location_city;
    case 'ip_address':
      return event.ip_address;
    case 'amount':
      return event.amount;
    case 'event_type':
      return event.event_type;
    case 'event_id':
      return event.event_id;
    default: {
      // A field added to EVENT_FIELDS needs its case here: until it has one, this does not compile.
      const missing: never = field;
      return missing;
    }
  }
}

export function emptyEntityState(group: EntityGroup, newest: number): EntityState {
  return { series: group.windowed.map(() => undefined), latest: group.changed.map(() => undefined), newest };
}

/** Set by the feature functions when the event entered a series or moved a latest value. */
let stored = false;

/**
 * Applies one accepted event to its entity's state and writes the group's
 * feature values into `values` (indexed by definition order). When the
 * event lacks the entity field, writes the empty values and touches nothing:
 * callers then pass `state` undefined.
 *
 * Returns whether the event was stored in the state (it entered a series or
 * moved a latest value). When it was not, only `newest` moved, and a backend
 * that keeps idle entities by a TTL may skip writing the state back.
 */
export function applyEventToEntity(
  group: EntityGroup,
  state: EntityState | undefined,
  event: RiskEvent,
  values: FeatureValue[],
  tally?: StateTally,
): boolean {
  if (state === undefined) {
    for (const slot of group.windowed) values[slot.output] = slot.emptyValue;
    for (const slot of group.changed) values[slot.output] = false;
    return false;
  }
  stored = false;
  const t = event.event_time;
  if (t > state.newest) state.newest = t;
  const windowed = group.windowed;
  for (let i = 0; i < windowed.length; i++) values[windowed[i].output] = windowedValue(windowed[i], state, i, event, tally);
  for (let i = 0; i < group.changed.length; i++) values[group.changed[i].output] = changedValue(group.changed[i], state, i, event);
  return stored;
}

/**
 * Entries of a series that no non-late window can reach any more (at or
 * before newest − horizon): results already ignore them, so a backend may
 * drop them whenever it likes. Returns how many lead the series.
 */
export function expiredEntries(slot: FeatureSlot, series: Series): number {
  const { times } = series;
  return times.length === 0 ? 0 : upperBoundFrom(times, times[times.length - 1] - slot.horizonMs);
}

/**
 * An empty series, from one array literal per kind of values: V8 keeps the
 * elements kind an array literal's arrays end up with per literal, and one
 * literal for all would give every series the generic kind of the distinct
 * features' strings, boxing each summed amount in its own heap object.
 * Series of times only share one empty `values`: one array fewer per series.
 */
function newSeries(kind: SeriesValues): Series {
  if (kind === 'none') return { times: [], values: NO_VALUES, sliding: undefined };
  if (kind === 'numbers') return { times: [], values: [], sliding: undefined };
  return { times: [], values: [], sliding: undefined };
}

function hasType(types: readonly string[], type: string): boolean {
  for (let i = 0; i < types.length; i++) if (types[i] === type) return true;
  return false;
}

/** Every condition holds: the field is present and one of its values. */
function meets(where: readonly SlotFilter[], event: RiskEvent): boolean {
  for (let i = 0; i < where.length; i++) {
    const value = where[i].read(event);
    if (value === undefined) return false;
    const values = where[i].values;
    let found = false;
    for (let j = 0; j < values.length; j++) {
      if (values[j] === value) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

/** Also counts, in `tally`, the series it creates and the entries it inserts and trims. */
function windowedValue(slot: FeatureSlot, state: EntityState, index: number, event: RiskEvent, tally: StateTally | undefined): number {
  const { definition } = slot;
  const t = event.event_time;
  let series = state.series[index];
  const spec = slot.specField;
  const read = slot.read;
  const value = spec !== undefined ? specValue(event, spec) : read === undefined ? 0 : (read(event) as string | number | undefined);
  const takesPart =
    (slot.typeList === undefined || hasType(slot.typeList, event.event_type)) &&
    (!slot.needsValue || value !== undefined) &&
    (slot.where === undefined || meets(slot.where, event));
  if (takesPart) {
    stored = true;
    if (series === undefined) {
      series = state.series[index] = newSeries(slot.values);
      if (tally !== undefined) tally.series++;
    }
    if (slot.values === 'none') insertTime(series.times, t);
    else {
      const entry = definition.aggregate === 'sum' ? ((value as number | undefined) ?? 0) : (value as string | number);
      insertSorted(series, t, entry, definition.windowMs);
    }
    if (tally !== undefined) tally.entries++;
  }
  if (series === undefined) return slot.emptyValue;

  const { times, values } = series;
  const newest = times[times.length - 1];
  // Entries at or before (newest − horizon) count as trimmed even while they
  // are still physically present: trimming is amortised, results are not.
  const horizon = newest - slot.horizonMs;
  let result: number;
  if (series.sliding !== undefined && t === newest) {
    result = series.sliding.counts.size;
  } else if (t <= horizon) {
    // A late event older than everything still kept: it sees only itself,
    // exactly as if it had been inserted into already-trimmed state.
    result = !takesPart ? slot.emptyValue : ownValue(definition.aggregate, value);
  } else {
    const end = upperBound(times, t);
    const start = upperBound(times, Math.max(t - definition.windowMs, horizon));
    if (definition.aggregate === 'count') result = end - start;
    else if (definition.aggregate === 'sum') {
      let sum = 0;
      for (let i = start; i < end; i++) sum += values[i] as number;
      result = sum;
    } else if (definition.aggregate !== 'distinct') {
      result = windowAggregate(slot, series, start, end, t, takesPart);
    } else {
      // An out-of-order event of a key with a large newest window: from its multiset when cheaper.
      result = series.sliding === undefined ? -1 : countDistinctFromSliding(values, series.sliding, start, end);
      if (result < 0) {
        result = countDistinct(values, start, end);
        // A large window of the newest event (a shared device, a busy IP): from
        // now on keep its multiset up to date instead of rescanning it.
        if (t === newest && end - start > SLIDING_THRESHOLD) series.sliding = slidingOf(values, start, end);
      }
    }
  }
  const expired = upperBoundFrom(times, horizon);
  if (expired >= TRIM_BATCH || (expired > 0 && expired * 2 >= times.length)) {
    trim(series, expired, slot.values);
    if (tally !== undefined) tally.entries -= expired;
  }
  return result;
}

/** A windowed feature of an event that sees only itself (a late event older than all kept state). */
function ownValue(aggregate: FeatureAggregate, value: string | number | undefined): number {
  if (aggregate === 'sum') return (value as number | undefined) ?? 0;
  if (aggregate === 'min' || aggregate === 'max' || aggregate === 'avg') return value as number;
  if (aggregate === 'first_seen_age') return 0;
  if (aggregate === 'since_last') return NO_PREVIOUS_EVENT;
  return 1;
}

/**
 * min, max, avg, first_seen_age and since_last over the window's entries
 * [start, end) (sorted by event time, ties in arrival order). When the event
 * took part it is the entry at end − 1: it was inserted after every equal time.
 */
export function windowAggregate(
  slot: FeatureSlot,
  { times, values }: Series,
  start: number,
  end: number,
  t: number,
  takesPart: boolean,
): number {
  switch (slot.definition.aggregate) {
    case 'min': {
      if (start >= end) return 0;
      let min = values[start] as number;
      for (let i = start + 1; i < end; i++) if ((values[i] as number) < min) min = values[i] as number;
      return min;
    }
    case 'max': {
      if (start >= end) return 0;
      let max = values[start] as number;
      for (let i = start + 1; i < end; i++) if ((values[i] as number) > max) max = values[i] as number;
      return max;
    }
    case 'avg': {
      if (start >= end) return 0;
      let sum = 0;
      for (let i = start; i < end; i++) sum += values[i] as number;
      return sum / (end - start);
    }
    case 'first_seen_age':
      return start < end ? t - times[start] : 0;
    case 'since_last': {
      const previous = takesPart ? end - 2 : end - 1;
      return previous >= start ? t - times[previous] : NO_PREVIOUS_EVENT;
    }
    default:
      throw new Error(`not a window aggregate: ${slot.definition.aggregate}`);
  }
}

function changedValue(slot: FeatureSlot, state: EntityState, index: number, event: RiskEvent): boolean {
  // Booleans are refused for `changed` fields (parseFeatureDefinitions).
  const spec = slot.specField;
  const value = spec !== undefined ? specValue(event, spec) : (slot.read!(event) as string | number | undefined);
  if (value === undefined) return false;
  if (slot.typeList !== undefined && !hasType(slot.typeList, event.event_type)) return false;
  if (slot.where !== undefined && !meets(slot.where, event)) return false;
  const known = state.latest[index];
  const t = event.event_time;
  if (known === undefined) {
    state.latest[index] = { value, time: t };
    stored = true;
    return false;
  }
  const changed = known.value !== value;
  // Ties go to the later arrival (SPEC §3).
  if (t >= known.time) {
    stored = true;
    known.value = value;
    known.time = t;
  }
  return changed;
}
