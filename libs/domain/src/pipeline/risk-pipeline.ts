import { decodeEvent, type DecodeResult } from '../events/event-decoder';
import type { RiskEvent } from '../events/risk-event';
import type { DeclaredField } from '../events/declared-fields';
import type { FeatureDefinition } from '../features/feature-definition';
import { formatEventTime } from '../events/event-time';
import type { FeatureStore, StateInput, StateOutcome } from '../features/feature-store';
import type { RuleSetHolder } from '../rules/rule-set-holder';
import type { FieldError } from '../shared/errors';
import { RISK_RANK, toAlert, type Alert, type RiskLevel, type SuppressionKind, type Verdict } from '../verdicts/verdict';
import { decideVerdict } from '../verdicts/decide-verdict';
import { AlertSuppressor } from '../suppression/alert-suppressor';
import { suppressAlerts } from '../suppression/suppress-batch';
import type { AlertPublisher, RejectedMessage, RejectSink, SourcePosition, VerdictSink } from './ports';
import { eventTimeAheadError, type RejectReason } from './event-time-skew';

/** One inbound message: raw bytes/text (Kafka, NDJSON) or an already-parsed HTTP item. */
export interface InboundMessage {
  readonly value: Buffer | string | Record<string, unknown>;
  readonly key?: Buffer | string | null;
  readonly source: SourcePosition;
  /** Identity for redelivery detection (`topic/partition/offset`). */
  readonly messageId?: string;
  /** Set when the edge already validated `value` (HTTP checks a whole body first): skips a second decode. */
  readonly event?: RiskEvent;
}

/**
 * Explicit outcome per message (no exceptions for control flow).
 * `redelivered`: the store returned this message's first outcome (StateOutcome); the verdict is decided again identically.
 */
export type MessageOutcome =
  | { readonly kind: 'accepted'; readonly verdict: Verdict; readonly alert: Alert | undefined; readonly redelivered?: true }
  | { readonly kind: 'late'; readonly verdict: Verdict; readonly alert: Alert | undefined; readonly redelivered?: true }
  | { readonly kind: 'duplicate'; readonly event_id: string }
  | { readonly kind: 'rejected'; readonly errors: readonly FieldError[] };

export interface OutcomeCounts {
  accepted: number;
  late: number;
  duplicate: number;
  rejected: number;
  /** `rejected` split by reason (the metrics label); the pipeline sets it when a batch has rejects. */
  rejectedByReason?: Partial<Record<RejectReason, number>>;
  /** Verdicts whose alert was suppressed, by kind (docs/suppression.md); set when a batch has some. */
  suppressedByKind?: Partial<Record<SuppressionKind, number>>;
}

/** A batch whose verdicts are decided but not yet delivered to the sinks. */
export interface DecidedBatch {
  readonly outcomes: readonly MessageOutcome[];
  readonly verdicts: readonly Verdict[];
  readonly alerts: readonly Alert[];
  readonly rejects: readonly RejectedMessage[];
  readonly counts: OutcomeCounts;
  readonly rulesVersion: number;
}

/** A batch decoded, checked and applied to state, before any rule ran (`admitBatch`). */
export interface AdmittedBatch {
  /** One slot per message; only the rejected ones are filled. */
  readonly outcomes: MessageOutcome[];
  readonly rejects: readonly RejectedMessage[];
  /** Only `rejected` (and its reasons) is counted. */
  readonly counts: OutcomeCounts;
  /** The valid events, in arrival order, and the index of each one's message. */
  readonly inputs: readonly StateInput[];
  readonly inputIndex: readonly number[];
  /** The feature store's outcome for each of `inputs`. */
  readonly states: readonly StateOutcome[];
}

/** `validate`'s answer: the event, or why the pipeline would reject it (with the metrics reason). */
export type ValidationResult =
  | { readonly ok: true; readonly event: RiskEvent }
  | { readonly ok: false; readonly errors: readonly FieldError[]; readonly reason: RejectReason };

