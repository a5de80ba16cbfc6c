import type { RiskEvent } from '../events/risk-event';
import type { FeatureDefinition, FeatureValue, FeatureValues } from './feature-definition';
import { featureValuesFactory } from './feature-values-factory';
import { FeatureStore, type EntityReadOutcome, type StateInput, type StateOutcome, type StateSettings } from './feature-store';
import { isLate, isRedelivery, type AcceptedRecord } from './acceptance';
import { applyEventToEntity, buildEntityGroups, type EntityGroup, type EntityState, type StateTally } from './entity-features';
import { previewFeatures, readEntity } from './entity-read';
import { entityTable, type EntityTable } from './memory-entity-tables';
import type { SeriesValues } from './window-series';

/** The memory store's entity groups: the shared group definition and its keys' states. */
interface MemoryGroup {
  readonly group: EntityGroup;
  readonly table: EntityTable;
  /** Per windowed slot: what its series' values hold (see {@link touch}). */
  readonly values: readonly SeriesValues[];
  /**
   * No entity of the group has an older `newest` (a lower bound, as of the
   * last sweep): a sweep whose cutoff is below it can forget nothing and skips
   * the scan, a cache miss or two per entity. With the default features the
   * user and device groups keep their entities 30 days and 24 h: a replay of
   * a day scanned their ~23,000 entities every 8,192 events for nothing.
   */
  newestAtLeast: number;
}

