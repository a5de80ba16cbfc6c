import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../shared/errors';
import { DEFAULT_STATS_RANGE_MS, MAX_STATS_RANGE_MS, ruleStatsRange } from './rule-stats-range';

const NOW = Date.UTC(2026, 10, 30, 12);

function pathsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof InvalidInputError);
    return error.errors.map((e) => e.path);
  }
  assert.fail('expected a 400');
}

describe('ruleStatsRange', () => {
  it('defaults to the 24 h before now, or before `to`', () => {
    assert.deepEqual(ruleStatsRange(undefined, undefined, NOW), { from: NOW - DEFAULT_STATS_RANGE_MS, to: NOW });
    assert.deepEqual(ruleStatsRange(undefined, NOW - 1000, NOW), { from: NOW - 1000 - DEFAULT_STATS_RANGE_MS, to: NOW - 1000 });
    assert.deepEqual(ruleStatsRange(NOW - 5000, undefined, NOW), { from: NOW - 5000, to: NOW });
  });

  it('refuses an empty, reversed or too long range, naming the parameter', () => {
    assert.deepEqual(
      pathsOf(() => ruleStatsRange(NOW, NOW, NOW)),
      ['from'],
    );
    assert.deepEqual(
      pathsOf(() => ruleStatsRange(NOW + 10, undefined, NOW)),
      ['from'],
    );
    assert.deepEqual(
      pathsOf(() => ruleStatsRange(NOW - MAX_STATS_RANGE_MS - 1, NOW, NOW)),
      ['from'],
    );
    assert.deepEqual(ruleStatsRange(NOW - MAX_STATS_RANGE_MS, NOW, NOW), { from: NOW - MAX_STATS_RANGE_MS, to: NOW });
  });
});
