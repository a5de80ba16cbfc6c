import type { RiskEvent } from '@risk/domain/events/risk-event';
import { validateEventObject } from '@risk/domain/events/event-decoder';
import type { DeclaredField } from '@risk/domain/events/declared-fields';
import { emptyFeatureValue, type FeatureDefinition, type FeatureValues } from '@risk/domain/features/feature-definition';
import type { FieldError } from '@risk/domain/shared/errors';
import { decideVerdict, factsOf } from '@risk/domain/verdicts/decide-verdict';
import type { ConditionExplanation, FiredRule, RiskLevel } from '@risk/domain/verdicts/verdict';
import { CompiledRuleSet, compileCondition, type Facts } from '@risk/domain/rules/rule-compiler';
import { NO_LISTS, type ListRegistry } from '@risk/domain/lists/list-registry';
import type { RuleCondition, RuleDefinition, RuleMode, RuleSet } from '@risk/domain/rules/rule';

/** One enabled rule of a dry run: whether it fired, and every leaf condition with the value it saw. */
export interface EvaluatedRule {
  readonly id: string;
  readonly mode: RuleMode;
  readonly fired: boolean;
  readonly explanation: readonly ConditionExplanation[];
}

export interface DryRunResult {
  /** The stored version evaluated, or `null` for a draft rule. */
  readonly rules_version: number | null;
  readonly risk_level: RiskLevel;
  readonly score: number;
  readonly rules: readonly FiredRule[];
  readonly shadow_rules: readonly FiredRule[];
  /** Every enabled rule, sorted by id, fired or not. */
  readonly evaluated: readonly EvaluatedRule[];
  readonly features: FeatureValues;
  /**
   * Where `features` came from (POST /rules/evaluate): `request` (the body's
   * `features`, the others at their empty value) or `live_state` (no
   * `features` in the body: computed from the entities' live state, which the
   * dry run leaves unchanged).
   */
  readonly features_from?: 'request' | 'live_state';
  readonly event: Readonly<Record<string, unknown>>;
}

/**
 * Feature values for a dry run: what the caller gave, every other feature at
 * its empty value (0, or false for `changed`). Errors name `<prefix>.<name>`.
 */
export function dryRunFeatures(
  definitions: readonly FeatureDefinition[],
  input: unknown,
  prefix = 'features',
): { values: FeatureValues; errors: FieldError[] } {
  const values: FeatureValues = {};
  const errors: FieldError[] = [];
  for (const d of definitions) values[d.name] = emptyFeatureValue(d);
  if (input === undefined || input === null) return { values, errors };
  if (typeof input !== 'object' || Array.isArray(input)) {
    errors.push({ path: prefix, message: 'must be an object of feature values' });
    return { values, errors };
  }
  const byName = new Map(definitions.map((d) => [d.name, d]));
  for (const [name, value] of Object.entries(input as Record<string, unknown>)) {
    const d = byName.get(name);
    if (d === undefined) errors.push({ path: `${prefix}.${name}`, message: `unknown feature "${name}"` });
    else if (d.aggregate === 'changed') {
      if (typeof value !== 'boolean') errors.push({ path: `${prefix}.${name}`, message: 'must be true or false' });
      else values[name] = value;
    } else if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      errors.push({ path: `${prefix}.${name}`, message: 'must be a finite number ≥ 0' });
    } else values[name] = value;
  }
  return { values, errors };
}

/** Validates the event of a dry run against SPEC §1 and the declared fields; errors name `<prefix>.<field>`. */
export function dryRunEvent(
  input: unknown,
  prefix = 'event',
  fields: readonly DeclaredField[] = [],
): { event?: RiskEvent; errors: FieldError[] } {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    return { errors: [{ path: prefix, message: 'must be an event object' }] };
  const decoded = validateEventObject(input as Record<string, unknown>, fields);
  if (decoded.ok) return { event: decoded.event, errors: [] };
  return { errors: decoded.errors.map((e) => ({ path: e.path === '$' ? prefix : `${prefix}.${e.path}`, message: e.message })) };
}

/** Decides `event` with `ruleSet` exactly as the pipeline would, and explains every enabled rule. */
export function dryRun(
  ruleSet: RuleSet,
  event: RiskEvent,
  features: FeatureValues,
  draft = false,
  fields: readonly DeclaredField[] = [],
  /** The lists `inList` / `notInList` conditions read (docs/lists.md). */
  lists: ListRegistry = NO_LISTS,
): DryRunResult {
  const compiled = new CompiledRuleSet(ruleSet, fields, undefined, lists);
  const verdict = decideVerdict(event, features, false, compiled, new Date(0).toISOString());
  const facts = factsOf(event, features);
  const evaluated = ruleSet.rules
    .filter((rule) => rule.enabled)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((rule) => evaluateRule(rule, facts, lists));
  return {
    rules_version: draft ? null : ruleSet.version,
    risk_level: verdict.risk_level,
    score: verdict.score,
    rules: verdict.rules,
    shadow_rules: verdict.shadow_rules,
    evaluated,
    features,
    event: {
      event_id: event.event_id,
      user_id: event.user_id,
      event_type: event.event_type,
      event_time: verdict.event_time,
      ip_address: event.ip_address ?? null,
      device_id: event.device_id ?? null,
      location_city: event.location_city ?? null,
      amount: event.amount ?? null,
      ...event.fields,
    },
  };
}

function evaluateRule(rule: RuleDefinition, facts: Facts, lists: ListRegistry): EvaluatedRule {
  return {
    id: rule.id,
    mode: rule.mode,
    fired: compileCondition(rule.conditions, lists)(facts),
    explanation: explain(rule.conditions, 'conditions', facts, [], lists),
  };
}

function explain(
  condition: RuleCondition,
  path: string,
  facts: Facts,
  into: ConditionExplanation[],
  lists: ListRegistry,
): ConditionExplanation[] {
  if ('all' in condition) condition.all.forEach((c, i) => explain(c, `${path}.all[${i}]`, facts, into, lists));
  else if ('any' in condition) condition.any.forEach((c, i) => explain(c, `${path}.any[${i}]`, facts, into, lists));
  else if ('not' in condition) explain(condition.not, `${path}.not`, facts, into, lists);
  else {
    const value = facts[condition.fact];
    into.push({
      path,
      fact: condition.fact,
      operator: condition.operator,
      value: condition.value,
      fact_value: value === undefined ? null : value,
      result: compileCondition(condition, lists)(facts),
    });
  }
  return into;
}
