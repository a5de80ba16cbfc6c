import { isRetriable, type DecidedBatch, type InboundMessage, type OutcomeCounts, type RiskPipeline } from '@risk/domain';
import { JsonLogger } from '../logging/json-logger';
import { retryWithOutcome } from '../retry/retry';
import type { BatchControl, ConsumedBatch, ConsumedRecord, KafkaClient, KafkaGroupConsumer, KafkaLogger } from './kafka.client';

/** What the consumer reports; `EngineMetrics` satisfies it. */
export interface KafkaConsumerMetrics {
  recordBatch(source: string, counts: OutcomeCounts, seconds: number): void;
  /** From the record's Kafka timestamp to its verdict being written. */
  recordLatency(source: string, seconds: number): void;
  setConsumerLag(topic: string, partition: number, lag: number): void;
  recordAlerts?(riskLevel: string, count: number): void;
  /** Fired rules per verdict (risk_engine_rule_hits_total). */
  recordRuleHits?(verdicts: DecidedBatch['verdicts']): void;
}

export interface KafkaEventConsumerOptions {
  readonly client: KafkaClient;
  /** KAFKA_EVENTS_TOPIC. */
  readonly topic: string;
  /** KAFKA_GROUP_ID. */
  readonly groupId: string;
  /**
   * Where a group without committed offsets starts. Default true: events
   * produced before the first start are decided, not skipped.
   */
  readonly fromBeginning?: boolean;
  /** Events per `decide` + commit step; a fetched batch is split into chunks of this size (KAFKA_MAX_BATCH_EVENTS). */
  readonly maxBatchEvents: number;
  /** KAFKA_MAX_BATCH_BYTES. */
  readonly maxBytesPerPartition: number;
  /** Fetch long-poll (KAFKA_MAX_WAIT; see KafkaConsumerSettings). */
  readonly maxWaitTimeMs: number;
  readonly sessionTimeoutMs?: number;
  readonly rebalanceTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  /** Partitions processed at the same time (each one still strictly in order). Default 3. */
  readonly partitionsConsumedConcurrently?: number;
  /** Backoff between attempts while a dependency fails: doubles from `initialMs` up to `maxMs`, up to a fifth less at random (shared retry helper). Default 200 ms .. 10 s. */
  readonly retry?: { readonly initialMs?: number; readonly maxMs?: number };
  /** How long `stop()` lets an in-flight batch keep retrying its delivery before abandoning it uncommitted. Default 10 s. */
  readonly stopTimeoutMs?: number;
  readonly metrics?: KafkaConsumerMetrics;
}

export interface KafkaConsumerStats {
  consumed: number;
  accepted: number;
  late: number;
  duplicate: number;
  rejected: number;
  alerts: number;
  /** Offset commits made (one per chunk). */
  commits: number;
  /** Failed decide/deliver attempts that were retried. */
  retries: number;
  /** Chunks given up uncommitted (revocation, stale, shutdown timeout); Kafka redelivers them. */
  abandoned: number;
  /** Record timestamp to verdict written, over every verdict so far. */
  latencyMs: { count: number; sum: number; max: number };
  /** Messages behind the high watermark after the last commit, by `topic:partition`. */
  lag: Record<string, number>;
}

const SOURCE = 'kafka';

/**
 * Reads input events from Kafka and feeds them through the pipeline with
 * at-least-once semantics: a chunk's offsets are committed only after its
 * verdicts are written and its alerts and dead letters acknowledged.
 *
 * Uses kafkajs's batch API directly (not Nest's Kafka transport) to control
 * commits: auto-commit and auto-resolve are off. While a dependency fails,
 * the partition is paused and the chunk is retried with backoff in place,
 * heartbeating so the group keeps the member; nothing is buffered beyond the
 * one chunk. A rebalance during the retry makes the heartbeat throw, the
 * chunk is abandoned uncommitted and the partition's next owner receives it
 * again: the feature store recognises the message ids and returns the first
 * outcomes (`redelivered`), so the verdicts are decided identically.
 */
export class KafkaEventConsumer {
  readonly topic: string;
  readonly groupId: string;
  private readonly maxBatchEvents: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly stopTimeoutMs: number;
  private readonly metrics: KafkaConsumerMetrics | undefined;
  private consumer: KafkaGroupConsumer | undefined;
  private stopping = false;
  /** Aborted `stopTimeoutMs` after `stop()`: an in-flight chunk stops retrying and is abandoned. */
  private readonly stopTimedOut = new AbortController();
  private stopped: Promise<void> | undefined;
  private assigned: readonly number[] = [];
  private joinWaiters: (() => void)[] = [];
  private readonly counters: KafkaConsumerStats = {
    consumed: 0,
    accepted: 0,
    late: 0,
    duplicate: 0,
    rejected: 0,
    alerts: 0,
    commits: 0,
    retries: 0,
    abandoned: 0,
    latencyMs: { count: 0, sum: 0, max: 0 },
    lag: {},
  };

