import type { EventField, RiskEvent } from '../events/risk-event';
import type { FeatureDefinition, FeatureValue, FeatureValues } from './feature-definition';
import { featureValuesFactory } from './feature-values-factory';
import { FeatureStore, type StateInput, type StateOutcome, type StateSettings } from './feature-store';
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

interface LatestValue {
  value: string | number;
  time: number;
}

/** All state of one entity key (one user, one IP, one device). */
interface EntityState {
  /** One slot per feature of the entity's group. */
  readonly series: (Series | undefined)[];
  readonly latest: (LatestValue | undefined)[];
  /** Newest event_time seen for this key, for the idle sweep. */
  newest: number;
}

interface FeatureSlot {
  readonly definition: FeatureDefinition;
  /** Position in the feature vector (definition order). */
  readonly output: number;
  /** Entries at or before (newest − horizon) can no longer fall in any non-late window. */
  readonly horizonMs: number;
  readonly types: ReadonlySet<string> | undefined;
}

interface EntityGroup {
  readonly entity: EventField;
  readonly windowed: readonly FeatureSlot[];
  readonly changed: readonly FeatureSlot[];
  readonly byKey: Map<string, EntityState>;
  /** How long an idle key must be kept: its longest horizon. */
  readonly retentionMs: number;
  /** Longest windowed horizon: after it, only latest values (`changed`) remain useful. */
  readonly windowRetentionMs: number;
}

/** First outcome of a message that may be redelivered (it had a message id). */
interface AcceptedRecord {
  readonly messageId: string;
  readonly late: boolean;
  readonly features: FeatureValues;
}

/**
 * Stored for accepted events without a message id (HTTP, replay): they can
 * be duplicated but never redelivered, so their outcome need not be kept
 * alive for the whole dedup retention.
 */
const NO_REDELIVERY = null;

const SWEEP_EVERY = 8192;
/** How often (in events) the state is compared with its memory budget. */
const BUDGET_CHECK_EVERY = 1024;

/**
 * Estimated heap bytes of the state, for the memory budget: the figures
 * `npm run bench` measures, rounded up (an entity with its map entry, key
 * and slots; one series of one feature with its two arrays; one window
 * entry; one remembered event_id with its order slots). Deterministic on purpose: the same input
 * evicts at the same point, whatever the garbage collector is doing.
 */
export const STATE_BYTES = { entity: 100, series: 420, entry: 64, eventId: 160 } as const;

/** What an eviction forgot, cheapest loss first (see {@link MemoryBudget}). */
export type EvictionKind = 'idle' | 'active' | 'dedup';

/**
 * Keeps the estimated state under `bytes`. When a check finds it above, the
 * store first sweeps what is already expired (no outcome changes), then
 * forgets down to 90 % of the budget, in this order:
 * 1. `idle` entities, whose windows have all expired and which are only kept
 *    for their latest device/city (LATEST_VALUE_RETENTION): their next event
 *    cannot report a change. Least recently seen (event time) first.
 * 2. `active` entities, least recently seen first: their window history is lost,
 *    so their next features undercount.
 * 3. `dedup`: the oldest remembered event_ids, which are then accepted again
 *    if resent. Only reached when the event_ids alone outgrow the budget.
 * Under budget nothing is evicted and outcomes are those of an unbounded store.
 */
export interface MemoryBudget {
  readonly bytes: number;
  readonly onEvict?: (kind: EvictionKind, count: number) => void;
}

/**
 * Exact windowed features in process memory: the embedded default and the
 * replay command. Window of length W for an event at t: (t − W, t].
 *
 * Memory stays bounded: per entity, entries older than the entity's newest
 * event minus (W + allowed lateness) are trimmed on write, and entities idle
 * for that long are swept. Within one partition this loses nothing a non-late
 * event can see; across partitions whose event times are skewed by more than
 * the allowed lateness, a shared key (IP, device) may have trimmed entries
 * that a lagging partition would still count (documented in the README).
 */
export class MemoryFeatureStore extends FeatureStore {
  private readonly groups: EntityGroup[] = [];
  private readonly partitionMax = new Map<string, number>();
  private readonly accepted = new Map<string, AcceptedRecord | typeof NO_REDELIVERY>();
  /** event_ids and their event times in acceptance order, for pruning the dedup memory. */
  private acceptedOrder: string[] = [];
  private acceptedTimes: number[] = [];
  private acceptedOrderHead = 0;
  private globalMax = -Infinity;
  private sinceSweep = 0;
  /** Window entries and series held (all entities), for the budget estimate. */
  private entries = 0;
  private seriesCount = 0;
  private readonly makeFeatures: (values: readonly FeatureValue[]) => FeatureValues;
  private readonly scratch: FeatureValue[];

