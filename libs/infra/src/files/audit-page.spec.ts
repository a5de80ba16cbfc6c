import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { newestFirstPage } from './audit-page';

describe('newestFirstPage', () => {
  it('answers the newest entries first, from the offset, at most limit of them, with the total', () => {
    const trail = [1, 2, 3, 4, 5];
    assert.deepEqual(newestFirstPage(trail, 2, 0), { total: 5, items: [5, 4] });
    assert.deepEqual(newestFirstPage(trail, 2, 3), { total: 5, items: [2, 1] });
    assert.deepEqual(newestFirstPage(trail, 10, 4), { total: 5, items: [1] });
    assert.deepEqual(newestFirstPage(trail, 3, 9), { total: 5, items: [] });
    assert.deepEqual(newestFirstPage(trail, 0, 0), { total: 5, items: [] });
  });
});