export interface PipelineOptions {
  /** SPEC §6: verdicts at or above this level raise an alert. Default MEDIUM. */
  readonly alertThreshold: RiskLevel;
  /** The instance's clock, epoch ms: `decided_at`, and the reference of the event-time check below unless `eventTimeReference` is set. */
  readonly now?: () => number;
  /**
   * `MAX_EVENT_TIME_SKEW`: an event dated more than this after the reference
   * time is rejected, so that no single event can move the watermark, the
   * trimming horizon or the dedup sweep ahead of real time.
   */
  readonly maxEventTimeSkewMs: number;
  /** Reference time of that check; replay's `--now` fixes it. Default: `now`. */
  readonly eventTimeReference?: () => number;
  /** Alert suppression (cooldowns, snoozes; docs/suppression.md). Default: cooldowns in memory, no snoozes. */
  readonly suppressor?: AlertSuppressor;
}

export interface PipelineSinks {
  readonly verdicts: VerdictSink;
  readonly alerts: AlertPublisher;
  readonly rejects: RejectSink;
}

/**
 * decode → acceptance + features (FeatureStore) → compiled rules → verdicts.
 * The same code serves HTTP ingest, the Kafka consumer and the replay
 * command. Batches of one partition must be processed one at a time, in order.
 */
export class RiskPipeline {
  private readonly alertRank: number;
  private readonly now: () => number;
  private readonly maxEventTimeSkewMs: number;
  private readonly eventTimeReference: () => number;
  private readonly suppressor: AlertSuppressor;

  constructor(
    private readonly featureStore: FeatureStore,
    private readonly rules: RuleSetHolder,
    private readonly sinks: PipelineSinks,
    options: PipelineOptions,
  ) {
    this.alertRank = RISK_RANK[options.alertThreshold];
    this.now = options.now ?? Date.now;
    this.maxEventTimeSkewMs = options.maxEventTimeSkewMs;
    this.eventTimeReference = options.eventTimeReference ?? this.now;
    this.suppressor = options.suppressor ?? new AlertSuppressor();
  }

  /**
   * What `decide` would reject this value for, without touching state: for an
   * edge that answers for a whole request before deciding any of it (HTTP).
   * `decide` checks the event time again against its own clock reading.
   */
  validate(value: InboundMessage['value']): ValidationResult {
    const decoded = decodeEvent(value, this.rules.current.fields);
    if (!decoded.ok) return { ok: false, errors: decoded.errors, reason: 'invalid' };
    const ahead = eventTimeAheadError(decoded.event.event_time, this.eventTimeReference(), this.maxEventTimeSkewMs);
    return ahead === undefined ? decoded : { ok: false, errors: [ahead], reason: 'event_time_ahead' };
  }

  /** Decides and delivers; resolves once verdicts, alerts and rejects are all written. */
  async process(partition: string, messages: readonly InboundMessage[]): Promise<DecidedBatch> {
    const decided = await this.decide(partition, messages);
    await this.deliver(decided);
    return decided;
  }

  /**
   * Validates, applies to state and evaluates rules. State changes here, so a
   * caller whose delivery fails must retry `deliver` with this same batch
   * rather than deciding it again.
   */
  async decide(partition: string, messages: readonly InboundMessage[]): Promise<DecidedBatch> {
    // Read once: a hot reload swaps the rule set between batches, never inside one.
    const ruleSet = this.rules.current;
    const { outcomes, rejects, counts, inputs, inputIndex, states } = await this.admit(partition, messages, ruleSet);
    const verdicts: Verdict[] = [];
    const alerts: Alert[] = [];
    if (inputs.length > 0) {
      const decidedAt = formatEventTime(this.now());
      for (let j = 0; j < inputs.length; j++) {
        const state = states[j];
        const event: RiskEvent = inputs[j].event;
        if (state.kind === 'duplicate') {
          counts.duplicate++;
          outcomes[inputIndex[j]] = { kind: 'duplicate', event_id: event.event_id };
          continue;
        }
        const verdict = decideVerdict(event, state.features, state.late, ruleSet, decidedAt);
        const alert = RISK_RANK[verdict.risk_level] >= this.alertRank ? toAlert(verdict) : undefined;
        verdicts.push(verdict);
        if (alert !== undefined) alerts.push(alert);
        if (state.late) counts.late++;
        else counts.accepted++;
        const kind = state.late ? 'late' : 'accepted';
        outcomes[inputIndex[j]] = state.redelivered ? { kind, verdict, alert, redelivered: true } : { kind, verdict, alert };
      }
      await suppressAlerts(
        this.suppressor,
        ruleSet,
        { outcomes, verdicts, alerts, counts, inputs, inputIndex },
        this.alertRank,
        this.now(),
      );
    }
    return { outcomes, verdicts, alerts, rejects, counts, rulesVersion: ruleSet.version };
  }

