/**
 * The sorted per-entity event series behind every windowed feature, and the
 * search, insertion, trimming and distinct-count operations on it. Kept apart
 * from the store so that each backend can share one meaning of a window.
 */

/**
 * Events of one entity that take part in one windowed feature, sorted by
 * event_time; equal times keep arrival order.
 */
export interface Series {
  times: number[];
  /**
   * The aggregated field's value, one per entry (distinct, sum, min, max,
   * avg). Count, first_seen_age and since_last need only the times: their
   * series hold NO_VALUES (the domain's and the backends' alike).
   */
  values: (string | number)[];
  /**
   * Distinct features only: multiset of the values in the window ending at
   * the newest entry, (newest − W, newest], from index `start` on. Most
   * events are their entity's newest, and shared keys (a device farm's
   * device) can hold thousands of entries, so this keeps them O(1) amortised
   * instead of a scan per event.
   */
  sliding: SlidingDistinct | undefined;
}

export interface SlidingDistinct {
  readonly counts: Map<string | number, number>;
  start: number;
}

/** The values of every series of times only: never written (frozen, so a write would throw), never read. */
export const NO_VALUES = Object.freeze([]) as unknown as (string | number)[];

/**
 * What a series' `values` hold: nothing read (count, first_seen_age,
 * since_last), numbers (sum, min, max, avg), or any value (distinct: strings,
 * or numbers of a numeric field).
 */
export type SeriesValues = 'none' | 'numbers' | 'any';

/** Windows larger than this keep a sliding multiset (see Series.sliding). */
export const SLIDING_THRESHOLD = 32;
/** Expired entries are removed in batches: one splice per batch, not per event. */
export const TRIM_BATCH = 16;

export function slidingOf(values: readonly (string | number)[], start: number, end: number): SlidingDistinct {
  const counts = new Map<string | number, number>();
  for (let i = start; i < end; i++) counts.set(values[i], (counts.get(values[i]) ?? 0) + 1);
  return { counts, start };
}

/** Number of leading entries ≤ x, checking the first entry before searching (usually none expire). */
export function upperBoundFrom(times: readonly number[], x: number): number {
  return times[0] > x ? 0 : upperBound(times, x);
}