  constructor(
    definitions: readonly FeatureDefinition[],
    private readonly settings: StateSettings,
    private readonly budget?: MemoryBudget,
  ) {
    super();
    this.makeFeatures = featureValuesFactory(definitions);
    this.scratch = definitions.map(() => 0);
    const byEntity = new Map<EventField, { windowed: FeatureSlot[]; changed: FeatureSlot[] }>();
    definitions.forEach((definition, output) => {
      let group = byEntity.get(definition.entity);
      if (group === undefined) byEntity.set(definition.entity, (group = { windowed: [], changed: [] }));
      const slot: FeatureSlot = {
        definition,
        output,
        horizonMs: definition.windowMs + settings.allowedLatenessMs,
        types: definition.eventTypes === undefined ? undefined : new Set(definition.eventTypes),
      };
      (definition.aggregate === 'changed' ? group.changed : group.windowed).push(slot);
    });
    for (const [entity, { windowed, changed }] of byEntity) {
      const windowRetentionMs = Math.max(0, ...windowed.map((s) => s.horizonMs));
      const retentionMs = Math.max(windowRetentionMs, changed.length > 0 ? settings.latestValueRetentionMs : 0);
      this.groups.push({ entity, windowed, changed, byKey: new Map(), retentionMs, windowRetentionMs });
    }
  }

  apply(partition: string, inputs: readonly StateInput[]): Promise<StateOutcome[]> {
    return Promise.resolve(this.applySync(partition, inputs));
  }

  /** Synchronous core, usable directly by in-process callers and tests. */
  applySync(partition: string, inputs: readonly StateInput[]): StateOutcome[] {
    const outcomes = new Array<StateOutcome>(inputs.length);
    for (let i = 0; i < inputs.length; i++) outcomes[i] = this.applyOne(partition, inputs[i]);
    return outcomes;
  }

  async close(): Promise<void> {
    this.accepted.clear();
    this.entries = 0;
    this.seriesCount = 0;
    for (const group of this.groups) group.byKey.clear();
  }

  /** Entities and entries currently held, and their estimated bytes: for tests and metrics. */
  get stateSize(): { entities: number; series: number; entries: number; dedup: number; estimatedBytes: number } {
    const entities = this.entityCount();
    const { entries, seriesCount: series } = this;
    return { entities, series, entries, dedup: this.accepted.size, estimatedBytes: this.estimatedBytes(entities) };
  }

  private entityCount(): number {
    let entities = 0;
    for (const group of this.groups) entities += group.byKey.size;
    return entities;
  }

  private estimatedBytes(entities = this.entityCount()): number {
    return (
      entities * STATE_BYTES.entity +
      this.seriesCount * STATE_BYTES.series +
      this.entries * STATE_BYTES.entry +
      this.accepted.size * STATE_BYTES.eventId
    );
  }

  private applyOne(partition: string, { event, messageId }: StateInput): StateOutcome {
    const previous = this.accepted.get(event.event_id);
    if (previous !== undefined) {
      if (previous !== NO_REDELIVERY && previous.messageId === messageId) {
        return { kind: 'accepted', late: previous.late, features: previous.features, redelivered: true };
      }
      return { kind: 'duplicate' };
    }

    const t = event.event_time;
    const max = this.partitionMax.get(partition);
    const late = max !== undefined && t < max - this.settings.allowedLatenessMs;
    if (max === undefined || t > max) this.partitionMax.set(partition, t);
    if (t > this.globalMax) this.globalMax = t;

    const values = this.scratch;
    for (let g = 0; g < this.groups.length; g++) this.applyToEntity(this.groups[g], event, values);
    const features = this.makeFeatures(values);

    this.accepted.set(event.event_id, messageId === undefined ? NO_REDELIVERY : { messageId, late, features });
    this.acceptedOrder.push(event.event_id);
    this.acceptedTimes.push(t);
    if (++this.sinceSweep >= SWEEP_EVERY) this.sweep();
    if (this.budget !== undefined && this.sinceSweep % BUDGET_CHECK_EVERY === 0) this.enforceBudget(this.budget);
    return { kind: 'accepted', late, features, redelivered: false };
  }

  private applyToEntity(group: EntityGroup, event: RiskEvent, values: FeatureValue[]): void {
    const key = event[group.entity];
    if (key === undefined) {
      for (const slot of group.windowed) values[slot.output] = 0;
      for (const slot of group.changed) values[slot.output] = false;
      return;
    }
    const t = event.event_time;
    let state = group.byKey.get(key as string);
    if (state === undefined) {
      state = { series: group.windowed.map(() => undefined), latest: group.changed.map(() => undefined), newest: t };
      group.byKey.set(key as string, state);
    } else if (t > state.newest) state.newest = t;
    for (let i = 0; i < group.windowed.length; i++) {
      const slot = group.windowed[i];
      const before = state.series[i];
      const entriesBefore = before?.times.length ?? 0;
      values[slot.output] = windowedValue(slot, state, i, event);
      const after = state.series[i];
      this.entries += (after?.times.length ?? 0) - entriesBefore;
      if (before === undefined && after !== undefined) this.seriesCount++;
    }
    for (let i = 0; i < group.changed.length; i++) {
      const slot = group.changed[i];
      values[slot.output] = changedValue(slot, state, i, event);
    }
  }

