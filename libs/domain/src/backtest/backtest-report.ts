import type { RiskLevel } from '../verdicts/verdict';

/** How a rule stands in one version: evaluated (`active`, `shadow`), `disabled`, or not in it (`absent`). */
export type RuleStatus = 'active' | 'shadow' | 'disabled' | 'absent';

/** A ratio, or `null` when its denominator is 0 (no labelled hit, no fraud event). */
export type Rate = number | null;

/** One version's figures for one rule (docs/backtest.md defines each). */
export interface RuleSideFigures {
  readonly status: RuleStatus;
  /** Evaluated events it fired on (active or shadow). */
  readonly hits: number;
  /** hits / evaluated events. */
  readonly hit_rate: number;
  /** With labels only. */
  readonly fraud_hits?: number;
  readonly legit_hits?: number;
  readonly unlabelled_hits?: number;
  /** fraud_hits / (fraud_hits + legit_hits). */
  readonly precision?: Rate;
  /** fraud_hits / fraud events. */
  readonly recall?: Rate;
}

export interface RuleComparison {
  readonly id: string;
  readonly baseline: RuleSideFigures;
  readonly candidate: RuleSideFigures;
  /** Events the candidate's rule fired on and the baseline's did not. */
  readonly gained: number;
  /** Events the baseline's rule fired on and the candidate's did not. */
  readonly lost: number;
}

/** One version's alerts over the whole input. */
export interface OverallSideFigures {
  readonly alerts: number;
  /** alerts / evaluated events. */
  readonly alert_rate: number;
  /** Verdicts at or above the threshold whose alert the version's cooldowns suppressed (not in `alerts`). */
  readonly suppressed: number;
  readonly fraud_alerts?: number;
  readonly legit_alerts?: number;
  readonly unlabelled_alerts?: number;
  /** fraud_alerts / (fraud_alerts + legit_alerts). */
  readonly precision?: Rate;
  /** fraud_alerts / fraud events. */
  readonly recall?: Rate;
}

export interface LevelChange {
  readonly event_id: string;
  readonly user_id: string;
  readonly baseline: RiskLevel;
  readonly candidate: RiskLevel;
}

export interface LabelSummary {
  /** Distinct labelled event ids given. */
  readonly labels: number;
  /** Labels that repeated an event id (the last one counts). */
  readonly duplicate_labels: number;
  /** Labels whose event id got no verdict: not in the input, rejected, or dropped as a duplicate. */
  readonly unknown_event_ids: number;
  readonly fraud_events: number;
  readonly legit_events: number;
  /** Evaluated events without a label: in no precision or recall. */
  readonly unlabelled_events: number;
}

/** What a backtest found: the same shape from the CLI (`--report`) and from `POST /backtests`. */
export interface ComparisonReport {
  readonly alert_threshold: RiskLevel;
  /** Events with a verdict (accepted, late included), each decided by both versions. */
  readonly evaluated: number;
  /** Every rule of either version, by id. */
  readonly rules: readonly RuleComparison[];
  readonly risk_levels: {
    /** Verdicts whose risk level differs between the versions. */
    readonly changed: number;
    /** matrix[baseline level][candidate level]: verdict counts. */
    readonly matrix: Readonly<Record<RiskLevel, Readonly<Record<RiskLevel, number>>>>;
    /** The first changed verdicts in input order (at most `examples` of the options). */
    readonly examples: readonly LevelChange[];
  };
  readonly alerts: {
    readonly baseline: OverallSideFigures;
    readonly candidate: OverallSideFigures;
    /** Events the candidate alerts on and the baseline does not. */
    readonly added: number;
    readonly removed: number;
    /** Users with the most added alerts, most first (ties by user id). */
    readonly top_users_by_added: readonly { readonly user_id: string; readonly added: number }[];
  };
  /** Present when labels were given. */
  readonly labels?: LabelSummary;
}
