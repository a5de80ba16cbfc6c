import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeCursor, InvalidInputError } from '@risk/domain';
import { buildVerdictSearch, checkVerdictFilter } from './elasticsearch-verdict.query';

describe('verdict search body', () => {
  it('combines every filter in a bool filter, sorted for search_after', () => {
    const body = buildVerdictSearch(
      checkVerdictFilter({
        user_id: 'u-1',
        risk_level: 'HIGH',
        rule_id: 'r',
        from: 1000,
        to: 2000,
        size: 10,
        search_after: encodeCursor(1500, 'e-9'),
      }),
    );
    assert.deepEqual(body, {
      size: 10,
      query: {
        bool: {
          filter: [
            { term: { user_id: 'u-1' } },
            { term: { risk_level: 'HIGH' } },
            { term: { 'rules.id': 'r' } },
            { range: { event_time: { gte: 1000, lt: 2000, format: 'epoch_millis' } } },
          ],
        },
      },
      sort: [{ event_time: { order: 'desc' } }, { event_id: { order: 'desc' } }],
      search_after: [1500, 'e-9'],
      track_total_hits: false,
    });
  });

  it('defaults to match_all and 100 per page', () => {
    const body = buildVerdictSearch(checkVerdictFilter({}));
    assert.deepEqual(body.query, { match_all: {} });
    assert.equal(body.size, 100);
  });

  it('refuses an unusable size or cursor', () => {
    assert.throws(() => checkVerdictFilter({ size: 1001 }), InvalidInputError);
    assert.throws(() => checkVerdictFilter({ search_after: 'bm9wZQ' }), InvalidInputError);
  });
});
