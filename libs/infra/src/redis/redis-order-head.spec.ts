import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { headExpires, OrderHeads } from './redis-order-head';
import type { PartitionRead } from './redis-partition-ledger';

const DAY = 86_400_000;

function read(max: number | undefined, head: string[]): PartitionRead {
  return { max, version: 1, records: [], head };
}

describe('OrderHeads', () => {
  it('asks for the full count until it knows the partition, then for one entry while the first does not expire', () => {
    const heads = new OrderHeads(DAY);
    assert.equal(heads.wanted('p', 132), 132);
    // A fresh partition: nothing read, the batch accepted events from t = 1000 on.
    heads.committed('p', read(undefined, []), 132, 0, 5_000, 1_000);
    assert.equal(heads.wanted('p', 132), 1);
    // One entry read (t = 1000), not expired; the max moved to just before it expires.
    heads.committed('p', read(5_000, ['1000,e1']), 1, 0, 1_000 + DAY - 1, 6_000);
    assert.equal(heads.wanted('p', 132), 1);
    // The max reaches the first entry's expiry: the next read asks for the full count.
    heads.committed('p', read(1_000 + DAY - 1, ['1000,e1']), 1, 0, 1_000 + DAY, undefined);
    assert.equal(heads.wanted('p', 132), 132);
  });

  it("after a full read, knows the first entry left, or the batch's first accepted event when all expired, or nothing", () => {
    const heads = new OrderHeads(DAY);
    // Two of three entries expire: the third (2 days + 1 ms) is the first one left.
    heads.committed('p', read(3 * DAY, ['1,a', '2,b', `${2 * DAY + 1},c`]), 132, 2, 3 * DAY, 3 * DAY);
    assert.equal(heads.wanted('p', 132), 1);
    heads.committed('q', read(3 * DAY, ['1,a', '2,b', `${2 * DAY + 1},c`]), 132, 2, 3 * DAY + 2 * DAY, undefined);
    assert.equal(heads.wanted('q', 132), 132, 'the max passed the first entry left');
    // The whole (short) list expired: the batch's own first accepted event leads it now.
    heads.committed('r', read(3 * DAY, ['1,a']), 132, 1, 3 * DAY, 3 * DAY);
    assert.equal(heads.wanted('r', 132), 1);
    // As many entries expired as were read: more may follow, unknown.
    heads.committed('s', read(3 * DAY, ['1,a', '2,b']), 2, 2, 3 * DAY, 3 * DAY);
    assert.equal(heads.wanted('s', 2), 2);
    // An empty list and nothing accepted: nothing can expire.
    heads.committed('t', read(undefined, []), 132, 0, undefined, undefined);
    assert.equal(heads.wanted('t', 132), 1);
    heads.forget('t');
    assert.equal(heads.wanted('t', 132), 132);
  });

  it('headExpires: the first entry read is at or before max − retention', () => {
    assert.equal(headExpires(read(DAY + 1_000, ['1000,e']), DAY), true);
    assert.equal(headExpires(read(DAY + 999, ['1000,e']), DAY), false);
    assert.equal(headExpires(read(undefined, []), DAY), false);
    assert.equal(headExpires(read(5 * DAY, []), DAY), false);
  });
});