/** One shared object: a duplicate's outcome carries nothing else. */
const DUPLICATE: StateOutcome = { kind: 'duplicate' };

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
  private groups: MemoryGroup[];
  private readonly partitionMax = new Map<string, number>();
  /** Every accepted event_id still remembered (SPEC §2 dedup). */
  private readonly accepted = new Set<string>();
  /**
   * The first outcome of the remembered event_ids that came with a message id
   * (Kafka), for a redelivery of the same message. Events without one (HTTP,
   * replay) can be duplicated but never redelivered: only their id is kept.
   */
  private readonly redeliverable = new Map<string, AcceptedRecord>();
  /** event_ids and their event times in acceptance order, for pruning the dedup memory. */
  private acceptedOrder: string[] = [];
  private acceptedTimes: number[] = [];
  private acceptedOrderHead = 0;
  private globalMax = -Infinity;
  private sinceSweep = 0;
  /** Oldest event time accepted since the last sweep: an entity created or updated since has a `newest` at least this. */
  private oldestSinceSweep = Infinity;
  /** Window entries and series held (all entities), for the budget estimate. */
  private readonly tally: StateTally = { entries: 0, series: 0 };
  private makeFeatures: (values: readonly FeatureValue[]) => FeatureValues;
  private scratch: FeatureValue[];
  /** The event's entity state per group (undefined: the event lacks the entity field). */
  private states: (EntityState | undefined)[];
  /** Sink of {@link touch}: kept so that its loads are not optimised away. */
  touched = 0;

  constructor(
    private definitions: readonly FeatureDefinition[],
    private readonly settings: StateSettings,
    private readonly budget?: MemoryBudget,
  ) {
    super();
    this.makeFeatures = featureValuesFactory(definitions);
    this.scratch = definitions.map(() => 0);
    this.groups = buildEntityGroups(definitions, settings).map((group) => memoryGroup(group));
    this.states = this.groups.map(() => undefined);
  }

  apply(partition: string, inputs: readonly StateInput[], definitions?: readonly FeatureDefinition[]): Promise<StateOutcome[]> {
    return Promise.resolve(this.applySync(partition, inputs, definitions));
  }

  /** Synchronous core, usable directly by in-process callers and tests. */
  applySync(partition: string, inputs: readonly StateInput[], definitions?: readonly FeatureDefinition[]): StateOutcome[] {
    if (definitions !== undefined && definitions !== this.definitions) this.redefine(definitions);
    const outcomes = new Array<StateOutcome>(inputs.length);
    for (let i = 0; i < inputs.length; i++) outcomes[i] = this.applyOne(partition, inputs[i]);
    return outcomes;
  }

  /**
   * Computes `definitions` from now on (see FeatureStore.apply). A group whose
   * features all stay is kept as it is; otherwise each of its entities keeps
   * the series and latest values of the features whose id stays, and the
   * others' state is dropped (and leaves the budget tally). O(entities of the
   * changed groups), once per change of the feature set.
   */
  redefine(definitions: readonly FeatureDefinition[]): void {
    const before = new Map(this.groups.map((g) => [g.group.entity, g]));
    const groups = buildEntityGroups(definitions, this.settings).map((group) => {
      const old = before.get(group.entity);
      before.delete(group.entity);
      return old === undefined ? memoryGroup(group) : this.carryOver(old, group);
    });
    // Entity fields no feature is keyed on any more.
    for (const gone of before.values()) this.forgetIf(gone, () => true);
    this.definitions = definitions;
    this.groups = groups;
    this.makeFeatures = featureValuesFactory(definitions);
    this.scratch = definitions.map(() => 0);
    this.states = groups.map(() => undefined);
  }

  private carryOver(old: MemoryGroup, group: EntityGroup): MemoryGroup {
    const seriesFrom = group.windowed.map((slot) => old.group.windowed.findIndex((o) => o.id === slot.id));
    const latestFrom = group.changed.map((slot) => old.group.changed.findIndex((o) => o.id === slot.id));
    const unchanged =
      seriesFrom.length === old.group.windowed.length &&
      latestFrom.length === old.group.changed.length &&
      seriesFrom.every((from, i) => from === i) &&
      latestFrom.every((from, i) => from === i);
    if (unchanged) return { ...old, group };
    const kept = new Set(seriesFrom);
    const table = old.table.mapped((state) => {
      state.series.forEach((series, i) => {
        if (series === undefined || kept.has(i)) return;
        this.tally.entries -= series.times.length;
        this.tally.series--;
      });
      return {
        series: seriesFrom.map((from) => (from < 0 ? undefined : state.series[from])),
        latest: latestFrom.map((from) => (from < 0 ? undefined : state.latest[from])),
        newest: state.newest,
      };
    });
    return memoryGroup(group, table);
  }

  override readEntity(entity: string, value: string): Promise<EntityReadOutcome> {
    const groups = this.groups;
    return Promise.resolve(
      readEntity(
        groups.map((g) => g.group),
        entity,
        value,
        (_group, index) => groups[index].table.find(value),
      ),
    );
  }

  override preview(event: RiskEvent): Promise<FeatureValues> {
    const groups = this.groups;
    const values = this.scratch.slice();
    previewFeatures(
      groups.map((g) => g.group),
      event,
      values,
      (_group, index, key) => groups[index].table.find(key),
    );
    return Promise.resolve(this.makeFeatures(values));
  }

  async close(): Promise<void> {
    this.accepted.clear();
    this.redeliverable.clear();
    this.tally.entries = 0;
    this.tally.series = 0;
    for (const group of this.groups) group.table.clear();
  }

  /** Entities and entries currently held, and their estimated bytes: for tests and metrics. */
  get stateSize(): { entities: number; series: number; entries: number; dedup: number; estimatedBytes: number } {
    const entities = this.entityCount();
    const { entries, series } = this.tally;
    return { entities, series, entries, dedup: this.accepted.size, estimatedBytes: this.estimatedBytes(entities) };
  }

  private entityCount(): number {
    let entities = 0;
    for (const group of this.groups) entities += group.table.size;
    return entities;
  }

  private estimatedBytes(entities = this.entityCount()): number {
    return (
      entities * STATE_BYTES.entity +
      this.tally.series * STATE_BYTES.series +
      this.tally.entries * STATE_BYTES.entry +
      this.accepted.size * STATE_BYTES.eventId
    );
  }

  private applyOne(partition: string, { event, messageId }: StateInput): StateOutcome {
    const t = event.event_time;
    const id = event.event_id;
    // SPEC §2 acceptance through acceptance.ts, as the Redis store decides it, without allocating a decision.
    const remembered = this.accepted.size;
    // One lookup: an event_id already remembered leaves the set as it was.
    if (this.accepted.add(id).size === remembered) {
      const previous = messageId === undefined ? undefined : this.redeliverable.get(id);
      if (previous !== undefined && isRedelivery(previous, messageId)) {
        return { kind: 'accepted', late: previous.late, features: previous.features, redelivered: true };
      }
      return DUPLICATE;
    }
    const max = this.partitionMax.get(partition);
    const late = isLate(t, max, this.settings.allowedLatenessMs);
    if (max === undefined || t > max) this.partitionMax.set(partition, t);
    if (t > this.globalMax) this.globalMax = t;
    if (t < this.oldestSinceSweep) this.oldestSinceSweep = t;

    const values = this.scratch;
    const groups = this.groups;
    const states = this.states;
    // Every entity of the event first, then their series' newest entries read
    // together: the loads of the different entities overlap instead of each
    // waiting for the one before it (the state is mostly outside the caches).
    let touched = 0;
    for (let g = 0; g < groups.length; g++) states[g] = groups[g].table.stateOf(groups[g].group, event);
    for (let g = 0; g < groups.length; g++) {
      const state = states[g];
      if (state !== undefined) touched ^= touch(state, groups[g].values);
    }
    this.touched = touched;
    for (let g = 0; g < groups.length; g++) applyEventToEntity(groups[g].group, states[g], event, values, this.tally);
    const features = this.makeFeatures(values);

    if (messageId !== undefined) this.redeliverable.set(id, { messageId, late, features });
    this.acceptedOrder.push(id);
    this.acceptedTimes.push(t);
    if (++this.sinceSweep >= SWEEP_EVERY) this.sweep();
    if (this.budget !== undefined && this.sinceSweep % BUDGET_CHECK_EVERY === 0) this.enforceBudget(this.budget);
    return { kind: 'accepted', late, features, redelivered: false };
  }

  /** Forgets idle entities and expired event_ids; amortised over SWEEP_EVERY events. */
  private sweep(): void {
    this.sinceSweep = 0;
    for (const memoryGroup of this.groups) {
      const cutoff = this.globalMax - memoryGroup.group.retentionMs;
      const bound = Math.min(memoryGroup.newestAtLeast, this.oldestSinceSweep);
      if (cutoff < bound) {
        memoryGroup.newestAtLeast = bound;
        continue;
      }
      let oldestKept = Infinity;
      this.forgetIf(memoryGroup, (state) => {
        if (state.newest <= cutoff) return true;
        if (state.newest < oldestKept) oldestKept = state.newest;
        return false;
      });
      memoryGroup.newestAtLeast = oldestKept;
    }
    this.oldestSinceSweep = Infinity;
    const dedupCutoff = this.globalMax - this.settings.dedupRetentionMs;
    const order = this.acceptedOrder;
    const times = this.acceptedTimes;
    let head = this.acceptedOrderHead;
    // Acceptance order roughly follows event time; stop at the first id still retained.
    const redeliverable = this.redeliverable.size > 0;
    while (head < order.length && times[head] <= dedupCutoff) {
      this.accepted.delete(order[head]);
      if (redeliverable) this.redeliverable.delete(order[head]);
      head++;
    }
    if (head > 65536 && head * 2 > order.length) {
      this.acceptedOrder = order.slice(head);
      this.acceptedTimes = times.slice(head);
      head = 0;
    }
    this.acceptedOrderHead = head;
  }

  private forgetIf(group: MemoryGroup, test: (state: EntityState) => boolean): void {
    group.table.removeIf(test, (state) => {
      for (const s of state.series) {
        if (s === undefined) continue;
        this.tally.entries -= s.times.length;
        this.tally.series--;
      }
    });
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
    for (const { group, table } of this.groups) {
      const idleBefore = this.globalMax - group.windowRetentionMs;
      for (const state of table.states()) ranks[n++] = rankOf(state.newest, idleBefore);
    }
    const perEntity =
      STATE_BYTES.entity + (this.tally.series * STATE_BYTES.series + this.tally.entries * STATE_BYTES.entry) / Math.max(entities, 1);
    const count = Math.min(entities, Math.ceil(excess / perEntity));
    if (count > 0) {
      const threshold = ranks.slice().sort()[count - 1];
      let idle = 0;
      let active = 0;
      for (const memoryGroup of this.groups) {
        const idleBefore = this.globalMax - memoryGroup.group.windowRetentionMs;
        this.forgetIf(memoryGroup, (state) => {
          const rank = rankOf(state.newest, idleBefore);
          if (rank > threshold) return false;
          if (rank < IDLE_TIER) idle++;
          else active++;
          return true;
        });
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
    for (; head < end; head++) {
      this.accepted.delete(this.acceptedOrder[head]);
      this.redeliverable.delete(this.acceptedOrder[head]);
    }
    this.acceptedOrderHead = head;
    if (head > from) budget.onEvict?.('dedup', head - from);
  }
}

function memoryGroup(group: EntityGroup, table = entityTable(group)): MemoryGroup {
  // A new group, or one whose states were carried over: unknown until its first scan.
  return { group, table, values: group.windowed.map((slot) => slot.values), newestAtLeast: -Infinity };
}

/**
 * Reads each series' newest entry: brings the entity's series into the cache,
 * all loads independent. Strings and numbers are read at two places in the
 * code: a read that has met both kinds of array makes V8 turn number arrays
 * into generic ones (each amount then a heap object of its own).
 */
function touch(state: EntityState, kinds: readonly SeriesValues[]): number {
  let sum = state.newest;
  const series = state.series;
  for (let i = 0; i < series.length; i++) {
    const s = series[i];
    if (s === undefined) continue;
    const times = s.times;
    const n = times.length;
    if (n === 0) continue;
    sum += times[n - 1];
    const kind = kinds[i];
    // A series of times only keeps no values.
    if (kind === 'any') sum += s.values[n - 1] === undefined ? 1 : 0;
    else if (kind === 'numbers') sum += s.values[n - 1] as number;
  }
  const latest = state.latest;
  for (let i = 0; i < latest.length; i++) {
    const l = latest[i];
    if (l !== undefined) sum += l.time;
  }
  // A small integer: a double returned from a call is boxed, one heap number per entity and event.
  return sum > 0 ? 1 : 0;
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
