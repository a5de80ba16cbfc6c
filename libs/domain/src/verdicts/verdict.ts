import type { FeatureValues } from '../features/feature-definition';

export type RiskLevel = 'LOW' | 'MEDIUM' | 'HIGH';
export const RISK_LEVELS: readonly RiskLevel[] = ['LOW', 'MEDIUM', 'HIGH'];
export const RISK_RANK: Readonly<Record<RiskLevel, number>> = { LOW: 0, MEDIUM: 1, HIGH: 2 };

/** Why a rule fired: every leaf condition, the fact value seen and whether it held. */
export interface ConditionExplanation {
  /** Where the condition sits in the rule, e.g. `conditions.all[1]`. */
  readonly path: string;
  readonly fact: string;
  readonly operator: string;
  readonly value: unknown;
  /** `null` when the fact was absent. */
  readonly fact_value: unknown;
  readonly result: boolean;
}

export interface FiredRule {
  readonly id: string;
  readonly risk_level: RiskLevel;
  readonly score: number;
  readonly reason: string;
  readonly explanation: readonly ConditionExplanation[];
}

/** SPEC §5: one verdict per accepted event. Property order is the serialised order. */
export interface Verdict {
  readonly event_id: string;
  readonly user_id: string;
  readonly event_type: string;
  /** UTC ISO-8601 with milliseconds. */
  readonly event_time: string;
  readonly risk_level: RiskLevel;
  readonly score: number;
  readonly rules: readonly FiredRule[];
  readonly shadow_rules: readonly FiredRule[];
  readonly features: FeatureValues;
  readonly late: boolean;
  readonly rules_version: number;
  /** Present (always `true`) only when the verdict's alert was suppressed (docs/suppression.md). */
  readonly suppressed?: true;
  /** Why the alert was suppressed; present exactly when `suppressed` is. */
  readonly suppression?: Suppression;
  readonly decided_at: string;
}

export type SuppressionKind = 'cooldown' | 'snooze';

/** Why a verdict that would have alerted published no alert (docs/suppression.md). */
export interface Suppression {
  readonly kind: SuppressionKind;
  readonly reason: string;
  /** The rule whose cooldown or snooze held the alert back; null for a snooze of every rule. */
  readonly rule_id: string | null;
  /** `<field>:<value>`, e.g. `user_id:u-1`. */
  readonly entity: string;
  /** When the cooldown (event time) or the snooze (wall clock) ends, ISO-8601 UTC. */
  readonly until: string | null;
}

/** The same verdict marked as suppressed, `suppressed` and `suppression` placed after `rules_version` (serialised order). */
export function withSuppression(verdict: Verdict, suppression: Suppression): Verdict {
  const { decided_at, ...rest } = verdict;
  return { ...rest, suppressed: true, suppression, decided_at };
}

/** SPEC §6: a verdict at or above the alert threshold, plus `alert_id` = `event_id`. */
export interface Alert extends Verdict {
  readonly alert_id: string;
}

export function toAlert(verdict: Verdict): Alert {
  return { ...verdict, alert_id: verdict.event_id };
}
