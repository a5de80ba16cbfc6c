import type { RiskEvent } from '../events/risk-event';
import { formatEventTime } from '../events/event-time';
import type { FeatureValues } from '../features/feature-definition';
import type { CompiledRuleSet, Facts } from '../rules/rule-compiler';
import { RISK_RANK, type FiredRule, type RiskLevel, type Verdict } from './verdict';

/** The facts a rule sees (SPEC §4): every feature plus the event fields, declared ones (docs/fields.md) included. */
export function factsOf(event: RiskEvent, features: FeatureValues): Facts {
  const facts: Record<string, unknown> = {
    event_type: event.event_type,
    user_id: event.user_id,
    ip_address: event.ip_address,
    device_id: event.device_id,
    location_city: event.location_city,
    amount: event.amount,
  };
  const declared = event.fields;
  if (declared !== undefined) for (const name in declared) facts[name] = declared[name];
  for (const name in features) facts[name] = features[name];
  return facts;
}

/** SPEC §5: highest level among active fired rules (LOW if none); score summed, capped at 100. */
export function aggregateRisk(fired: readonly FiredRule[]): { risk_level: RiskLevel; score: number } {
  let level: RiskLevel = 'LOW';
  let score = 0;
  for (const rule of fired) {
    if (RISK_RANK[rule.risk_level] > RISK_RANK[level]) level = rule.risk_level;
    score += rule.score;
  }
  return { risk_level: level, score: score > 100 ? 100 : score };
}

export function decideVerdict(
  event: RiskEvent,
  features: FeatureValues,
  late: boolean,
  ruleSet: CompiledRuleSet,
  decidedAt: string,
): Verdict {
  const results = ruleSet.evaluate(features, event as unknown as Facts);
  const { risk_level, score } = aggregateRisk(results.active);
  return {
    event_id: event.event_id,
    user_id: event.user_id,
    event_type: event.event_type,
    event_time: formatEventTime(event.event_time),
    risk_level,
    score,
    rules: results.active,
    shadow_rules: results.shadow,
    features,
    late,
    rules_version: ruleSet.version,
    decided_at: decidedAt,
  };
}
