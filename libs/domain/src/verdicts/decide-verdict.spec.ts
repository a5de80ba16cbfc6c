import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { RiskEvent } from '../events/risk-event';
import type { RuleDefinition, RuleMode } from '../rules/rule';
import { CompiledRuleSet } from '../rules/rule-compiler';
import type { RiskLevel } from './verdict';
import { decideVerdict } from './decide-verdict';

function rule(
  id: string,
  level: RiskLevel,
  score: number,
  options: { mode?: RuleMode; enabled?: boolean; threshold?: number } = {},
): RuleDefinition {
  return {
    id,
    name: id,
    enabled: options.enabled ?? true,
    mode: options.mode ?? 'active',
    priority: 1,
    conditions: { all: [{ fact: 'login_count_1h', operator: 'greaterThan', value: options.threshold ?? 0 }] },
    event: { type: 'risk', params: { risk_level: level, score, reason: `${id} fired` } },
  };
}

const event: RiskEvent = {
  event_id: 'e-1',
  user_id: 'u-1',
  event_type: 'login',
  event_time: Date.UTC(2026, 10, 20, 10),
  ip_address: undefined,
  device_id: 'd-1',
  location_city: undefined,
  amount: undefined,
};

function decide(rules: RuleDefinition[], loginCount = 3) {
  return decideVerdict(
    event,
    { login_count_1h: loginCount },
    false,
    new CompiledRuleSet({ version: 7, rules }),
    '2026-11-20T10:00:00.012Z',
  );
}

describe('decideVerdict (SPEC §5)', () => {
  it('is LOW with score 0 when nothing fires', () => {
    const v = decide([rule('a', 'HIGH', 50, { threshold: 10 })]);
    assert.equal(v.risk_level, 'LOW');
    assert.equal(v.score, 0);
    assert.deepEqual(v.rules, []);
    assert.equal(v.rules_version, 7);
    assert.equal(v.event_time, '2026-11-20T10:00:00.000Z');
  });

  it('takes the highest level, sums scores capped at 100, and sorts fired rules by id', () => {
    const v = decide([rule('z-medium', 'MEDIUM', 40), rule('a-high', 'HIGH', 50), rule('m-low', 'LOW', 30)]);
    assert.equal(v.risk_level, 'HIGH');
    assert.equal(v.score, 100);
    assert.deepEqual(
      v.rules.map((r) => r.id),
      ['a-high', 'm-low', 'z-medium'],
    );
    const w = decide([rule('a', 'LOW', 30), rule('b', 'MEDIUM', 20)]);
    assert.equal(w.risk_level, 'MEDIUM');
    assert.equal(w.score, 50);
  });

  it('reports shadow rules without letting them change level or score', () => {
    const v = decide([rule('active', 'LOW', 10), rule('shadow', 'HIGH', 90, { mode: 'shadow' })]);
    assert.equal(v.risk_level, 'LOW');
    assert.equal(v.score, 10);
    assert.deepEqual(
      v.shadow_rules.map((r) => r.id),
      ['shadow'],
    );
  });

  it('does not evaluate disabled rules', () => {
    const v = decide([rule('off', 'HIGH', 90, { enabled: false }), rule('off-shadow', 'HIGH', 90, { enabled: false, mode: 'shadow' })]);
    assert.deepEqual(v.rules, []);
    assert.deepEqual(v.shadow_rules, []);
  });

  it('explains each fired rule with the fact values seen', () => {
    const v = decide([rule('a', 'HIGH', 80, { threshold: 2 })], 3);
    assert.deepEqual(v.rules[0].explanation, [
      { path: 'conditions.all[0]', fact: 'login_count_1h', operator: 'greaterThan', value: 2, fact_value: 3, result: true },
    ]);
  });
});
