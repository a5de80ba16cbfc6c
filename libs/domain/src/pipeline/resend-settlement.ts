import { createHash } from 'node:crypto';
import type { RiskEvent } from '../events/risk-event';
import type { Alert, Verdict } from '../verdicts/verdict';
import type { VerdictQuery } from './query-ports';
import type { DecidedBatch, MessageOutcome } from './risk-pipeline';

/**
 * Resends at an ingest edge whose messages carry no id of their own (HTTP):
 * a client that got an error resends the same events, maybe to another
 * instance. The edge gives each event a messageId made from its content
 * (`contentMessageId`), so the state store answers a resend with the first
 * outcome (`redelivered`), and `settleResends` tells the two cases apart.
 * Kafka needs neither: its messages have offsets, redelivered only until
 * committed (kafka-event.consumer.ts).
 */

/**
 * The messageId of an event from `source` (e.g. `http`): a digest of its
 * decoded content, so that a client resending the same event after a failure
 * sends the same message, on any instance (the dedup records of the edge's
 * shared partition keep it with the first outcome). The decoded event is
 * hashed, so whitespace and key order of the original text do not matter.
 * Another payload under the same event_id is another message: a duplicate,
 * the first one wins (SPEC §2).
 */
export function contentMessageId(source: string, event: RiskEvent): string {
  return `${source}/${createHash('sha256').update(JSON.stringify(event)).digest('base64url').slice(0, 24)}`;
}

/**
 * The state store answers a resent event (same content) with its first
 * outcome (`redelivered`). Two cases, told apart by the verdict store:
 * - its verdict is stored: the first request was answered; the resend is the
 *   duplicate SPEC §2 describes (no verdict, no alert, counted as duplicate),
 *   as is a second copy of an event within one body;
 * - its verdict is not stored: the first request failed after the state was
 *   written (Redis or a sink failed before the verdict was delivered, and the
 *   client got a 5xx); the event keeps its first outcome, same features and
 *   cooldown answer, and its verdict and alert are delivered now.
 */
export async function settleResends(decided: DecidedBatch, verdicts: VerdictQuery): Promise<DecidedBatch> {
  const seen = new Set<string>();
  const answered = new Set<number>();
  for (let i = 0; i < decided.outcomes.length; i++) {
    const outcome = decided.outcomes[i];
    if (outcome.kind !== 'accepted' && outcome.kind !== 'late') continue;
    const id = outcome.verdict.event_id;
    if (outcome.redelivered === true && (seen.has(id) || (await verdicts.getVerdict(id)) !== undefined)) answered.add(i);
    seen.add(id);
  }
  if (answered.size === 0) return decided;
  const counts = { ...decided.counts };
  const byKind = counts.suppressedByKind === undefined ? undefined : (counts.suppressedByKind = { ...counts.suppressedByKind });
  const dropped = new Set<Verdict | Alert>();
  const outcomes = decided.outcomes.map((outcome, i): MessageOutcome => {
    if (!answered.has(i) || (outcome.kind !== 'accepted' && outcome.kind !== 'late')) return outcome;
    counts[outcome.kind]--;
    counts.duplicate++;
    const kind = outcome.verdict.suppression?.kind;
    if (kind !== undefined && byKind?.[kind] !== undefined) byKind[kind]--;
    dropped.add(outcome.verdict);
    if (outcome.alert !== undefined) dropped.add(outcome.alert);
    return { kind: 'duplicate', event_id: outcome.verdict.event_id };
  });
  return {
    ...decided,
    outcomes,
    counts,
    verdicts: decided.verdicts.filter((v) => !dropped.has(v)),
    alerts: decided.alerts.filter((a) => !dropped.has(a)),
  };
}
