import type { DeclaredField } from '../events/declared-fields';
import { formatEventTime } from '../events/event-time';
import type { FeatureDefinition } from '../features/feature-definition';
import type { StateSettings } from '../features/feature-store';
import { MemoryFeatureStore } from '../features/memory-feature.store';
import { admitBatch, type AdmittedBatch, type InboundMessage, type MessageOutcome, type OutcomeCounts } from '../pipeline/risk-pipeline';
import type { RejectedMessage } from '../pipeline/ports';
import { CompiledRuleSet } from '../rules/rule-compiler';
import type { ListRegistry } from '../lists/list-registry';
import type { RuleSet } from '../rules/rule';
import { decideVerdict } from '../verdicts/decide-verdict';
import { RISK_RANK, toAlert, type Alert, type RiskLevel, type Verdict } from '../verdicts/verdict';
import { AlertSuppressor } from '../suppression/alert-suppressor';
import { suppressAlerts } from '../suppression/suppress-batch';
import { BacktestComparison } from './backtest-comparison';
import { unionOfFeatures, type FeatureProjection } from './backtest-features';
import type { BacktestLabels } from './backtest-labels';
import type { ComparisonReport } from './backtest-report';

/** One side of a backtest: a rule set and the features it decides with. */
export interface BacktestVersion {
  /** Where it came from, for the report: `rules/`, `version 7`. */
  readonly source: string;
  readonly ruleSet: RuleSet;
  readonly features: readonly FeatureDefinition[];
  /** The named lists its `inList` / `notInList` conditions read (docs/lists.md); none by default. */
  readonly lists?: ListRegistry;
}

export interface BacktestOptions {
  readonly alertThreshold: RiskLevel;
  readonly settings: StateSettings;
  /** The declared event fields (docs/fields.md) events are decoded with. */
  readonly fields: readonly DeclaredField[];
  readonly maxEventTimeSkewMs: number;
  /** Reference time of the event-time skew check, epoch ms (replay's `--now`); default the wall clock. */
  readonly eventTimeReference?: () => number;
  readonly labels?: BacktestLabels;
}

/** The whole result: where each version came from, what the input held, and the comparison. */
export interface BacktestReport extends ComparisonReport {
  readonly baseline: { readonly source: string; readonly rules_version: number };
  readonly candidate: { readonly source: string; readonly rules_version: number };
  /** `accepted` counts late events too (each got a verdict from both versions), as replay's summary does. */
  readonly input: { readonly accepted: number; readonly late: number; readonly duplicates: number; readonly rejected: number };
}

interface Side {
  readonly rules: CompiledRuleSet;
  readonly features: FeatureProjection;
  /** The version's own cooldowns (event time); no snoozes: they are operations, not rules (docs/backtest.md). */
  readonly suppressor: AlertSuppressor;
}

const PARTITION = 'backtest';

type Decided = Extract<MessageOutcome, { kind: 'accepted' | 'late' }>;

/**
 * Two rule set versions over the same events in one pass (docs/backtest.md).
 * Each batch is decoded, checked and applied to one in-memory feature store
 * once (`admitBatch`, as the pipeline does), then every accepted event is
 * decided by both versions (`decideVerdict`) on the same features, and the
 * two decisions go to the comparison. Nothing is written anywhere.
 */
export class Backtest {
  private readonly store: MemoryFeatureStore;
  private readonly baseline: Side;
  private readonly candidate: Side;
  private readonly comparison: BacktestComparison;
  private readonly alertRank: number;
  private readonly counts: OutcomeCounts = { accepted: 0, late: 0, duplicate: 0, rejected: 0 };

  constructor(
    private readonly versions: { readonly baseline: BacktestVersion; readonly candidate: BacktestVersion },
    private readonly options: BacktestOptions,
  ) {
    const union = unionOfFeatures(versions.baseline.features, versions.candidate.features);
    this.store = new MemoryFeatureStore(union.definitions, options.settings);
    this.baseline = {
      rules: new CompiledRuleSet(versions.baseline.ruleSet, options.fields, undefined, versions.baseline.lists),
      features: union.baseline,
      suppressor: new AlertSuppressor(),
    };
    this.candidate = {
      rules: new CompiledRuleSet(versions.candidate.ruleSet, options.fields, undefined, versions.candidate.lists),
      features: union.candidate,
      suppressor: new AlertSuppressor(),
    };
    this.comparison = new BacktestComparison(versions.baseline.ruleSet.rules, versions.candidate.ruleSet.rules, {
      alertThreshold: options.alertThreshold,
      labels: options.labels,
    });
    this.alertRank = RISK_RANK[options.alertThreshold];
  }

