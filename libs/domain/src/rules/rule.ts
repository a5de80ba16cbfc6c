import type { RiskLevel } from '../verdicts/verdict';
import type { FeatureDocument } from '../features/feature-document';

/** json-rules-engine leaf condition. */
export interface LeafCondition {
  readonly fact: string;
  readonly operator: string;
  readonly value: unknown;
  readonly path?: string;
  readonly params?: Record<string, unknown>;
}
export interface AllCondition {
  readonly all: readonly RuleCondition[];
}
export interface AnyCondition {
  readonly any: readonly RuleCondition[];
}
export interface NotCondition {
  readonly not: RuleCondition;
}
export type RuleCondition = LeafCondition | AllCondition | AnyCondition | NotCondition;
export type TopLevelCondition = AllCondition | AnyCondition | NotCondition;

export type RuleMode = 'active' | 'shadow';

/** SPEC §4: a rule as stored, shipped in `rules/*.json` and managed by the admin API. */
export interface RuleDefinition {
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly enabled: boolean;
  readonly mode: RuleMode;
  readonly priority: number;
  readonly conditions: TopLevelCondition;
  readonly event: {
    readonly type: 'risk';
    readonly params: { readonly risk_level: RiskLevel; readonly score: number; readonly reason: string };
  };
  /** Alert at most once per `key` value per `duration` of event time (docs/suppression.md). */
  readonly cooldown?: RuleCooldown;
}

/** A rule's cooldown as written: `{"key": "user_id", "duration": "30m"}`. */
export interface RuleCooldown {
  /** A string event field (SPEC §1 or declared) that names the entity. */
  readonly key: string;
  /** A duration of event time, 1s to 30d. */
  readonly duration: string;
}

/** An immutable, numbered set of rules: what decides a verdict (`rules_version`). */
export interface RuleSet {
  readonly version: number;
  readonly rules: readonly RuleDefinition[];
  /** The feature definitions the version pins (docs/features.md); absent: the start-up `features.json`. */
  readonly features?: readonly FeatureDocument[];
}

/** json-rules-engine's built-in operators (SPEC §4). */
export const BUILT_IN_OPERATORS = [
  'equal',
  'notEqual',
  'lessThan',
  'lessThanInclusive',
  'greaterThan',
  'greaterThanInclusive',
  'in',
  'notIn',
  'contains',
  'doesNotContain',
] as const;
export type BuiltInOperator = (typeof BUILT_IN_OPERATORS)[number];

/** Operators on named lists (docs/lists.md): the condition's `value` is the list's name. */
export const LIST_OPERATORS = ['inList', 'notInList'] as const;
export type ListOperator = (typeof LIST_OPERATORS)[number];

/** Every operator a rule may use. */
export const RULE_OPERATORS: readonly string[] = [...BUILT_IN_OPERATORS, ...LIST_OPERATORS];
