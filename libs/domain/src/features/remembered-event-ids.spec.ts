import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { RememberedEventIds } from './remembered-event-ids';

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

describe('RememberedEventIds: the dedup memory against a Set and an array (the definition)', () => {
  for (let seed = 1; seed <= 12; seed++) {
    it(`seed ${seed}: same answers through growth, forgetting by time and by count, shrinking and compaction`, () => {
      const rnd = random(seed);
      // A small initial index and few distinct ids: long probe runs, many removals shifting entries back.
      const ids = new RememberedEventIds(8);
      const model = new Set<string>();
      const order: { id: string; time: number }[] = [];
      let clock = 0;
      const pool = 50 + Math.floor(rnd() * 400_000);
      for (let step = 0; step < 120_000; step++) {
        const r = rnd();
        if (r < 0.9) {
          const id = `evt-${Math.floor(rnd() * pool)}${rnd() < 0.01 ? 'é' : ''}`;
          clock += Math.floor(rnd() * 3);
          const time = clock - Math.floor(rnd() * 5);
          const added = ids.add(id, time);
          assert.equal(added, !model.has(id), `add ${id} at step ${step}`);
          if (added) {
            model.add(id);
            order.push({ id, time });
          }
        } else if (r < 0.95) {
          const cutoff = clock - Math.floor(rnd() * 2_000);
          const expected: string[] = [];
          while (order.length > 0 && order[0].time <= cutoff) expected.push(order.shift()!.id);
          const forgotten: string[] = [];
          ids.forgetUntil(cutoff, (id) => forgotten.push(id));
          assert.deepEqual(forgotten, expected);
          for (const id of expected) model.delete(id);
        } else {
          const count = Math.floor(rnd() * (rnd() < 0.1 ? 100_000 : 50));
          const expected = order.splice(0, count).map((o) => o.id);
          const forgotten: string[] = [];
          assert.equal(
            ids.forgetOldest(count, (id) => forgotten.push(id)),
            expected.length,
          );
          assert.deepEqual(forgotten, expected);
          for (const id of expected) model.delete(id);
        }
        assert.equal(ids.size, model.size);
      }
      // Every remembered id is still found (a re-add is refused), every forgotten one accepted again.
      for (const id of model) assert.equal(ids.add(id, clock), false, id);
      assert.equal(ids.add('never-seen', clock), true);
    });
  }

  it('clear forgets everything', () => {
    const ids = new RememberedEventIds();
    for (let i = 0; i < 5_000; i++) ids.add(`e${i}`, i);
    ids.clear();
    assert.equal(ids.size, 0);
    assert.equal(ids.add('e1', 0), true);
    const forgotten: string[] = [];
    ids.forgetOldest(10, (id) => forgotten.push(id));
    assert.deepEqual(forgotten, ['e1']);
  });
});