/** Index of the first element > x in an ascending array. */
export function upperBound(times: readonly number[], x: number): number {
  let lo = 0;
  let hi = times.length;
  // Fast path: most events are the newest of their entity.
  if (hi === 0 || times[hi - 1] <= x) return hi;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inserts an entry of a series of times only (`SeriesValues` 'none'): its values are left alone. */
export function insertTime(times: number[], t: number): void {
  const n = times.length;
  if (n === 0 || times[n - 1] <= t) times.push(t);
  else times.splice(upperBound(times, t), 0, t);
}

export function insertSorted(series: Series, t: number, value: string | number, windowMs: number): void {
  const { times, values, sliding } = series;
  const at = upperBound(times, t);
  if (at === times.length) {
    times.push(t);
    // Two push sites: one that only ever sees numbers keeps count and sum
    // series unboxed. A site that has also seen strings makes V8 move the
    // double arrays it meets to the generic kind, one heap object per amount.
    if (typeof value === 'number') values.push(value);
    else values.push(value);
    if (sliding !== undefined) slideToNewest(sliding, times, values, windowMs);
  } else {
    times.splice(at, 0, t);
    values.splice(at, 0, value);
    if (sliding !== undefined) {
      // An out-of-order entry lands inside the newest window or before its start.
      if (t > times[times.length - 1] - windowMs) sliding.counts.set(value, (sliding.counts.get(value) ?? 0) + 1);
      else sliding.start++;
    }
  }
}

/**
 * The newest entry (the last) moved: adds its value to the multiset, then
 * drops what left (newest − W, newest]. Apart from insertSorted, which then
 * leaves V8 the inlining budget for newSeries in windowedValue; no double
 * argument, so the call boxes nothing.
 */
function slideToNewest(sliding: SlidingDistinct, times: readonly number[], values: readonly (string | number)[], windowMs: number): void {
  const counts = sliding.counts;
  const last = times.length - 1;
  const value = values[last];
  counts.set(value, (counts.get(value) ?? 0) + 1);
  const cutoff = times[last] - windowMs;
  let start = sliding.start;
  while (times[start] <= cutoff) {
    const old = values[start];
    const n = counts.get(old)! - 1;
    if (n === 0) counts.delete(old);
    else counts.set(old, n);
    start++;
  }
  sliding.start = start;
}

/** Below this many kept entries, {@link trim} moves them down instead of splicing. */
const COMPACT_BELOW = 64;

/** `kind` says what the values hold: number series compact at a site of their own (see compactNumbers). */
export function trim(series: Series, drop: number, kind: SeriesValues = 'any'): void {
  const { times, values } = series;
  const kept = times.length - drop;
  if (kept <= COMPACT_BELOW) {
    // `splice` returns the removed entries as a new array, two per trim: about 260 bytes of garbage
    // an event with the twenty features. Moving a few entries down allocates nothing.
    for (let i = 0; i < kept; i++) times[i] = times[i + drop];
    times.length = kept;
    if (kind === 'numbers') compactNumbers(values as number[], drop, kept);
    else if (kind === 'any') compactValues(values, drop, kept);
  } else {
    times.splice(0, drop);
    if (kind !== 'none') values.splice(0, drop);
  }
  // Expired entries are older than the newest window (horizon ≥ W): all before `start`.
  if (series.sliding !== undefined) series.sliding.start -= drop;
}

/**
 * Two sites, as insertSorted's pushes: a site that has met both number and
 * generic arrays makes V8 move the number arrays it meets to the generic kind
 * (one heap object per amount).
 */
function compactNumbers(values: number[], drop: number, kept: number): void {
  for (let i = 0; i < kept; i++) values[i] = values[i + drop];
  values.length = kept;
}

function compactValues(values: (string | number)[], drop: number, kept: number): void {
  for (let i = 0; i < kept; i++) values[i] = values[i + drop];
  values.length = kept;
}

/**
 * Distinct values among entries [start, end) of a series whose newest window
 * (from `sliding.start` to its last entry) has a multiset: an out-of-order
 * event's window differs from the newest one by the few entries after it and
 * the few that left the newest window since, so the multiset is moved to that
 * window, read, and moved back. O(entries that differ) without allocating,
 * where a scan would build a Set of every distinct value of a busy key (a
 * city's users) for each such event. Returns -1 when a scan is cheaper.
 * Exact either way: the multiset then holds exactly the window's values.
 */
export function countDistinctFromSliding(
  values: readonly (string | number)[],
  sliding: SlidingDistinct,
  start: number,
  end: number,
): number {
  const counts = sliding.counts;
  const from = sliding.start;
  const length = values.length;
  // The event's window starts at or before the newest window's (t ≤ newest).
  const kept = end < from ? from : end;
  const added = end < from ? end : from;
  if (length - kept + (added - start) >= end - start) return -1;
  // Entries with a count of zero stay in the map until moved back: `size` counts them.
  let zeros = 0;
  for (let i = kept; i < length; i++) {
    const n = counts.get(values[i])! - 1;
    counts.set(values[i], n);
    if (n === 0) zeros++;
  }
  for (let i = start; i < added; i++) {
    const n = counts.get(values[i]);
    if (n === 0) zeros--;
    counts.set(values[i], n === undefined ? 1 : n + 1);
  }
  const distinct = counts.size - zeros;
  for (let i = kept; i < length; i++) counts.set(values[i], counts.get(values[i])! + 1);
  for (let i = start; i < added; i++) {
    const n = counts.get(values[i])! - 1;
    // A value only the older entries held was not in the newest window.
    if (n === 0) counts.delete(values[i]);
    else counts.set(values[i], n);
  }
  return distinct;
}

/** Reused across calls: the hot path counts distinct values without allocating. */
const distinctScratch: (string | number)[] = [];

export function countDistinct(values: readonly (string | number)[], start: number, end: number): number {
  const n = end - start;
  if (n <= 1) return n;
  // Windows usually hold few distinct values (one user's devices, one device's
  // users), so comparing against the distinct values found so far is O(n·d)
  // with small d, and cheaper than building a Set per event.
  const found = distinctScratch;
  let distinct = 0;
  for (let i = start; i < end; i++) {
    const value = values[i];
    let seen = false;
    for (let j = 0; j < distinct; j++) {
      if (found[j] === value) {
        seen = true;
        break;
      }
    }
    if (seen) continue;
    if (distinct === 32) return countDistinctWithSet(values, start, end);
    found[distinct++] = value;
  }
  return distinct;
}

function countDistinctWithSet(values: readonly (string | number)[], start: number, end: number): number {
  const seen = new Set<string | number>();
  for (let i = start; i < end; i++) seen.add(values[i]);
  return seen.size;
}
