import { join } from 'node:path';
import {
  AlertPublisher,
  knownFacts,
  loadFeatureFile,
  loadRuleFiles,
  MemoryFeatureStore,
  RejectSink,
  RiskPipeline,
  RuleSetHolder,
  VerdictSink,
  type Verdict,
} from '@risk/domain';
import { KafkaAlertPublisher } from './kafka-alert.publisher';
import { KafkaDeadLetterSink } from './kafka-dead-letter.sink';
import { KafkaEventConsumer } from './kafka-event.consumer';
import { KafkaClient, type KafkaLogger, type OutboundRecord } from './kafka.client';

/** Topics the bench uses; they must exist (the librdkafka mock cluster cannot create them on request). */
export const BENCH_TOPICS = {
  throughputEvents: 'bench-throughput-events',
  throughputAlerts: 'bench-throughput-alerts',
  latencyEvents: 'bench-latency-events',
  latencyAlerts: 'bench-latency-alerts',
  deadLetters: 'bench-dlq',
} as const;

/**
 * `name:partitions` for each bench topic, as `KafkaMockCluster.start({ topics })`
 * takes them. The throughput input needs many partitions to stay under the
 * mock cluster's retention (5 MiB per partition, older records silently
 * dropped); the latency run keeps 3, since every partition adds a fetch,
 * produce and commit per poll.
 */
export const BENCH_TOPIC_SPECS: readonly string[] = [
  `${BENCH_TOPICS.throughputEvents}:12`,
  `${BENCH_TOPICS.throughputAlerts}:3`,
  `${BENCH_TOPICS.latencyEvents}:3`,
  `${BENCH_TOPICS.latencyAlerts}:3`,
  `${BENCH_TOPICS.deadLetters}:3`,
];

export interface KafkaBenchOptions {
  readonly brokers: string[];
  /** NDJSON lines, each one event; every line is produced once per run. */
  readonly events: string[];
  /** Default `<cwd>/rules`. */
  readonly rulesDir?: string;
  /** Latency run: target input rate. Default 5000 events/s. */
  readonly latencyRatePerSec?: number;
  /** Latency run length. Default 5 s (capped by the number of events). */
  readonly latencySeconds?: number;
  /** Default: errors only, on stderr. */
  readonly logger?: KafkaLogger;
}

export interface KafkaBenchResult {
  /** Throughput run: events decided per second, from assignment to the last commit. */
  eventsPerSec: number;
  /** Latency run: event produced to its alert received by a consumer of the alerts topic. */
  alertP50Ms: number;
  alertP99Ms: number;
  throughputEvents: number;
  latencyEvents: number;
  latencyAlerts: number;
}

const quiet: KafkaLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message, fields) =>
    process.stderr.write(JSON.stringify({ level: 'error', context: 'kafka-bench', msg: message, ...fields }) + '\n'),
};

class CountingVerdictSink extends VerdictSink {
  count = 0;
  write(verdicts: readonly Verdict[]): Promise<void> {
    this.count += verdicts.length;
    return Promise.resolve();
  }
}

/**
 * Kafka end to end with in-memory state and an in-memory verdict sink, alerts
 * and dead letters going to Kafka for real:
 * 1. throughput: all events pre-produced, then consumed as fast as possible
 *    (target ≥ 20,000 events/s);
 * 2. latency: events produced at `latencyRatePerSec` while an independent
 *    consumer reads the alerts (target p99 < 50 ms at 5,000 events/s).
 * Run it against a fresh cluster (or fresh BENCH_TOPICS): offsets and
 * event ids from an earlier run would be skipped or counted as duplicates.
 */
export async function benchKafka(opts: KafkaBenchOptions): Promise<KafkaBenchResult> {
  const logger = opts.logger ?? quiet;
  const rulesDir = opts.rulesDir ?? join(process.cwd(), 'rules');
  const client = new KafkaClient({ brokers: opts.brokers, clientId: 'risk-engine-bench', logger });
  const lines = opts.events.filter((line) => line.trim() !== '').map(keyed);
  try {
    const throughput = await throughputRun(client, lines, rulesDir, logger);
    const latency = await latencyRun(client, lines, rulesDir, logger, opts.latencyRatePerSec ?? 5000, opts.latencySeconds ?? 5);
    return {
      eventsPerSec: throughput.eventsPerSec,
      alertP50Ms: percentile(latency.latencies, 0.5),
      alertP99Ms: percentile(latency.latencies, 0.99),
      throughputEvents: lines.length,
      latencyEvents: latency.events,
      latencyAlerts: latency.latencies.length,
    };
  } finally {
    await client.close();
  }
}

interface KeyedLine {
  readonly key: string | null;
  readonly value: string;
  readonly id: string | undefined;
}

function pipelineFor(client: KafkaClient, rulesDir: string, alertsTopic: string, verdicts: VerdictSink): RiskPipeline {
  const defs = loadFeatureFile(rulesDir);
  const rules = loadRuleFiles(rulesDir, knownFacts(defs));
  const alerts: AlertPublisher = new KafkaAlertPublisher({ client, topic: alertsTopic });
  const rejects: RejectSink = new KafkaDeadLetterSink({ client, topic: BENCH_TOPICS.deadLetters });
  return new RiskPipeline(
    new MemoryFeatureStore(defs),
    new RuleSetHolder({ version: 1, rules }),
    { verdicts, alerts, rejects },
    { alertThreshold: 'MEDIUM' },
  );
}

