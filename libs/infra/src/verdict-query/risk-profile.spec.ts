import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RiskLevel, Verdict } from '@risk/domain';
import { applyRiskProfileUpdate, riskProfileUpdate, toRiskProfile, type RiskProfileUpdate, type StoredRiskProfile } from './risk-profile';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-20T00:00:00.000Z');

function update(id: string, hours: number, level: RiskLevel): RiskProfileUpdate {
  const ms = T0 + hours * HOUR;
  const iso = new Date(ms).toISOString();
  return { user_id: 'u', event_id: id, event_time: iso, event_time_ms: ms, risk_level: level, score: 1, decided_at: iso };
}

/** Applies the updates in order, each to a JSON round-trip of the previous profile, as a read-modify-write through a store does. */
function run(list: readonly RiskProfileUpdate[], maxRecent = 200): { profile: StoredRiskProfile | undefined; outcomes: string[] } {
  let profile: StoredRiskProfile | undefined;
  const outcomes: string[] = [];
  for (const u of list) {
    const outcome = applyRiskProfileUpdate(profile === undefined ? undefined : structuredClone(profile), u, maxRecent);
    outcomes.push(outcome.kind);
    if (outcome.kind === 'updated') profile = JSON.parse(JSON.stringify(outcome.profile)) as StoredRiskProfile;
  }
  return { profile, outcomes };
}

describe('risk profile update', () => {
  const events = [update('a', 0, 'HIGH'), update('b', 5, 'LOW'), update('c', 5, 'MEDIUM'), update('d', 26, 'LOW'), update('e', 12, 'LOW')];

  it('gives the same profile for every arrival order and with duplicates', () => {
    const expected = run(events).profile!;
    assert.equal(expected.latest.event_id, 'd');
    assert.deepEqual(expected.counts, { LOW: 3, MEDIUM: 1, HIGH: 1, total: 5 });
    assert.equal(expected.highest_risk_24h, 'MEDIUM', 'HIGH at 0 h is outside (2 h, 26 h]');
    const orders = [
      [4, 3, 2, 1, 0],
      [2, 0, 4, 1, 3],
      [3, 3, 1, 0, 2, 4, 0],
    ];
    for (const order of orders) assert.deepEqual(run(order.map((i) => events[i])).profile, expected, order.join());
  });

  it('never lets an older event replace the latest one; ties go to the greater event_id', () => {
    const { profile } = run([update('new', 10, 'LOW'), update('old', 2, 'HIGH'), update('a-tie', 10, 'MEDIUM')]);
    assert.equal(profile!.latest.event_id, 'new');
    assert.equal(profile!.updated_at, update('new', 10, 'LOW').decided_at);
    assert.equal(run([update('a-tie', 10, 'MEDIUM'), update('new', 10, 'LOW')]).profile!.latest.event_id, 'new');
  });

  it('reports an event already counted and leaves the profile alone', () => {
    const { profile, outcomes } = run([events[0], events[1], events[0]]);
    assert.deepEqual(outcomes, ['updated', 'updated', 'already-counted']);
    assert.equal(profile!.counts.total, 2);
  });

  it('ignores events older than the oldest remembered one when the list is full', () => {
    const { profile, outcomes } = run(
      [update('x', 10, 'LOW'), update('y', 11, 'LOW'), update('z', 12, 'LOW'), update('old', 9, 'HIGH')],
      2,
    );
    assert.deepEqual(outcomes, ['updated', 'updated', 'updated', 'too-old']);
    assert.equal(profile!.counts.total, 3);
    assert.deepEqual(
      profile!.state.recent.map((r) => r[0]),
      ['z', 'y'],
    );
  });

  it('validates what it reads from a verdict, and serves the read model', () => {
    const base = { user_id: 'u', event_id: 'e', event_time: '2026-11-20T00:00:00.000Z', risk_level: 'HIGH', score: 80, decided_at: 'x' };
    assert.equal((riskProfileUpdate(base as unknown as Verdict) as RiskProfileUpdate).event_time_ms, T0);
    const bad = riskProfileUpdate({ ...base, score: 'high', risk_level: 'SEVERE', event_time: 'soon' } as unknown as Verdict);
    assert.deepEqual('errors' in bad ? bad.errors.map((e) => e.path) : [], ['event_time', 'risk_level', 'score']);
    const stored = run([update('a', 0, 'HIGH')]).profile!;
    assert.deepEqual(toRiskProfile(stored), {
      user_id: 'u',
      latest: { event_id: 'a', event_time: stored.latest.event_time, risk_level: 'HIGH', score: 1 },
      highest_risk_24h: 'HIGH',
      counts: { LOW: 0, MEDIUM: 0, HIGH: 1 },
      updated_at: stored.updated_at,
    });
  });
});