  /** Forgets idle entities and expired event_ids; amortised over SWEEP_EVERY events. */
  private sweep(): void {
    this.sinceSweep = 0;
    for (const group of this.groups) {
      const cutoff = this.globalMax - group.retentionMs;
      for (const [key, state] of group.byKey) {
        if (state.newest <= cutoff) this.forget(group, key, state);
      }
    }
    const dedupCutoff = this.globalMax - this.settings.dedupRetentionMs;
    const order = this.acceptedOrder;
    const times = this.acceptedTimes;
    let head = this.acceptedOrderHead;
    // Acceptance order roughly follows event time; stop at the first id still retained.
    while (head < order.length && times[head] <= dedupCutoff) {
      this.accepted.delete(order[head]);
      head++;
    }
    if (head > 65536 && head * 2 > order.length) {
      this.acceptedOrder = order.slice(head);
      this.acceptedTimes = times.slice(head);
      head = 0;
    }
    this.acceptedOrderHead = head;
  }

  private forget(group: EntityGroup, key: string, state: EntityState): void {
    group.byKey.delete(key);
    for (const s of state.series) {
      if (s === undefined) continue;
      this.entries -= s.times.length;
      this.seriesCount--;
    }
  }

  /** See {@link MemoryBudget}: a no-op under budget. */
  private enforceBudget(budget: MemoryBudget): void {
    if (this.estimatedBytes() <= budget.bytes) return;
    if (this.sinceSweep !== 0) this.sweep(); // expired state first: forgetting it changes nothing
    const target = budget.bytes * 0.9;
    let excess = this.estimatedBytes() - target;
    if (excess <= 0) return;
    // Rank every entity: idle ones (windows all expired) before active ones, each by its newest event.
    const entities = this.entityCount();
    const ranks = new Float64Array(entities);
    let n = 0;
    for (const group of this.groups) {
      const idleBefore = this.globalMax - group.windowRetentionMs;
      for (const state of group.byKey.values()) ranks[n++] = rankOf(state.newest, idleBefore);
    }
    const perEntity =
      STATE_BYTES.entity + (this.seriesCount * STATE_BYTES.series + this.entries * STATE_BYTES.entry) / Math.max(entities, 1);
    const count = Math.min(entities, Math.ceil(excess / perEntity));
    if (count > 0) {
      const threshold = ranks.slice().sort()[count - 1];
      let idle = 0;
      let active = 0;
      for (const group of this.groups) {
        const idleBefore = this.globalMax - group.windowRetentionMs;
        for (const [key, state] of group.byKey) {
          const rank = rankOf(state.newest, idleBefore);
          if (rank > threshold) continue;
          if (rank < IDLE_TIER) idle++;
          else active++;
          this.forget(group, key, state);
        }
      }
      if (idle > 0) budget.onEvict?.('idle', idle);
      if (active > 0) budget.onEvict?.('active', active);
      excess = this.estimatedBytes() - target;
    }
    if (excess > 0) this.forgetOldestEventIds(Math.ceil(excess / STATE_BYTES.eventId), budget);
  }

  /** Last resort of the budget: the dedup memory is shortened, oldest acceptances first. */
  private forgetOldestEventIds(count: number, budget: MemoryBudget): void {
    let head = this.acceptedOrderHead;
    const end = Math.min(this.acceptedOrder.length, head + count);
    const from = head;
    for (; head < end; head++) this.accepted.delete(this.acceptedOrder[head]);
    this.acceptedOrderHead = head;
    if (head > from) budget.onEvict?.('dedup', head - from);
  }
}

/**
 * Eviction order: negative for an idle entity (all windows expired), so all
 * idle entities come first; within each tier, the least recently seen first.
 */
function rankOf(newest: number, idleBefore: number): number {
  return newest <= idleBefore ? newest - IDLE_OFFSET : newest;
}
/** Larger than any event time in ms (±8.64e15): idle ranks are all below IDLE_TIER, active ones above. */
const IDLE_OFFSET = 1e17;
const IDLE_TIER = -IDLE_OFFSET / 2;

function windowedValue(slot: FeatureSlot, state: EntityState, index: number, event: RiskEvent): number {
  const { definition } = slot;
  const t = event.event_time;
  let series = state.series[index];
  const field = definition.field;
  const value = field === undefined ? 0 : event[field];
  const takesPart =
    (slot.types === undefined || slot.types.has(event.event_type)) && (definition.aggregate !== 'distinct' || value !== undefined);
  if (takesPart) {
    if (series === undefined) series = state.series[index] = { times: [], values: [], sliding: undefined };
    const stored = definition.aggregate === 'sum' ? ((value as number | undefined) ?? 0) : (value as string | number);
    insertSorted(series, t, stored, definition.windowMs);
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
  if (expired >= TRIM_BATCH || (expired > 0 && expired * 2 >= times.length)) trim(series, expired);
  return result;
}

function changedValue(slot: FeatureSlot, state: EntityState, index: number, event: RiskEvent): boolean {
  const value = event[slot.definition.field!];
  if (value === undefined) return false;
  const known = state.latest[index];
  const t = event.event_time;
  if (known === undefined) {
    state.latest[index] = { value, time: t };
    return false;
  }
  const changed = known.value !== value;
  // Ties go to the later arrival (SPEC §3).
  if (t >= known.time) {
    known.value = value;
    known.time = t;
  }
  return changed;
}
