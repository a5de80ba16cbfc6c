import type { RuleDefinition } from '../rules/rule';
import { RISK_LEVELS, type FiredRule, type RiskLevel, type Verdict } from '../verdicts/verdict';
import { NO_LABELS, type BacktestLabels } from './backtest-labels';
import type {
  ComparisonReport,
  LevelChange,
  OverallSideFigures,
  Rate,
  RuleComparison,
  RuleSideFigures,
  RuleStatus,
} from './backtest-report';

/** One version's decision on one event: its verdict, and whether the engine would publish an alert for it. */
export interface Decision {
  readonly verdict: Verdict;
  readonly alert: boolean;
}

export interface ComparisonOptions {
  readonly alertThreshold: RiskLevel;
  readonly labels?: BacktestLabels;
  /** How many users `top_users_by_added` lists (default 10). */
  readonly topUsers?: number;
  /** How many changed verdicts `risk_levels.examples` keeps (default 20). */
  readonly examples?: number;
}

/** Hits of one rule in one version, split by label. */
class HitCounts {
  hits = 0;
  fraud = 0;
  legit = 0;

  count(label: boolean | undefined): void {
    this.hits++;
    if (label === true) this.fraud++;
    else if (label === false) this.legit++;
  }
}

interface RuleCounts {
  readonly baseline: HitCounts;
  readonly candidate: HitCounts;
  gained: number;
  lost: number;
}

/**
 * Compares two versions' decisions on the same events, one event at a time
 * (the backtest feeds it as it decides): per rule hits in each, risk level
 * changes, alerts added and removed, and with labels precision and recall.
 * Pure: it never sees the input, only decisions; memory grows with rules,
 * users with added alerts and matched labels, not with events.
 */
export class BacktestComparison {
  private readonly labels: BacktestLabels;
  private readonly rules = new Map<string, RuleCounts>();
  private readonly status: { baseline: Map<string, RuleStatus>; candidate: Map<string, RuleStatus> };
  private readonly matrix: number[][] = RISK_LEVELS.map(() => RISK_LEVELS.map(() => 0));
  private readonly examples: LevelChange[] = [];
  private readonly addedByUser = new Map<string, number>();
  private readonly alerts = { baseline: new HitCounts(), candidate: new HitCounts() };
  private readonly matchedLabels = new Set<string>();
  private readonly suppressed = { baseline: 0, candidate: 0 };
  private evaluated = 0;
  private fraudEvents = 0;
  private legitEvents = 0;
  private added = 0;
  private removed = 0;

  constructor(
    baselineRules: readonly RuleDefinition[],
    candidateRules: readonly RuleDefinition[],
    private readonly options: ComparisonOptions,
  ) {
    this.labels = options.labels ?? NO_LABELS;
    this.status = { baseline: statusById(baselineRules), candidate: statusById(candidateRules) };
    for (const id of [...this.status.baseline.keys(), ...this.status.candidate.keys()]) this.ruleCounts(id);
  }

  add(baseline: Decision, candidate: Decision): void {
    const eventId = baseline.verdict.event_id;
    const label = this.labels.fraudByEventId.get(eventId);
    this.evaluated++;
    if (label !== undefined) {
      this.matchedLabels.add(eventId);
      if (label) this.fraudEvents++;
      else this.legitEvents++;
    }
    this.countFired(baseline.verdict, candidate.verdict, label);

    const from = RISK_LEVELS.indexOf(baseline.verdict.risk_level);
    const to = RISK_LEVELS.indexOf(candidate.verdict.risk_level);
    this.matrix[from][to]++;
    if (from !== to && this.examples.length < (this.options.examples ?? 20)) {
      this.examples.push({
        event_id: eventId,
        user_id: baseline.verdict.user_id,
        baseline: baseline.verdict.risk_level,
        candidate: candidate.verdict.risk_level,
      });
    }

    if (baseline.verdict.suppressed === true) this.suppressed.baseline++;
    if (candidate.verdict.suppressed === true) this.suppressed.candidate++;
    if (baseline.alert) this.alerts.baseline.count(label);
    if (candidate.alert) this.alerts.candidate.count(label);
    if (candidate.alert && !baseline.alert) {
      this.added++;
      const user = candidate.verdict.user_id;
      this.addedByUser.set(user, (this.addedByUser.get(user) ?? 0) + 1);
    } else if (baseline.alert && !candidate.alert) this.removed++;
  }

