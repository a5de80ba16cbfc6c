import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PROFILE_MAPPINGS, VERDICT_MAPPINGS, monthlyVerdictIndex, verdictTemplate } from './elasticsearch-verdict.indices';

describe('verdict index layout', () => {
  it('names monthly indices by UTC event_time', () => {
    assert.equal(monthlyVerdictIndex('risk', '2026-11-20T10:00:00.000Z'), 'risk-verdicts-2026.11');
    assert.equal(monthlyVerdictIndex('risk', '2026-12-31T23:59:59.999Z'), 'risk-verdicts-2026.12');
    assert.equal(monthlyVerdictIndex('x', '2027-01-01T00:30:00+01:00'), 'x-verdicts-2027.01', 'not normalised: goes through Date');
    assert.throws(() => monthlyVerdictIndex('risk', 'soon'));
  });

  it('maps every verdict field explicitly and strictly', () => {
    assert.equal(VERDICT_MAPPINGS.dynamic, 'strict');
    assert.equal(PROFILE_MAPPINGS.dynamic, 'strict');
    assert.deepEqual(Object.keys(VERDICT_MAPPINGS.properties), [
      'event_id',
      'user_id',
      'event_type',
      'event_time',
      'risk_level',
      'score',
      'rules',
      'shadow_rules',
      'features',
      'late',
      'rules_version',
      'suppressed',
      'suppression',
      'decided_at',
    ]);
    // Suppressed verdicts (docs/suppression.md): counted and filtered by these.
    assert.deepEqual(VERDICT_MAPPINGS.properties.suppressed, { type: 'boolean' });
    assert.deepEqual(VERDICT_MAPPINGS.properties.suppression.properties.kind, { type: 'keyword' });
    assert.deepEqual(VERDICT_MAPPINGS.properties.suppression.properties.rule_id, { type: 'keyword' });
    assert.deepEqual(VERDICT_MAPPINGS.properties.rules.properties.explanation, { type: 'object', enabled: false });
    const template = verdictTemplate('risk') as { index_patterns: string[]; template: { aliases: Record<string, unknown> } };
    assert.deepEqual(template.index_patterns, ['risk-verdicts-*']);
    assert.deepEqual(Object.keys(template.template.aliases), ['risk-verdicts']);
  });
});
