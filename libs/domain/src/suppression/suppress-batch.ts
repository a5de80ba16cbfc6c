import type { StateInput } from '../features/feature-store';
import type { CompiledRuleSet } from '../rules/rule-compiler';
import { withSuppression, type Alert, type SuppressionKind, type Verdict } from '../verdicts/verdict';
import type { AlertCandidate, AlertSuppressor } from './alert-suppressor';

/**
 * A pipeline outcome as seen here (`MessageOutcome`, described by shape: the
 * pipeline imports this file, not the other way round).
 */
interface Outcome {
  readonly kind: string;
  readonly verdict?: Verdict;
  readonly alert?: Alert;
}

/** The parts of a batch being decided that suppression rewrites (arrays changed in place). */
export interface BatchToReview {
  readonly outcomes: Outcome[];
  readonly verdicts: Verdict[];
  readonly alerts: Alert[];
  readonly counts: { suppressedByKind?: Partial<Record<SuppressionKind, number>> };
  readonly inputs: readonly StateInput[];
  readonly inputIndex: readonly number[];
}

/**
 * Runs the batch's would-be alerts past the suppressor: a suppressed one
 * keeps its verdict (marked `suppressed`, stored and counted like any other)
 * and loses its alert. Counts go to `counts.suppressedByKind`.
 */
export async function suppressAlerts(
  suppressor: AlertSuppressor,
  ruleSet: CompiledRuleSet,
  batch: BatchToReview,
  alertRank: number,
  now: number,
): Promise<void> {
  if (batch.alerts.length === 0 || suppressor.isIdle(ruleSet)) return;
  const candidates: AlertCandidate[] = [];
  const at: number[] = [];
  for (let j = 0; j < batch.inputs.length; j++) {
    const i = batch.inputIndex[j];
    const outcome = batch.outcomes[i];
    if ((outcome.kind === 'accepted' || outcome.kind === 'late') && outcome.verdict !== undefined && outcome.alert !== undefined) {
      candidates.push({ event: batch.inputs[j].event, verdict: outcome.verdict });
      at.push(i);
    }
  }
  const answers = await suppressor.review(ruleSet, candidates, alertRank, now);
  const suppressedIds = new Set<string>();
  // Where each verdict sits in `batch.verdicts`, built on the first suppression (an indexOf each would be quadratic).
  let verdictIndex: Map<Verdict, number> | undefined;
  answers.forEach((why, k) => {
    if (why === undefined) return;
    const i = at[k];
    const outcome = batch.outcomes[i];
    const verdict = withSuppression(candidates[k].verdict, why);
    batch.outcomes[i] = { ...outcome, verdict, alert: undefined };
    verdictIndex ??= new Map(batch.verdicts.map((v, index) => [v, index]));
    batch.verdicts[verdictIndex.get(candidates[k].verdict)!] = verdict;
    suppressedIds.add(verdict.event_id);
    const byKind = (batch.counts.suppressedByKind ??= {});
    byKind[why.kind] = (byKind[why.kind] ?? 0) + 1;
  });
  if (suppressedIds.size === 0) return;
  const kept = batch.alerts.filter((alert) => !suppressedIds.has(alert.alert_id));
  batch.alerts.length = 0;
  batch.alerts.push(...kept);
}
