import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StateInput } from '@risk/domain';
import { TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import { defaultDefinitions } from '@test/support/state-stream';
import { featureSetPlan } from './redis-feature-set.plan';

function input(event_id: string, event_time: number, messageId?: string): StateInput {
  return {
    event: {
      event_id,
      user_id: 'u',
      event_type: 'login',
      event_time,
      ip_address: undefined,
      device_id: undefined,
      location_city: undefined,
      amount: undefined,
    },
    messageId,
  };
}

describe('PartitionLedger.records', () => {
  it("writes each accepted event's dedup record and order entry in the stored text form, whatever its id and time", () => {
    const plan = featureSetPlan(
      defaultDefinitions(),
      TEST_STATE_SETTINGS,
      { keyPrefix: 't:', cluster: false },
      { owner: 'o', dedupKeyTtlMs: 1 },
    );
    const T = Date.parse('2026-11-20T10:00:00Z');
    // Whole times are written digit by digit; other times (fractions, before 1970) through their String form.
    const inputs = [
      input('evt-1', T),
      input('é-€-😀', T + 7),
      input('evt-3', 0),
      input('evt-4', -1_500),
      input('evt-5', T + 0.5),
      input('evt-6', T + 9, 'events/0/17'),
    ];
    const ids = inputs.map((i) => i.event.event_id);
    const acceptance = plan.ledger.accept(inputs, ids, { max: undefined, version: 0, records: ids.map(() => null), head: [] }, new Map());
    const outcomes = plan.ledger.outcomes(inputs, acceptance, {
      features: inputs.map(() => plan.empty.slice()),
      redelivered: new Set(),
    });
    // evt-3 and evt-4 come long after T: late, and their records say so.
    const { records, order, count } = plan.ledger.records(inputs, acceptance, outcomes);
    assert.equal(count, 6);
    assert.equal(records.count, 12);
    assert.equal(order.count, 6);
    const text = (b: Buffer): string => b.toString('utf8');
    const stored = records.split().map(text);
    assert.deepEqual(stored.slice(0, 10), [
      'evt-1',
      `A0${T},`,
      'é-€-😀',
      `A0${T + 7},`,
      'evt-3',
      'A10,',
      'evt-4',
      'A1-1500,',
      'evt-5',
      `A0${T + 0.5},`,
    ]);
    assert.equal(stored[10], 'evt-6');
    assert.match(stored[11], new RegExp(`^F0${T + 9},events/0/17\\u001f${plan.ledger.featureSetId}\\u001f`));
    assert.deepEqual(order.split().map(text), [
      `${T},evt-1`,
      `${T + 7},é-€-😀`,
      '0,evt-3',
      '-1500,evt-4',
      `${T + 0.5},evt-5`,
      `${T + 9},evt-6`,
    ]);
  });
});