  constructor(
    private readonly options: KafkaEventConsumerOptions,
    private readonly pipeline: RiskPipeline,
    private readonly logger: KafkaLogger = new JsonLogger('warn', 'kafka-consumer'),
  ) {
    this.topic = options.topic;
    this.groupId = options.groupId;
    this.maxBatchEvents = Math.max(1, options.maxBatchEvents);
    this.retryInitialMs = options.retry?.initialMs ?? 200;
    this.retryMaxMs = options.retry?.maxMs ?? 10_000;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
    this.metrics = options.metrics;
  }

  /** Joins the group and starts consuming; resolves once the consumer runs (see `waitForAssignment`). */
  async start(): Promise<void> {
    if (this.consumer !== undefined) throw new Error('KafkaEventConsumer already started');
    const consumer = this.options.client.createConsumer({
      groupId: this.groupId,
      sessionTimeoutMs: this.options.sessionTimeoutMs,
      rebalanceTimeoutMs: this.options.rebalanceTimeoutMs,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      maxBytesPerPartition: this.options.maxBytesPerPartition,
      maxWaitTimeMs: this.options.maxWaitTimeMs,
    });
    this.consumer = consumer;
    await consumer.start({
      topic: this.topic,
      fromBeginning: this.options.fromBeginning ?? true,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 3,
      onAssignment: (partitions) => {
        this.assigned = [...partitions].sort((a, b) => a - b);
        this.logger.info('kafka consumer joined group', { groupId: this.groupId, topic: this.topic, partitions: this.assigned });
        const waiters = this.joinWaiters;
        this.joinWaiters = [];
        for (const wake of waiters) wake();
      },
      onCrash: (error, restart) => this.logger.error('kafka consumer crashed', { groupId: this.groupId, error: String(error), restart }),
      eachBatch: (batch, control) => this.handleBatch(batch, control),
    });
  }

