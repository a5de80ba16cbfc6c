import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { countDistinct, countDistinctFromSliding, insertSorted, slidingOf, trim, upperBound, type Series } from './window-series';

function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Distinct values of entries [start, end), by a Set: the definition. */
function bruteDistinct(values: readonly (string | number)[], start: number, end: number): number {
  return new Set(values.slice(start, end)).size;
}

describe('countDistinctFromSliding: an out-of-order window counted from the newest window multiset', () => {
  const W = 1_000;
  for (let seed = 1; seed <= 40; seed++) {
    it(`seed ${seed}: equals a Set of the window, leaves the multiset as it was`, () => {
      const rnd = random(seed);
      const series: Series = { times: [], values: [], sliding: undefined };
      let clock = 0;
      let fromSliding = 0;
      const distinctValues = 2 + Math.floor(rnd() * 80);
      for (let i = 0; i < 1_500; i++) {
        clock += Math.floor(rnd() * 40);
        // Mostly in order, some out of order (some beyond the window), ties included.
        const back = rnd();
        const t = back < 0.2 ? clock - Math.floor(rnd() * 1_500) : clock;
        const value = rnd() < 0.5 ? `v${Math.floor(rnd() * distinctValues)}` : Math.floor(rnd() * distinctValues);
        insertSorted(series, t, value, W);
        const { times, values } = series;
        const newest = times[times.length - 1];
        if (series.sliding === undefined && times.length > 32) {
          series.sliding = slidingOf(values, upperBound(times, newest - W), times.length);
        }
        if (times.length > 400 && rnd() < 0.05) trim(series, Math.min(16, upperBound(times, newest - W)));
        const sliding = series.sliding;
        if (sliding === undefined) continue;
        const before = [...sliding.counts].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
        // The window of an event at `at` ≤ newest, as windowedValue bounds it.
        const at = t <= newest ? t : newest;
        const start = upperBound(times, at - W);
        const end = upperBound(times, at);
        const counted = countDistinctFromSliding(values, sliding, start, end);
        const expected = bruteDistinct(values, start, end);
        if (counted >= 0) {
          fromSliding++;
          assert.equal(counted, expected, `event ${i} at ${at}: [${start}, ${end}) of ${times.length}`);
        } else {
          assert.equal(countDistinct(values, start, end), expected);
        }
        const after = [...sliding.counts].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
        assert.deepEqual(after, before, `multiset moved back after event ${i}`);
        assert.equal(sliding.counts.size, bruteDistinct(values, sliding.start, times.length));
      }
      // The case under test was reached, not only the scan fallback.
      assert.ok(fromSliding > 50, `counted from the multiset ${fromSliding} times`);
    });
  }
});

describe('trim', () => {
  for (const kept of [0, 1, 30, 64, 65, 200]) {
    it(`drops the leading entries and keeps the rest in order (${kept} kept)`, () => {
      for (const kind of ['numbers', 'any', 'none'] as const) {
        const times = Array.from({ length: kept + 16 }, (_, i) => i * 10);
        const values = kind === 'none' ? [] : times.map((t) => (kind === 'any' ? `v${t % 7}` : t / 4));
        const series: Series = { times: times.slice(), values: values.slice(), sliding: undefined };
        trim(series, 16, kind);
        assert.deepEqual(series.times, times.slice(16));
        // A series of times only keeps no values: they stay as they were.
        assert.deepEqual(series.values, kind === 'none' ? [] : values.slice(16));
      }
    });
  }
});
