import { createHash } from 'node:crypto';
import type { EventField, RiskEvent } from '../events/risk-event';
import type { FeatureAggregate, FeatureDefinition, FeatureValue } from './feature-definition';
import type { StateSettings } from './feature-store';
import {
  countDistinct,
  insertSorted,
  SLIDING_THRESHOLD,
  slidingOf,
  TRIM_BATCH,
  trim,
  upperBound,
  upperBoundFrom,
  type Series,
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
}

/** One entity field (user_id, ip_address, ...) and the features keyed on it. */
export interface EntityGroup {
  readonly entity: EventField;
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
  const { name, entity, aggregate, field, eventTypes, windowMs } = definition;
  return createHash('sha1')
    .update(JSON.stringify([name, entity, aggregate, field ?? null, eventTypes ?? null, windowMs]))
    .digest('hex')
    .slice(0, 8);
}

/** Groups the definitions by entity field, in order of first appearance. */
export function buildEntityGroups(definitions: readonly FeatureDefinition[], settings: StateSettings): EntityGroup[] {
  const byEntity = new Map<EventField, { windowed: FeatureSlot[]; changed: FeatureSlot[] }>();
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
    };
    (definition.aggregate === 'changed' ? group.changed : group.windowed).push(slot);
  });
  return [...byEntity].map(([entity, { windowed, changed }]) => {
    const windowRetentionMs = Math.max(0, ...windowed.map((s) => s.horizonMs));
    const retentionMs = Math.max(windowRetentionMs, changed.length > 0 ? settings.latestValueRetentionMs : 0);
    return { entity, windowed, changed, retentionMs, windowRetentionMs };
  });
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
    for (const slot of group.windowed) values[slot.output] = 0;
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
 * An empty series, from one array literal per aggregate: V8 keeps the
 * elements kind an array literal's arrays end up with per literal, and one
 * literal for all would give every series the generic kind of the distinct
 * features' strings, boxing each summed amount in its own heap object.
 */
function newSeries(aggregate: FeatureAggregate): Series {
  if (aggregate === 'sum') return { times: [], values: [], sliding: undefined };
  if (aggregate === 'count') return { times: [], values: [], sliding: undefined };
  return { times: [], values: [], sliding: undefined };
}

function hasType(types: readonly string[], type: string): boolean {
  for (let i = 0; i < types.length; i++) if (types[i] === type) return true;
  return false;
}

/** Also counts, in `tally`, the series it creates and the entries it inserts and trims. */
function windowedValue(slot: FeatureSlot, state: EntityState, index: number, event: RiskEvent, tally: StateTally | undefined): number {
  const { definition } = slot;
  const t = event.event_time;
  let series = state.series[index];
  const field = definition.field;
  const value = field === undefined ? 0 : event[field];
  const takesPart =
    (slot.typeList === undefined || hasType(slot.typeList, event.event_type)) &&
    (definition.aggregate !== 'distinct' || value !== undefined);
  if (takesPart) {
    stored = true;
    if (series === undefined) {
      series = state.series[index] = newSeries(definition.aggregate);
      if (tally !== undefined) tally.series++;
    }
    const entry = definition.aggregate === 'sum' ? ((value as number | undefined) ?? 0) : (value as string | number);
    insertSorted(series, t, entry, definition.windowMs);
    if (tally !== undefined) tally.entries++;
  }
  if (series === undefined) return 0;

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
    result = !takesPart ? 0 : definition.aggregate === 'sum' ? ((value as number | undefined) ?? 0) : 1;
  } else {
    const end = upperBound(times, t);
    const start = upperBound(times, Math.max(t - definition.windowMs, horizon));
    if (definition.aggregate === 'count') result = end - start;
    else if (definition.aggregate === 'sum') {
      let sum = 0;
      for (let i = start; i < end; i++) sum += values[i] as number;
      result = sum;
    } else {
      result = countDistinct(values, start, end);
      // A large window of the newest event (a shared device, a busy IP): from
      // now on keep its multiset up to date instead of rescanning it.
      if (t === newest && end - start > SLIDING_THRESHOLD) series.sliding = slidingOf(values, start, end);
    }
  }
  const expired = upperBoundFrom(times, horizon);
  if (expired >= TRIM_BATCH || (expired > 0 && expired * 2 >= times.length)) {
    trim(series, expired);
    if (tally !== undefined) tally.entries -= expired;
  }
  return result;
}

function changedValue(slot: FeatureSlot, state: EntityState, index: number, event: RiskEvent): boolean {
  const value = event[slot.definition.field!];
  if (value === undefined) return false;
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
