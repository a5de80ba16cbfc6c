import type { RiskEvent } from '../events/risk-event';
import { type FeatureDefinition, type FeatureValues } from './feature-definition';
import { DEFAULT_STATE_SETTINGS, FeatureStore, type StateInput, type StateOutcome, type StateSettings } from './feature-store';

/**
 * Events of one entity that take part in one windowed feature, sorted by
 * event_time; equal times keep arrival order.
 */
interface Series {
  times: number[];
  /** The aggregated field's value (distinct / sum); unused for count. */
  values: (string | number)[];
}

interface LatestValue {
  value: string | number;
  time: number;
}

interface AcceptedRecord {
  readonly time: number;
  readonly messageId: string | undefined;
  readonly late: boolean;
  readonly features: FeatureValues;
}

interface WindowedFeature {
  readonly definition: FeatureDefinition;
  readonly byKey: Map<string, Series>;
  /** Entries at or before (newest − horizon) can no longer fall in any non-late window. */
  readonly horizonMs: number;
  readonly types: ReadonlySet<string> | undefined;
}

const SWEEP_EVERY = 8192;

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
  private readonly windowed: WindowedFeature[] = [];
  private readonly latest = new Map<string, Map<string, LatestValue>>();
  private readonly partitionMax = new Map<string, number>();
  private readonly accepted = new Map<string, AcceptedRecord>();
  /** event_ids in acceptance order, for pruning the dedup memory. */
  private readonly acceptedOrder: string[] = [];
  private acceptedOrderHead = 0;
  private globalMax = -Infinity;
  private sinceSweep = 0;

  constructor(
    private readonly definitions: readonly FeatureDefinition[],
    private readonly settings: StateSettings = DEFAULT_STATE_SETTINGS,
  ) {
    super();
    for (const definition of definitions) {
      if (definition.aggregate === 'changed') this.latest.set(definition.name, new Map());
      else {
        this.windowed.push({
          definition,
          byKey: new Map(),
          horizonMs: definition.windowMs + settings.allowedLatenessMs,
          types: definition.eventTypes === undefined ? undefined : new Set(definition.eventTypes),
        });
      }
    }
  }

  apply(partition: string, inputs: readonly StateInput[]): Promise<StateOutcome[]> {
    return Promise.resolve(this.applySync(partition, inputs));
  }

  /** Synchronous core, usable directly by in-process callers and tests. */
  applySync(partition: string, inputs: readonly StateInput[]): StateOutcome[] {
    const outcomes = new Array<StateOutcome>(inputs.length);
    for (let i = 0; i < inputs.length; i++) outcomes[i] = this.applyOne(partition, inputs[i]!);
    return outcomes;
  }

  async close(): Promise<void> {
    this.accepted.clear();
    this.latest.clear();
    for (const feature of this.windowed) feature.byKey.clear();
  }

  /** Entities currently holding state, summed over features: for tests and metrics. */
  get stateSize(): { entities: number; entries: number; dedup: number } {
    let entities = 0;
    let entries = 0;
    for (const feature of this.windowed) {
      entities += feature.byKey.size;
      for (const series of feature.byKey.values()) entries += series.times.length;
    }
    for (const map of this.latest.values()) entities += map.size;
    return { entities, entries, dedup: this.accepted.size };
  }

  private applyOne(partition: string, { event, messageId }: StateInput): StateOutcome {
    const previous = this.accepted.get(event.event_id);
    if (previous !== undefined) {
      if (messageId !== undefined && previous.messageId === messageId) {
        return { kind: 'accepted', late: previous.late, features: previous.features, redelivered: true };
      }
      return { kind: 'duplicate' };
    }

    const t = event.event_time;
    const max = this.partitionMax.get(partition);
    const late = max !== undefined && t < max - this.settings.allowedLatenessMs;
    if (max === undefined || t > max) this.partitionMax.set(partition, t);
    if (t > this.globalMax) this.globalMax = t;

    const features: FeatureValues = {};
    let w = 0;
    for (const definition of this.definitions) {
      if (definition.aggregate === 'changed') {
        features[definition.name] = this.changed(definition, event);
      } else {
        features[definition.name] = this.windowedValue(this.windowed[w++]!, event);
      }
    }

    this.accepted.set(event.event_id, { time: t, messageId, late, features });
    this.acceptedOrder.push(event.event_id);
    if (++this.sinceSweep >= SWEEP_EVERY) this.sweep();
    return { kind: 'accepted', late, features, redelivered: false };
  }

  private windowedValue(feature: WindowedFeature, event: RiskEvent): number {
    const { definition } = feature;
    const key = event[definition.entity];
    if (key === undefined) return 0;
    const t = event.event_time;
    let series = feature.byKey.get(key as string);

    const field = definition.field;
    const value = field === undefined ? 0 : event[field];
    const takesPart =
      (feature.types === undefined || feature.types.has(event.event_type)) &&
      (definition.aggregate !== 'distinct' || value !== undefined);
    if (takesPart) {
      if (series === undefined) {
        series = { times: [], values: [] };
        feature.byKey.set(key as string, series);
      }
      insertSorted(series, t, definition.aggregate === 'sum' ? ((value as number | undefined) ?? 0) : (value as string | number));
    }
    if (series === undefined) return 0;

    const end = upperBound(series.times, t);
    const start = upperBound(series.times, t - definition.windowMs);
    let result: number;
    switch (definition.aggregate) {
      case 'count':
        result = end - start;
        break;
      case 'sum': {
        let sum = 0;
        for (let i = start; i < end; i++) sum += series.values[i] as number;
        result = sum;
        break;
      }
      default:
        result = countDistinct(series.values, start, end);
    }
    trim(series, feature.horizonMs);
    return result;
  }

  private changed(definition: FeatureDefinition, event: RiskEvent): boolean {
    const key = event[definition.entity];
    const value = event[definition.field!];
    if (key === undefined || value === undefined) return false;
    const byKey = this.latest.get(definition.name)!;
    const known = byKey.get(key as string);
    const t = event.event_time;
    if (known === undefined) {
      byKey.set(key as string, { value, time: t });
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

  /** Forgets idle entities and expired event_ids; amortised over SWEEP_EVERY events. */
  private sweep(): void {
    this.sinceSweep = 0;
    for (const feature of this.windowed) {
      const cutoff = this.globalMax - feature.horizonMs;
      for (const [key, series] of feature.byKey) {
        if (series.times[series.times.length - 1]! <= cutoff) feature.byKey.delete(key);
      }
    }
    const latestCutoff = this.globalMax - this.settings.latestValueRetentionMs;
    for (const byKey of this.latest.values()) {
      for (const [key, known] of byKey) if (known.time <= latestCutoff) byKey.delete(key);
    }
    const dedupCutoff = this.globalMax - this.settings.dedupRetentionMs;
    const order = this.acceptedOrder;
    let head = this.acceptedOrderHead;
    // Acceptance order roughly follows event time; stop at the first id still retained.
    while (head < order.length) {
      const id = order[head]!;
      const record = this.accepted.get(id);
      if (record !== undefined && record.time > dedupCutoff) break;
      this.accepted.delete(id);
      head++;
    }
    if (head > 65536 && head * 2 > order.length) {
      order.splice(0, head);
      head = 0;
    }
    this.acceptedOrderHead = head;
  }
}

/** Index of the first element > x in an ascending array. */
function upperBound(times: readonly number[], x: number): number {
  let lo = 0;
  let hi = times.length;
  // Fast path: most events are the newest of their entity.
  if (hi === 0 || times[hi - 1]! <= x) return hi;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(series: Series, t: number, value: string | number): void {
  const at = upperBound(series.times, t);
  if (at === series.times.length) {
    series.times.push(t);
    series.values.push(value);
  } else {
    series.times.splice(at, 0, t);
    series.values.splice(at, 0, value);
  }
}

function trim(series: Series, horizonMs: number): void {
  const cutoff = series.times[series.times.length - 1]! - horizonMs;
  if (series.times[0]! > cutoff) return;
  const drop = upperBound(series.times, cutoff);
  series.times.splice(0, drop);
  series.values.splice(0, drop);
}

function countDistinct(values: readonly (string | number)[], start: number, end: number): number {
  const n = end - start;
  if (n <= 1) return n;
  if (n === 2) return values[start] === values[start + 1] ? 1 : 2;
  const seen = new Set<string | number>();
  for (let i = start; i < end; i++) seen.add(values[i]!);
  return seen.size;
}
