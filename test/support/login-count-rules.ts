import { parseFeatureDefinitions, type RiskLevel, type RuleDefinition } from '@risk/domain';

/**
 * The smallest feature set and rules a pipeline test needs: one count of a
 * user's logins in the last hour, and rules that fire at a threshold of it.
 * Shared by the pipeline's and the Kafka consumer's specs.
 */
export const LOGIN_COUNT_FEATURES = parseFeatureDefinitions({
  features: [{ name: 'login_count_1h', entity: 'user_id', aggregate: 'count', event_types: ['login'], window: '1h' }],
});

/** An active rule of `level` (score 10) that fires once login_count_1h reaches `threshold`. */
export function loginCountRule(id: string, level: RiskLevel, threshold: number): RuleDefinition {
  return {
    id,
    name: id,
    enabled: true,
    mode: 'active',
    priority: 1,
    conditions: { all: [{ fact: 'login_count_1h', operator: 'greaterThanInclusive', value: threshold }] },
    event: { type: 'risk', params: { risk_level: level, score: 10, reason: id } },
  };
}
