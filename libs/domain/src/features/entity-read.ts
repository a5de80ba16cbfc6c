import type { RiskEvent } from '../events/risk-event';
import { formatEventTime } from '../events/event-time';
import type { FieldError } from '../shared/errors';
import { entityFields, type FeatureValue } from './feature-definition';
import type { EntityFeatures, EntityReadOutcome } from './feature-store';
import { applyEventToEntity, emptyEntityState, entityKey, windowAggregate, type EntityGroup, type EntityState } from './entity-features';
import { countDistinct, upperBound, type Series } from './window-series';

/**
 * Investigation reads over the live state (docs/investigation.md), with the
 * one implementation of the feature semantics (entity-features.ts). Nothing
 * here changes a state it is given: previews work on copies.
 */

/** Entity values are SPEC §1 / declared strings (≤ 128 characters each); a composite holds two and its length prefix. */
const MAX_ENTITY_VALUE = 2 * 128 + 5;

/**
 * Checks an entity value from a URL against its key. A composite key's value
 * is the form its state is stored under (docs/features.md): `5:alice|dev-1`
 * for user `alice` and device `dev-1`.
 */
export function checkEntityValue(entity: string, value: string): FieldError[] {
  if (value.length === 0 || value.length > MAX_ENTITY_VALUE)
    return [{ path: 'value', message: `must be 1–${MAX_ENTITY_VALUE} characters` }];
  if (entityFields(entity).length === 1) return [];
  const match = /^(\d{1,3}):/.exec(value);
  const length = match === null ? -1 : Number(match[1]);
  const bar = match === null ? -1 : match[0].length + length;
  if (match === null || length < 1 || bar >= value.length || value[bar] !== '|' || bar + 1 === value.length) {
    return [
      {
        path: 'value',
        message: `a value of ${entity} is <length of the first>:<first>|<second>, e.g. 5:alice|dev-1`,
      },
    ];
  }
  return [];
}

/** What a store gives {@link readEntity}: the group of the key, and the entity's state when it has one. */
export function readEntity(
  groups: readonly EntityGroup[],
  entity: string,
  value: string,
  stateOf: (group: EntityGroup, index: number) => EntityState | undefined,
): EntityReadOutcome {
  const index = groups.findIndex((g) => g.entity === entity);
  if (index < 0) return { kind: 'unknown-key', keys: groups.map((g) => g.entity) };
  const errors = checkEntityValue(entity, value);
  if (errors.length > 0) return { kind: 'invalid-value', errors };
  const state = stateOf(groups[index], index);
  const found = state === undefined ? undefined : entityFeatures(groups[index], state, value);
  return found === undefined ? { kind: 'not-found' } : { kind: 'found', entity: found };
}

/**
 * The event_time of the entity's latest event that took part in one of its
 * features: the greatest time its state holds. Not `state.newest`, which the
 * memory store moves for every event while Redis writes an entity back only
 * when an event entered it: the stored entries are what both backends agree on.
 */
function latestStoredTime(state: EntityState): number | undefined {
  let latest: number | undefined;
  for (const series of state.series) {
    const n = series?.times.length ?? 0;
    if (n > 0 && (latest === undefined || series!.times[n - 1] > latest)) latest = series!.times[n - 1];
  }
  for (const known of state.latest) if (known !== undefined && (latest === undefined || known.time > latest)) latest = known.time;
  return latest;
}

/**
 * The entity's windowed features at t, the time of its latest event that
 * took part in one of its features, computed from its state without an
 * event: each window is (t − W, t], as that event saw it (`since_last` counts
 * from the event before it, as that event did). Undefined when the state
 * holds nothing (no event of the entity took part in any feature).
 */
export function entityFeatures(group: EntityGroup, state: EntityState, value: string): EntityFeatures | undefined {
  const t = latestStoredTime(state);
  if (t === undefined) return undefined;
  const features: Record<string, FeatureValue> = {};
  group.windowed.forEach((slot, i) => {
    features[slot.definition.name] = windowAt(slot, state.series[i], t);
  });
  const latest: Record<string, { value: string | number; event_time: string } | null> = {};
  group.changed.forEach((slot, i) => {
    const known = state.latest[i];
    latest[slot.definition.name] = known === undefined ? null : { value: known.value, event_time: formatEventTime(known.time) };
  });
  return { entity: group.entity, value, as_of: formatEventTime(t), features, latest_values: latest };
}

function windowAt(slot: EntityGroup['windowed'][number], series: Series | undefined, t: number): number {
  if (series === undefined || series.times.length === 0) return slot.emptyValue;
  const { times, values } = series;
  // Entries at or before (newest entry − horizon) count as trimmed, as in windowedValue.
  const horizon = times[times.length - 1] - slot.horizonMs;
  const end = upperBound(times, t);
  const start = upperBound(times, Math.max(t - slot.definition.windowMs, horizon));
  switch (slot.definition.aggregate) {
    case 'count':
      return end - start;
    case 'sum': {
      let sum = 0;
      for (let i = start; i < end; i++) sum += values[i] as number;
      return sum;
    }
    case 'distinct':
      return countDistinct(values, start, end);
    default:
      return windowAggregate(slot, series, start, end, t, end > start && times[end - 1] === t);
  }
}

/**
 * The features `event` would get if it were accepted now, from the live
 * states `stateOf` returns, WITHOUT changing them: each state is copied and
 * the event applied to the copy. No acceptance either (no dedup record, no
 * watermark): the event is computed as if new and not late.
 */
export function previewFeatures(
  groups: readonly EntityGroup[],
  event: RiskEvent,
  values: FeatureValue[],
  stateOf: (group: EntityGroup, index: number, key: string) => EntityState | undefined,
): void {
  groups.forEach((group, index) => {
    const key = entityKey(group, event);
    if (key === undefined) {
      applyEventToEntity(group, undefined, event, values);
      return;
    }
    const live = stateOf(group, index, typeof key === 'string' ? key : String(key));
    applyEventToEntity(group, live === undefined ? emptyEntityState(group, event.event_time) : copyState(live), event, values);
  });
}

/** A deep copy: applying an event to it leaves the original as it was. */
export function copyState(state: EntityState): EntityState {
  return {
    series: state.series.map((s) =>
      s === undefined
        ? undefined
        : {
            times: s.times.slice(),
            values: s.values.slice(),
            sliding: s.sliding === undefined ? undefined : { counts: new Map(s.sliding.counts), start: s.sliding.start },
          },
    ),
    latest: state.latest.map((l) => (l === undefined ? undefined : { value: l.value, time: l.time })),
    newest: state.newest,
  };
}
