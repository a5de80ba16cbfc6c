import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RiskLevel } from '@risk/domain';
import { RISK_PROFILE_PAINLESS, applyRiskProfileUpdate, type RiskProfileParams } from './risk-profile.script';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-20T00:00:00.000Z');

function params(id: string, hours: number, level: RiskLevel, maxRecent = 200): RiskProfileParams {
  const ms = T0 + hours * HOUR;
  const iso = new Date(ms).toISOString();
  return {
    user_id: 'u',
    event_id: id,
    event_time: iso,
    event_time_ms: ms,
    risk_level: level,
    score: 1,
    decided_at: iso,
    max_recent: maxRecent,
  };
}

function run(list: readonly RiskProfileParams[]): Record<string, unknown> {
  const source: Record<string, unknown> = {};
  for (const p of list) {
    const ctx = { _source: source, op: 'index' };
    applyRiskProfileUpdate(ctx, p);
  }
  return source;
}

describe('risk profile update (JS twin of the painless script)', () => {
  const events = [params('a', 0, 'HIGH'), params('b', 5, 'LOW'), params('c', 5, 'MEDIUM'), params('d', 26, 'LOW'), params('e', 12, 'LOW')];

  it('gives the same profile for every arrival order and with duplicates', () => {
    const expected = run(events);
    assert.deepEqual((expected.latest as { event_id: string }).event_id, 'd');
    assert.deepEqual(expected.counts, { LOW: 3, MEDIUM: 1, HIGH: 1, total: 5 });
    assert.equal(expected.highest_risk_24h, 'MEDIUM', 'HIGH at 0 h is outside (2 h, 26 h]');
    const orders = [
      [4, 3, 2, 1, 0],
      [2, 0, 4, 1, 3],
      [3, 3, 1, 0, 2, 4, 0],
    ];
    for (const order of orders) assert.deepEqual(run(order.map((i) => events[i])), expected, order.join());
  });

  it('sets op to noop for an event already counted', () => {
    const source = run(events.slice(0, 2));
    const ctx = { _source: source, op: 'index' };
    applyRiskProfileUpdate(ctx, events[0]);
    assert.equal(ctx.op, 'noop');
  });

  it('ignores events older than the oldest remembered one when the list is full', () => {
    const capped = (p: RiskProfileParams) => ({ ...p, max_recent: 2 });
    const source = run([params('x', 10, 'LOW'), params('y', 11, 'LOW'), params('z', 12, 'LOW')].map(capped));
    const ctx = { _source: source, op: 'index' };
    applyRiskProfileUpdate(ctx, capped(params('old', 9, 'HIGH')));
    assert.equal(ctx.op, 'noop');
    assert.deepEqual((source.counts as { total: number }).total, 3);
  });

  it('keeps the painless source in step with the parameters it reads', () => {
    for (const name of ['user_id', 'event_id', 'event_time', 'event_time_ms', 'risk_level', 'score', 'decided_at', 'max_recent']) {
      assert.ok(RISK_PROFILE_PAINLESS.includes(`params.${name}`), name);
    }
    assert.ok(RISK_PROFILE_PAINLESS.includes('86400000L'));
  });
});