  /** Resolves at the next group join (assignment) after the call, or rejects after `timeoutMs`. */
  waitForAssignment(timeoutMs = 30_000): Promise<readonly number[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no group assignment within ${timeoutMs} ms`)), timeoutMs);
      this.joinWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.assigned);
      });
    });
  }

  /** Partitions of `topic` assigned at the last join. */
  get assignment(): readonly number[] {
    return this.assigned;
  }

  /**
   * Graceful shutdown: stops fetching, lets the in-flight chunk finish and
   * commit (retrying its delivery for at most `stopTimeoutMs`), then leaves
   * the group so the partitions move at once.
   */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    const consumer = this.consumer;
    if (consumer === undefined) return;
    this.stopping = true;
    const timer = setTimeout(() => this.stopTimedOut.abort(), this.stopTimeoutMs);
    try {
      await consumer.stop();
    } finally {
      clearTimeout(timer);
    }
  }

  stats(): KafkaConsumerStats {
    return { ...this.counters, latencyMs: { ...this.counters.latencyMs }, lag: { ...this.counters.lag } };
  }

  private async handleBatch(batch: ConsumedBatch, control: BatchControl): Promise<void> {
    const { topic, partition } = batch;
    // One pipeline partition per Kafka partition: its watermark is the partition's (SPEC §2).
    const pipelinePartition = `${topic}:${partition}`;
    const messages = batch.messages;
    for (let start = 0; start < messages.length; start += this.maxBatchEvents) {
      // Shutdown or revocation: leave the rest uncommitted for the next owner.
      if (!control.isRunning() || control.isStale()) return;
      const chunk = messages.slice(start, start + this.maxBatchEvents);
      const inbound = chunk.map((m) => toInbound(topic, partition, m));
      this.counters.consumed += chunk.length;
      const began = performance.now();

      const decided = await this.attempt(batch, control, 'decide', () => this.pipeline.decide(pipelinePartition, inbound));
      if (decided === undefined) return this.abandon(topic, partition, chunk);
      const delivered = await this.attempt(batch, control, 'deliver', () => this.pipeline.deliver(decided).then(() => true));
      if (delivered === undefined) return this.abandon(topic, partition, chunk);
      const writtenAt = Date.now();
      if (this.mustAbandon(control)) return this.abandon(topic, partition, chunk);

      const last = chunk[chunk.length - 1].offset;
      // With the current generation: a member that lost the partition in a completed rebalance gets an error here.
      await control.commit(last);
      this.counters.commits++;
      // Counted once committed, never before: an uncommitted chunk is redelivered and counted by whoever commits it
      // (its verdicts decided again from the first outcomes), so each event's outcome and rule hits count once.
      this.record(
        topic,
        partition,
        chunk,
        decided,
        writtenAt,
        (performance.now() - began) / 1000,
        Number(BigInt(batch.highWatermark) - BigInt(last) - 1n),
      );
      // kafkajs heartbeats only between fetches, and a fetch holds up to maxBytesPerPartition of events: without this a
      // joining member would wait for the whole batch. Sent only when the interval has elapsed; a rebalance throws
      // here, after a commit (and its count), so the rest of the batch goes uncommitted to the partition's next owner.
      await control.heartbeat();
    }
  }

  /**
   * Runs `step` until it succeeds, retriable error or not: a permanent failure
   * blocks the partition rather than skipping input, it needs an operator.
   * Between attempts the partition is paused and the group heartbeat kept;
   * returns undefined when the chunk must be abandoned (revoked, stale, or
   * shutdown timed out). A heartbeat that reports a rebalance throws, which
   * hands control back to kafkajs to rejoin.
   */
  private async attempt<T>(batch: ConsumedBatch, control: BatchControl, stage: string, step: () => Promise<T>): Promise<T | undefined> {
    let resume: (() => void) | undefined;
    try {
      const outcome = await retryWithOutcome(step, {
        initialMs: this.retryInitialMs,
        maxMs: this.retryMaxMs,
        signal: this.stopTimedOut.signal,
        shouldRetry: () => !this.mustAbandon(control),
        onRetry: ({ error, attempt, delayMs }) => {
          this.counters.retries++;
          const fields = {
            topic: batch.topic,
            partition: batch.partition,
            stage,
            attempt,
            delayMs: Math.round(delayMs),
            error: describe(error),
          };
          if (isRetriable(error)) this.logger.warn('kafka batch failed, retrying', fields);
          else
            this.logger.error(
              'kafka batch failed with a non-retriable error, retrying; the partition is blocked until it succeeds',
              fields,
            );
          resume ??= control.pause();
        },
        afterWait: () => control.heartbeat(),
      });
      return outcome.ok ? outcome.value : undefined;
    } finally {
      resume?.();
    }
  }

  private mustAbandon(control: BatchControl): boolean {
    // kafkajs stops "running" both for our graceful stop (finish the chunk) and on a crash (give up).
    return control.isStale() || (!control.isRunning() && !this.stopping);
  }

  private abandon(topic: string, partition: number, chunk: readonly ConsumedRecord[]): void {
    this.counters.abandoned++;
    this.logger.warn('kafka chunk abandoned uncommitted; it will be redelivered', {
      topic,
      partition,
      firstOffset: chunk[0]?.offset,
      lastOffset: chunk[chunk.length - 1]?.offset,
    });
  }

  private record(
    topic: string,
    partition: number,
    chunk: readonly ConsumedRecord[],
    decided: DecidedBatch,
    writtenAt: number,
    seconds: number,
    lag: number,
  ): void {
    const c = this.counters;
    c.accepted += decided.counts.accepted;
    c.late += decided.counts.late;
    c.duplicate += decided.counts.duplicate;
    c.rejected += decided.counts.rejected;
    c.alerts += decided.alerts.length;
    c.lag[`${topic}:${partition}`] = lag;
    const metrics = this.metrics;
    for (let i = 0; i < decided.outcomes.length; i++) {
      const kind = decided.outcomes[i].kind;
      if (kind !== 'accepted' && kind !== 'late') continue;
      const latencyMs = Math.max(0, writtenAt - Number(chunk[i].timestamp));
      c.latencyMs.count++;
      c.latencyMs.sum += latencyMs;
      if (latencyMs > c.latencyMs.max) c.latencyMs.max = latencyMs;
      metrics?.recordLatency(SOURCE, latencyMs / 1000);
    }
    if (metrics === undefined) return;
    metrics.recordBatch(SOURCE, decided.counts, seconds);
    metrics.setConsumerLag(topic, partition, lag);
    if (metrics.recordAlerts !== undefined && decided.alerts.length > 0) {
      const byLevel = new Map<string, number>();
      for (const alert of decided.alerts) byLevel.set(alert.risk_level, (byLevel.get(alert.risk_level) ?? 0) + 1);
      for (const [level, count] of byLevel) metrics.recordAlerts(level, count);
    }
    metrics.recordRuleHits?.(decided.verdicts);
  }
}

function toInbound(topic: string, partition: number, message: ConsumedRecord): InboundMessage {
  return {
    // A tombstone (null value) is not an event: it is dead-lettered as such.
    value: message.value ?? Buffer.alloc(0),
    key: message.key,
    source: { topic, partition, offset: message.offset },
    messageId: `${topic}/${partition}/${message.offset}`,
  };
}

function describe(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  const coded = error as Error & { code?: unknown; retriable?: unknown };
  return { name: error.name, message: error.message, code: coded.code, retriable: coded.retriable };
}