  /** Decides one batch (in input order, after the previous one); returns its rejects, for a rejects file. */
  async decide(messages: readonly InboundMessage[]): Promise<readonly RejectedMessage[]> {
    const admitted = await admitBatch(this.store, PARTITION, messages, this.options.fields, {
      reference: (this.options.eventTimeReference ?? Date.now)(),
      maxEventTimeSkewMs: this.options.maxEventTimeSkewMs,
    });
    this.counts.rejected += admitted.counts.rejected;
    const now = Date.now();
    const decidedAt = formatEventTime(now);
    const { inputs, inputIndex, states } = admitted;
    for (let j = 0; j < inputs.length; j++) {
      const state = states[j];
      if (state.kind === 'duplicate') this.counts.duplicate++;
      else if (state.late) this.counts.late++;
      else this.counts.accepted++;
    }
    const before = await this.decideSide(this.baseline, admitted, messages.length, decidedAt, now);
    const after = await this.decideSide(this.candidate, admitted, messages.length, decidedAt, now);
    for (let j = 0; j < inputs.length; j++) {
      if (states[j].kind === 'duplicate') continue;
      const i = inputIndex[j];
      const b = before[i] as Decided;
      const c = after[i] as Decided;
      this.comparison.add({ verdict: b.verdict, alert: b.alert !== undefined }, { verdict: c.verdict, alert: c.alert !== undefined });
    }
    return admitted.rejects;
  }

  /**
   * One version's outcomes for the batch, as `RiskPipeline.decide` reaches
   * them: `decideVerdict` on the version's features, an alert at or above the
   * threshold, then its own cooldowns (`suppressAlerts`, on event time).
   */
  private async decideSide(side: Side, admitted: AdmittedBatch, size: number, decidedAt: string, now: number): Promise<MessageOutcome[]> {
    const outcomes: MessageOutcome[] = new Array<MessageOutcome>(size);
    const verdicts: Verdict[] = [];
    const alerts: Alert[] = [];
    const counts: OutcomeCounts = { accepted: 0, late: 0, duplicate: 0, rejected: 0 };
    const { inputs, inputIndex, states } = admitted;
    for (let j = 0; j < inputs.length; j++) {
      const state = states[j];
      if (state.kind === 'duplicate') {
        outcomes[inputIndex[j]] = { kind: 'duplicate', event_id: inputs[j].event.event_id };
        continue;
      }
      const verdict = decideVerdict(inputs[j].event, side.features(state.features), state.late, side.rules, decidedAt);
      const alert = RISK_RANK[verdict.risk_level] >= this.alertRank ? toAlert(verdict) : undefined;
      verdicts.push(verdict);
      if (alert !== undefined) alerts.push(alert);
      outcomes[inputIndex[j]] = { kind: state.late ? 'late' : 'accepted', verdict, alert };
    }
    await suppressAlerts(side.suppressor, side.rules, { outcomes, verdicts, alerts, counts, inputs, inputIndex }, this.alertRank, now);
    return outcomes;
  }

  /** Counts rejects found before decoding (a line that is not UTF-8), so the report's input figures stay whole. */
  countRejected(count: number): void {
    this.counts.rejected += count;
  }

  report(): BacktestReport {
    const { baseline, candidate } = this.versions;
    return {
      baseline: { source: baseline.source, rules_version: baseline.ruleSet.version },
      candidate: { source: candidate.source, rules_version: candidate.ruleSet.version },
      input: {
        accepted: this.counts.accepted + this.counts.late,
        late: this.counts.late,
        duplicates: this.counts.duplicate,
        rejected: this.counts.rejected,
      },
      ...this.comparison.report(),
    };
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
