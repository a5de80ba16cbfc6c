import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import type { RiskEvent } from '../events/risk-event';
import { parseFeatureDefinitions } from './feature-definition';
import { buildEntityGroups, entityKey } from './entity-features';
import { entityTable, splitPair } from './memory-entity-tables';

const [pairGroup] = buildEntityGroups(
  parseFeatureDefinitions({ features: [{ name: 'pair_1h', entity: ['user_id', 'device_id'], aggregate: 'count', window: '1h' }] }),
  TEST_STATE_SETTINGS,
);

function ev(user: string | undefined, device: string | undefined, time = 0): RiskEvent {
  return { event_id: `${user}-${device}-${time}`, user_id: user, device_id: device, event_type: 'login', event_time: time } as RiskEvent;
}

describe('memory entity tables: a composite key kept as first value → second value', () => {
  it('addresses the same entities as the stored text form, including values holding ":" and "|"', () => {
    const table = entityTable(pairGroup);
    const pairs: [string, string][] = [
      ['alice', 'd-1'],
      ['alice', 'd-2'],
      ['a|b', 'c'],
      ['a', 'b|c'],
      ['1:x', 'y'],
    ];
    const states = pairs.map(([u, d]) => table.stateOf(pairGroup, ev(u, d)));
    assert.equal(table.size, pairs.length);
    assert.equal(new Set(states).size, pairs.length, 'one state per pair');
    pairs.forEach(([u, d], i) => {
      assert.equal(table.stateOf(pairGroup, ev(u, d, 5)), states[i], 'found again, not created');
      const text = entityKey(pairGroup, ev(u, d)) as string;
      assert.equal(table.find(text), states[i], text);
      assert.deepEqual(splitPair(text), [u, d]);
    });
    assert.equal(table.size, pairs.length);
    assert.equal(table.stateOf(pairGroup, ev('alice', undefined)), undefined);
    assert.equal(table.stateOf(pairGroup, ev(undefined, 'd-1')), undefined);
    for (const malformed of ['alice|d-1', '05:alice|d-1', '6:alice|d-1', '5:alice', ':|', 'x:alice|d-1']) {
      assert.equal(table.find(malformed), undefined, malformed);
    }
  });

  it('removes what the test holds for, counts it, and iterates the rest', () => {
    const table = entityTable(pairGroup);
    for (let u = 0; u < 20; u++) for (let d = 0; d < 3; d++) table.stateOf(pairGroup, ev(`u${u}`, `d${d}`, u * 3 + d));
    let removed = 0;
    table.removeIf(
      (state) => state.newest % 2 === 0,
      () => removed++,
    );
    assert.equal(removed, 30);
    assert.equal(table.size, 30);
    assert.ok([...table.states()].every((s) => s.newest % 2 === 1));
    const copy = table.mapped((s) => ({ ...s, newest: s.newest + 1 }));
    assert.equal(copy.size, 30);
    assert.equal(copy.find('2:u1|d0')?.newest, 4);
    assert.equal(table.find('2:u1|d0')?.newest, 3);
    table.removeIf(
      () => true,
      () => removed++,
    );
    assert.equal(table.size, 0);
    assert.deepEqual([...table.states()], []);
  });
});
