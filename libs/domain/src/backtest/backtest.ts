import type { DeclaredField } from '../events/declared-fields';
import { formatEventTime } from '../events/event-time';
import type { FeatureDefinition } from '../features/feature-definition';
import type { StateSettings } from '../features/feature-store';
import { MemoryFeatureStore } from '../features/memory-feature.store';
import { admitBatch, type InboundMessage, type OutcomeCounts } from '../pipeline/risk-pipeline';
import type { RejectedMessage } from '../pipeline/ports';
import { CompiledRuleSet } from '../rules/rule-compiler';
import type { RuleSet } from '../rules/rule';
import { decideVerdict } from '../verdicts/decide-verdict';
import { RISK_RANK, type RiskLevel } from '../verdicts/verdict';
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
}

const PARTITION = 'backtest';

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
    this.baseline = { rules: new CompiledRuleSet(versions.baseline.ruleSet, options.fields), features: union.baseline };
    this.candidate = { rules: new CompiledRuleSet(versions.candidate.ruleSet, options.fields), features: union.candidate };
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
    const decidedAt = formatEventTime(Date.now());
    const { inputs, states } = admitted;
    for (let j = 0; j < inputs.length; j++) {
      const state = states[j];
      if (state.kind === 'duplicate') {
        this.counts.duplicate++;
        continue;
      }
      if (state.late) this.counts.late++;
      else this.counts.accepted++;
      const event = inputs[j].event;
      const before = decideVerdict(event, this.baseline.features(state.features), state.late, this.baseline.rules, decidedAt);
      const after = decideVerdict(event, this.candidate.features(state.features), state.late, this.candidate.rules, decidedAt);
      this.comparison.add(
        { verdict: before, alert: RISK_RANK[before.risk_level] >= this.alertRank },
        { verdict: after, alert: RISK_RANK[after.risk_level] >= this.alertRank },
      );
    }
    return admitted.rejects;
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