  /** The part of `decide` before any rule runs (see `admitBatch`); the backtest evaluates two rule sets on its result. */
  admit(partition: string, messages: readonly InboundMessage[], ruleSet = this.rules.current): Promise<AdmittedBatch> {
    const time = { reference: this.eventTimeReference(), maxEventTimeSkewMs: this.maxEventTimeSkewMs };
    return admitBatch(this.featureStore, partition, messages, ruleSet.fields, time, ruleSet.features);
  }

  /** Writes a decided batch to every sink; safe to call again after a failure. */
  async deliver(batch: DecidedBatch): Promise<void> {
    const writes: Promise<void>[] = [];
    if (batch.rejects.length > 0) writes.push(this.sinks.rejects.reject(batch.rejects));
    if (batch.verdicts.length > 0) writes.push(this.sinks.verdicts.write(batch.verdicts));
    if (batch.alerts.length > 0) writes.push(this.sinks.alerts.publish(batch.alerts));
    await Promise.all(writes);
  }

  /** Flushes every sink; part of graceful shutdown. */
  async flush(): Promise<void> {
    await Promise.all([this.sinks.verdicts.flush(), this.sinks.alerts.flush(), this.sinks.rejects.flush()]);
  }
}

/**
 * The part of deciding before any rule runs: decodes each message (with the
 * declared `fields`), rejects what SPEC §1 and the event-time skew rule
 * refuse, and applies the rest to the feature store in one call. State
 * changes here. `RiskPipeline.decide` evaluates one rule set on the result;
 * the backtest (libs/domain/src/backtest) evaluates two on the same features.
 */
export async function admitBatch(
  featureStore: FeatureStore,
  partition: string,
  messages: readonly InboundMessage[],
  fields: readonly DeclaredField[],
  time: { readonly reference: number; readonly maxEventTimeSkewMs: number },
  /** The deciding version's pinned features (CompiledRuleSet.features); undefined: the store's current ones. */
  features?: readonly FeatureDefinition[],
): Promise<AdmittedBatch> {
  const counts: OutcomeCounts = { accepted: 0, late: 0, duplicate: 0, rejected: 0 };
  const outcomes: MessageOutcome[] = new Array<MessageOutcome>(messages.length);
  const rejects: RejectedMessage[] = [];
  const inputs: StateInput[] = [];
  const inputIndex: number[] = [];

  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    const decoded: DecodeResult = message.event !== undefined ? { ok: true, event: message.event } : decodeEvent(message.value, fields);
    let errors: readonly FieldError[];
    let reason: RejectReason;
    if (decoded.ok) {
      // Checked here, where every input path passes, and before the state
      // store sees the event: a far-future event would move the partition's
      // watermark, its entities' trimming horizon and the dedup sweep.
      const ahead = eventTimeAheadError(decoded.event.event_time, time.reference, time.maxEventTimeSkewMs);
      if (ahead === undefined) {
        inputs.push({ event: decoded.event, messageId: message.messageId });
        inputIndex.push(i);
        continue;
      }
      errors = [ahead];
      reason = 'event_time_ahead';
    } else {
      errors = decoded.errors;
      reason = 'invalid';
    }
    counts.rejected++;
    const byReason = (counts.rejectedByReason ??= {});
    byReason[reason] = (byReason[reason] ?? 0) + 1;
    outcomes[i] = { kind: 'rejected', errors };
    rejects.push({ raw: rawOf(message.value), key: message.key ?? null, errors, source: message.source, stage: 'validation' });
  }
  const states = inputs.length > 0 ? await featureStore.apply(partition, inputs, features) : NO_STATES;
  return { outcomes, rejects, counts, inputs, inputIndex, states };
}

const NO_STATES: readonly StateOutcome[] = [];

function rawOf(value: InboundMessage['value']): Buffer | string {
  if (typeof value === 'string' || Buffer.isBuffer(value)) return value;
  return JSON.stringify(value);
}