  report(): ComparisonReport {
    const rules: RuleComparison[] = [...this.rules.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, counts]) => ({
        id,
        baseline: this.ruleSide(this.status.baseline.get(id) ?? 'absent', counts.baseline),
        candidate: this.ruleSide(this.status.candidate.get(id) ?? 'absent', counts.candidate),
        gained: counts.gained,
        lost: counts.lost,
      }));
    let changed = 0;
    const matrix = {} as Record<RiskLevel, Record<RiskLevel, number>>;
    RISK_LEVELS.forEach((from, i) => {
      matrix[from] = {} as Record<RiskLevel, number>;
      RISK_LEVELS.forEach((to, j) => {
        matrix[from][to] = this.matrix[i][j];
        if (i !== j) changed += this.matrix[i][j];
      });
    });
    const topUsers = [...this.addedByUser.entries()]
      .sort(([userA, a], [userB, b]) => b - a || (userA < userB ? -1 : userA > userB ? 1 : 0))
      .slice(0, this.options.topUsers ?? 10)
      .map(([user_id, added]) => ({ user_id, added }));
    return {
      alert_threshold: this.options.alertThreshold,
      evaluated: this.evaluated,
      rules,
      risk_levels: { changed, matrix, examples: this.examples },
      alerts: {
        baseline: this.overallSide(this.alerts.baseline, this.suppressed.baseline),
        candidate: this.overallSide(this.alerts.candidate, this.suppressed.candidate),
        added: this.added,
        removed: this.removed,
        top_users_by_added: topUsers,
      },
      ...(this.hasLabels ? { labels: this.labelSummary() } : {}),
    };
  }

  private get hasLabels(): boolean {
    return this.options.labels !== undefined;
  }

  private countFired(baseline: Verdict, candidate: Verdict, label: boolean | undefined): void {
    const before = firedIds(baseline);
    const after = firedIds(candidate);
    for (const id of before) {
      const counts = this.ruleCounts(id);
      counts.baseline.count(label);
      if (!after.includes(id)) counts.lost++;
    }
    for (const id of after) {
      const counts = this.ruleCounts(id);
      counts.candidate.count(label);
      if (!before.includes(id)) counts.gained++;
    }
  }

  private ruleCounts(id: string): RuleCounts {
    let counts = this.rules.get(id);
    if (counts === undefined) this.rules.set(id, (counts = { baseline: new HitCounts(), candidate: new HitCounts(), gained: 0, lost: 0 }));
    return counts;
  }

  private ruleSide(status: RuleStatus, counts: HitCounts): RuleSideFigures {
    const figures: RuleSideFigures = { status, hits: counts.hits, hit_rate: ratio(counts.hits, this.evaluated) ?? 0 };
    if (!this.hasLabels) return figures;
    return {
      ...figures,
      fraud_hits: counts.fraud,
      legit_hits: counts.legit,
      unlabelled_hits: counts.hits - counts.fraud - counts.legit,
      precision: ratio(counts.fraud, counts.fraud + counts.legit),
      recall: ratio(counts.fraud, this.fraudEvents),
    };
  }

  private overallSide(counts: HitCounts, suppressed: number): OverallSideFigures {
    const figures: OverallSideFigures = { alerts: counts.hits, alert_rate: ratio(counts.hits, this.evaluated) ?? 0, suppressed };
    if (!this.hasLabels) return figures;
    return {
      ...figures,
      fraud_alerts: counts.fraud,
      legit_alerts: counts.legit,
      unlabelled_alerts: counts.hits - counts.fraud - counts.legit,
      precision: ratio(counts.fraud, counts.fraud + counts.legit),
      recall: ratio(counts.fraud, this.fraudEvents),
    };
  }

  private labelSummary(): ComparisonReport['labels'] {
    return {
      labels: this.labels.fraudByEventId.size,
      duplicate_labels: this.labels.duplicates,
      unknown_event_ids: this.labels.fraudByEventId.size - this.matchedLabels.size,
      fraud_events: this.fraudEvents,
      legit_events: this.legitEvents,
      unlabelled_events: this.evaluated - this.fraudEvents - this.legitEvents,
    };
  }
}

function statusById(rules: readonly RuleDefinition[]): Map<string, RuleStatus> {
  return new Map(rules.map((rule) => [rule.id, rule.enabled ? rule.mode : 'disabled']));
}

const NO_IDS: readonly string[] = [];

/** The ids of the rules that fired, active and shadow (a rule is one or the other in a version). */
function firedIds(verdict: Verdict): readonly string[] {
  if (verdict.rules.length === 0 && verdict.shadow_rules.length === 0) return NO_IDS;
  const ids = (rules: readonly FiredRule[]): string[] => rules.map((rule) => rule.id);
  return [...ids(verdict.rules), ...ids(verdict.shadow_rules)];
}

function ratio(numerator: number, denominator: number): Rate {
  return denominator === 0 ? null : numerator / denominator;
}