async function produceAll(client: KafkaClient, topic: string, lines: readonly KeyedLine[]): Promise<void> {
  // One request at a time: concurrent sends may be appended out of order, which would turn events late.
  const producer = client.producer();
  for (let i = 0; i < lines.length; i += 2000) {
    const records: OutboundRecord[] = lines.slice(i, i + 2000).map((l) => ({ key: l.key, value: l.value }));
    await producer.send(topic, records);
  }
}

async function throughputRun(
  client: KafkaClient,
  lines: readonly KeyedLine[],
  rulesDir: string,
  logger: KafkaLogger,
): Promise<{ eventsPerSec: number }> {
  await produceAll(client, BENCH_TOPICS.throughputEvents, lines);
  const offsets = await client.topicOffsets(BENCH_TOPICS.throughputEvents);
  const held = [...offsets.values()].reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
  if (held < lines.length) {
    throw new Error(
      `kafka bench: ${BENCH_TOPICS.throughputEvents} holds ${held} of the ${lines.length} events produced (start the bench on fresh topics; ` +
        `on the mock cluster use more partitions or fewer events: it keeps at most 5 MiB per partition)`,
    );
  }
  const verdicts = new CountingVerdictSink();
  const consumer = new KafkaEventConsumer(
    { client, topic: BENCH_TOPICS.throughputEvents, groupId: `bench-throughput-${Date.now()}`, maxWaitTimeMs: 100 },
    pipelineFor(client, rulesDir, BENCH_TOPICS.throughputAlerts, verdicts),
    logger,
  );
  const joined = consumer.waitForAssignment(60_000);
  await consumer.start();
  try {
    await joined;
    const started = performance.now();
    await until(() => {
      const s = consumer.stats();
      return s.accepted + s.late + s.duplicate + s.rejected >= lines.length;
    }, 600_000);
    const seconds = (performance.now() - started) / 1000;
    return { eventsPerSec: Math.round(lines.length / seconds) };
  } finally {
    await consumer.stop();
  }
}

async function latencyRun(
  client: KafkaClient,
  lines: readonly KeyedLine[],
  rulesDir: string,
  logger: KafkaLogger,
  ratePerSec: number,
  seconds: number,
): Promise<{ events: number; latencies: number[] }> {
  const count = Math.min(lines.length, Math.round(ratePerSec * seconds));
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  // librdkafka's mock never cuts a fetch long-poll short when data arrives, so poll often; a real broker would answer at once.
  const maxWaitTimeMs = 5;
  const engine = new KafkaEventConsumer(
    { client, topic: BENCH_TOPICS.latencyEvents, groupId: `bench-latency-${Date.now()}`, maxWaitTimeMs, maxBatchEvents: 100 },
    pipelineFor(client, rulesDir, BENCH_TOPICS.latencyAlerts, new CountingVerdictSink()),
    logger,
  );
  const reader = client.createConsumer({ groupId: `bench-alert-reader-${Date.now()}`, maxWaitTimeMs });
  let readerJoined: () => void = () => undefined;
  const readerReady = new Promise<void>((resolve) => (readerJoined = resolve));
  reader.on(reader.events.GROUP_JOIN, () => readerJoined());
  await reader.connect();
  try {
    await reader.subscribe({ topic: BENCH_TOPICS.latencyAlerts, fromBeginning: false });
    await reader.run({
      eachBatch: ({ batch }) => {
        const now = Date.now();
        for (const message of batch.messages) {
          const id = message.headers?.alert_id?.toString();
          const sent = id === undefined ? undefined : sentAt.get(id);
          if (sent !== undefined) {
            latencies.push(now - sent);
            sentAt.delete(id!);
          }
        }
        return Promise.resolve();
      },
    });
    const engineJoined = engine.waitForAssignment(60_000);
    await engine.start();
    await Promise.all([engineJoined, readerReady]);

    const producer = client.producer();
    const tickMs = 10;
    const perTick = Math.max(1, Math.round((ratePerSec * tickMs) / 1000));
    const begin = performance.now();
    // Chained, not concurrent, to keep per-partition order; an event's clock starts when it is due, so producer queueing counts.
    let sending: Promise<void> = Promise.resolve();
    for (let i = 0, tick = 0; i < count; i += perTick, tick++) {
      const wait = begin + tick * tickMs - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const slice = lines.slice(i, Math.min(i + perTick, count));
      const now = Date.now();
      for (const line of slice) if (line.id !== undefined && !sentAt.has(line.id)) sentAt.set(line.id, now);
      const records = slice.map((l) => ({ key: l.key, value: l.value }));
      sending = sending.then(() => producer.send(BENCH_TOPICS.latencyEvents, records));
    }
    await sending;
    await until(() => {
      const s = engine.stats();
      return s.accepted + s.late + s.duplicate + s.rejected >= count && latencies.length >= s.alerts;
    }, 120_000);
    return { events: count, latencies };
  } finally {
    await engine.stop();
    await reader.disconnect();
  }
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`kafka bench: not done within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function keyed(line: string): KeyedLine {
  try {
    const parsed = JSON.parse(line) as { user_id?: unknown; event_id?: unknown };
    return {
      key: typeof parsed.user_id === 'string' ? parsed.user_id : null,
      value: line,
      id: typeof parsed.event_id === 'string' ? parsed.event_id : undefined,
    };
  } catch {
    return { key: null, value: line, id: undefined };
  }
}
