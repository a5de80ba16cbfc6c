import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { Verdict } from '@risk/domain';
import { EngineMetrics } from './engine.metrics';

function verdict(version: number, rules: string[], shadow: string[] = []): Verdict {
  const fired = (id: string) => ({ id, risk_level: 'HIGH' as const, score: 10, reason: id, explanation: [] });
  return {
    event_id: `e-${version}-${rules.join()}`,
    user_id: 'u',
    event_type: 'login',
    event_time: '2026-11-20T10:00:00.000Z',
    risk_level: 'HIGH',
    score: 10,
    rules: rules.map(fired),
    shadow_rules: shadow.map(fired),
    features: {},
    late: false,
    rules_version: version,
    decided_at: '2026-11-20T10:00:00.001Z',
  };
}

async function hitLines(metrics: EngineMetrics): Promise<string[]> {
  return (await metrics.render()).body.split('\n').filter((l) => l.startsWith('risk_engine_rule_hits_total{'));
}

describe('EngineMetrics rule hits', () => {
  it('counts each fired rule per mode and version, keeping the series of the two latest versions seen', async () => {
    const metrics = new EngineMetrics({ defaultMetrics: false });
    metrics.recordRuleHits([verdict(1, ['a']), verdict(1, ['a', 'b'], ['s']), verdict(1, [])]);
    assert.deepEqual(await hitLines(metrics), [
      'risk_engine_rule_hits_total{rule_id="a",mode="active",rules_version="1"} 2',
      'risk_engine_rule_hits_total{rule_id="b",mode="active",rules_version="1"} 1',
      'risk_engine_rule_hits_total{rule_id="s",mode="shadow",rules_version="1"} 1',
    ]);
    metrics.recordRuleHits([verdict(2, ['a'])]);
    assert.equal((await hitLines(metrics)).length, 4, 'version 1 is still one of the two latest');
    // A rollback activates an older number: it is the most recently seen version, and version 1 goes.
    metrics.recordRuleHits([verdict(0, [], ['s'])]);
    assert.deepEqual(await hitLines(metrics), [
      'risk_engine_rule_hits_total{rule_id="a",mode="active",rules_version="2"} 1',
      'risk_engine_rule_hits_total{rule_id="s",mode="shadow",rules_version="0"} 1',
    ]);
  });
});
