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
import { KafkaAlertPublisher } from '@risk/infra/kafka/kafka-alert.publisher';
import { KafkaDeadLetterSink } from '@risk/infra/kafka/kafka-dead-letter.sink';
import { KafkaEventConsumer } from '@risk/infra/kafka/kafka-event.consumer';
import { KafkaClient, type KafkaLogger, type OutboundRecord } from '@risk/infra/kafka/kafka.client';
import { summarize } from './stats';
import { ENGINE_DEFAULTS } from './engine-defaults';

/** Topics the bench uses; created by the harness before the run. */
export const BENCH_TOPICS = {
  throughputEvents: 'bench-throughput-events',
  throughputAlerts: 'bench-throughput-alerts',
  rawOutput: 'bench-raw-output',
  latencyEvents: 'bench-latency-events',
  latencyAlerts: 'bench-latency-alerts',
  serviceLatencyEvents: 'bench-service-latency-events',
  serviceLatencyAlerts: 'bench-service-latency-alerts',
  deadLetters: 'bench-dlq',
} as const;

/**
 * `name:partitions` for each bench topic, as `TestKafkaCluster.start({ topics })`
 * takes them: 6 input partitions for throughput (as docker-compose.yml creates
 * them); the latency run keeps 3, since every partition adds a fetch, produce
 * and commit per poll.
 */
export const BENCH_TOPIC_SPECS: readonly string[] = [
  `${BENCH_TOPICS.throughputEvents}:6`,
  `${BENCH_TOPICS.throughputAlerts}:3`,
  `${BENCH_TOPICS.rawOutput}:3`,
  `${BENCH_TOPICS.latencyEvents}:3`,
  `${BENCH_TOPICS.latencyAlerts}:3`,
  `${BENCH_TOPICS.serviceLatencyEvents}:3`,
  `${BENCH_TOPICS.serviceLatencyAlerts}:3`,
  `${BENCH_TOPICS.deadLetters}:3`,
];

export interface KafkaBenchOptions {
  readonly brokers: string[];
  /** NDJSON lines, each one event; every line is produced once per run. */
  readonly events: string[];
  /** Default `<cwd>/rules`. */
  readonly rulesDir?: string;
  /** Latency run: target input rate. Default 2000 events/s. */
  readonly latencyRatePerSec?: number;
  /** Latency run length. Default 5 s (capped by the number of events). */
  readonly latencySeconds?: number;
  /** Default: errors only, on stderr. */
  readonly logger?: KafkaLogger;
  /**
   * When set, the latency run measures an engine started by this function
   * (the service in its own process, as deployed) instead of a consumer in
   * the bench's process, whose event loop and heap it would share with the
   * load generator and the alert reader.
   */
  readonly startLatencyEngine?: (settings: LatencyEngineSettings) => Promise<ExternalLatencyEngine>;
}

export interface LatencyEngineSettings {
  readonly brokers: readonly string[];
  readonly topics: { readonly events: string; readonly alerts: string; readonly deadLetters: string };
  readonly groupId: string;
  readonly maxWaitTimeMs: number;
  readonly maxBatchEvents: number;
}

/** An engine consuming the latency topics outside the bench's process. */
export interface ExternalLatencyEngine {
  /** Messages consumed and alerts published so far (from its metrics). */
  progress(): Promise<{ consumed: number; alerts: number }>;
  stop(): Promise<void>;
}

/** What the latency run needs from the engine under test, wherever it runs. */
interface LatencyEngineHandle {
  /** Resolves once the engine consumes the events topic. */
  ready(): Promise<void>;
  /** True once `count` events are decided and every alert raised was received. */
  finished(count: number, received: number): Promise<boolean>;
  stop(): Promise<void>;
}

export interface KafkaBenchResult {
  /** Throughput run: events decided per second, from assignment to the last commit. */
  eventsPerSec: number;
  /**
   * The same topic read by plain kafkajs loops, measured in the same run:
   * `copy` produces every message to an output topic (acks=all) before
   * committing the batch; `commitOnly` just commits (the client's read ceiling).
   */
  raw: { copyEventsPerSec: number; commitOnlyEventsPerSec: number };
  /** Latency run: event produced to its alert received by a consumer of the alerts topic. */
  alertP50Ms: number;
  alertP99Ms: number;
  /** The same latency run against the engine of `startLatencyEngine`, when given. */
  service?: { alertP50Ms: number; alertP99Ms: number; alerts: number };
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
 *    (target ≥ 20,000 events/s), by the engine and by a plain kafkajs
 *    consume-and-produce loop on the same topic (the ratio is the engine's cost);
 * 2. latency: events produced at `latencyRatePerSec` while an independent
 *    consumer reads the alerts (target p99 < 50 ms at 2,000 events/s).
 * Run it against a fresh cluster (or fresh BENCH_TOPICS): offsets and
 * event ids from an earlier run would be skipped or counted as duplicates.
 */
export async function benchKafka(opts: KafkaBenchOptions): Promise<KafkaBenchResult> {
  const logger = opts.logger ?? quiet;
  const rulesDir = opts.rulesDir ?? join(process.cwd(), 'rules');
  const client = new KafkaClient({ brokers: opts.brokers, clientId: 'risk-engine-bench', logger });
  const lines = opts.events.filter((line) => line.trim() !== '').map(keyed);
  try {
    await produceAll(client, BENCH_TOPICS.throughputEvents, lines);
    await checkHeld(client, lines.length);
    const copy = await rawThroughputRun(client, lines.length, 'copy');
    const commitOnly = await rawThroughputRun(client, lines.length, 'commit-only');
    const throughput = await throughputRun(client, lines, rulesDir, logger);
    const run = { brokers: opts.brokers, ratePerSec: opts.latencyRatePerSec ?? 2000, seconds: opts.latencySeconds ?? 10 };
    const latency = await latencyRun(client, lines, rulesDir, logger, {
      ...run,
      topics: { events: BENCH_TOPICS.latencyEvents, alerts: BENCH_TOPICS.latencyAlerts },
      startLatencyEngine: undefined,
    });
    const service =
      opts.startLatencyEngine === undefined
        ? undefined
        : await latencyRun(client, lines, rulesDir, logger, {
            ...run,
            topics: { events: BENCH_TOPICS.serviceLatencyEvents, alerts: BENCH_TOPICS.serviceLatencyAlerts },
            startLatencyEngine: opts.startLatencyEngine,
          });
    const alerts = summarize(latency.latencies);
    const serviceAlerts = service === undefined ? undefined : summarize(service.latencies);
    return {
      eventsPerSec: throughput.eventsPerSec,
      raw: { copyEventsPerSec: copy.eventsPerSec, commitOnlyEventsPerSec: commitOnly.eventsPerSec },
      alertP50Ms: alerts.p50,
      alertP99Ms: alerts.p99,
      throughputEvents: lines.length,
      latencyEvents: latency.events,
      latencyAlerts: latency.latencies.length,
      service:
        service === undefined || serviceAlerts === undefined
          ? undefined
          : {
              alertP50Ms: serviceAlerts.p50,
              alertP99Ms: serviceAlerts.p99,
              alerts: service.latencies.length,
            },
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
    new MemoryFeatureStore(defs, ENGINE_DEFAULTS.state),
    new RuleSetHolder({ version: 1, rules }),
    { verdicts, alerts, rejects },
    { alertThreshold: 'MEDIUM', maxEventTimeSkewMs: ENGINE_DEFAULTS.maxEventTimeSkewMs },
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

async function checkHeld(client: KafkaClient, count: number): Promise<void> {
  const offsets = await client.topicOffsets(BENCH_TOPICS.throughputEvents);
  const held = [...offsets.values()].reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
  if (held !== count) {
    throw new Error(
      `kafka bench: ${BENCH_TOPICS.throughputEvents} holds ${held} events, not the ${count} produced (start on fresh topics)`,
    );
  }
}

/**
 * The raw client on the throughput input: kafkajs eachBatch, up to 3
 * partitions at a time like the engine's consumer, nothing decoded or decided;
 * `copy` produces every message as is to an output topic (acks=all, the
 * engine's shared idempotent producer) before committing the batch.
 */
async function rawThroughputRun(client: KafkaClient, count: number, mode: 'copy' | 'commit-only'): Promise<{ eventsPerSec: number }> {
  const consumer = client.createConsumer({ groupId: `bench-raw-${Date.now()}`, maxWaitTimeMs: 100, maxBytesPerPartition: 1024 * 1024 });
  const producer = client.producer();
  let copied = 0;
  let joined: () => void = () => undefined;
  const assigned = new Promise<void>((resolve) => (joined = resolve));
  try {
    await consumer.start({
      topic: BENCH_TOPICS.throughputEvents,
      fromBeginning: true,
      partitionsConsumedConcurrently: 3,
      onAssignment: () => joined(),
      eachBatch: async (batch, control) => {
        if (batch.messages.length === 0) return;
        if (mode === 'copy')
          await producer.send(
            BENCH_TOPICS.rawOutput,
            batch.messages.map((m) => ({ key: m.key, value: m.value ?? Buffer.alloc(0) })),
          );
        await control.commit(batch.messages[batch.messages.length - 1].offset);
        copied += batch.messages.length;
      },
    });
    await assigned;
    const started = performance.now();
    await until(() => copied >= count, 600_000);
    return { eventsPerSec: Math.round(count / ((performance.now() - started) / 1000)) };
  } finally {
    await consumer.stop();
  }
}

async function throughputRun(
  client: KafkaClient,
  lines: readonly KeyedLine[],
  rulesDir: string,
  logger: KafkaLogger,
): Promise<{ eventsPerSec: number }> {
  const verdicts = new CountingVerdictSink();
  const consumer = new KafkaEventConsumer(
    {
      client,
      topic: BENCH_TOPICS.throughputEvents,
      groupId: `bench-throughput-${Date.now()}`,
      maxWaitTimeMs: 100,
      maxBatchEvents: 500,
      maxBytesPerPartition: 1024 * 1024,
    },
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
  {
    brokers,
    ratePerSec,
    seconds,
    topics,
    startLatencyEngine,
  }: {
    brokers: readonly string[];
    ratePerSec: number;
    seconds: number;
    topics: { events: string; alerts: string };
    startLatencyEngine: KafkaBenchOptions['startLatencyEngine'];
  },
): Promise<{ events: number; latencies: number[] }> {
  const count = Math.min(lines.length, Math.round(ratePerSec * seconds));
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  // The production default: the broker answers a fetch as soon as data arrives, the long poll only bounds idle waits.
  const maxWaitTimeMs = 500;
  const settings: LatencyEngineSettings = {
    brokers,
    topics: { ...topics, deadLetters: BENCH_TOPICS.deadLetters },
    groupId: `bench-latency-${Date.now()}`,
    maxWaitTimeMs,
    maxBatchEvents: 100,
  };
  const engine =
    startLatencyEngine === undefined
      ? inProcessEngine(client, rulesDir, logger, settings)
      : externalEngine(client, topics.events, await startLatencyEngine(settings));
  const reader = client.createConsumer({ groupId: `bench-alert-reader-${Date.now()}`, maxWaitTimeMs, maxBytesPerPartition: 1024 * 1024 });
  let readerJoined: () => void = () => undefined;
  const readerReady = new Promise<void>((resolve) => (readerJoined = resolve));
  try {
    await reader.start({
      topic: topics.alerts,
      fromBeginning: false,
      onAssignment: () => readerJoined(),
      eachBatch: async (batch, control) => {
        const now = Date.now();
        for (const message of batch.messages) {
          const id = message.headers?.alert_id?.toString();
          const sent = id === undefined ? undefined : sentAt.get(id);
          if (sent !== undefined) {
            latencies.push(now - sent);
            sentAt.delete(id!);
          }
        }
        // Marks the batch processed, or the next fetch would return it again.
        const last = batch.messages[batch.messages.length - 1];
        if (last !== undefined) await control.commit(last.offset);
      },
    });
    await Promise.all([engine.ready(), readerReady]);

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
      sending = sending.then(() => producer.send(topics.events, records));
    }
    await sending;
    await until(() => engine.finished(count, latencies.length), 120_000);
    return { events: count, latencies };
  } finally {
    await engine.stop();
    await reader.stop();
  }
}

function inProcessEngine(client: KafkaClient, rulesDir: string, logger: KafkaLogger, settings: LatencyEngineSettings): LatencyEngineHandle {
  const engine = new KafkaEventConsumer(
    {
      client,
      topic: settings.topics.events,
      groupId: settings.groupId,
      maxWaitTimeMs: settings.maxWaitTimeMs,
      maxBatchEvents: settings.maxBatchEvents,
      maxBytesPerPartition: 1024 * 1024,
    },
    pipelineFor(client, rulesDir, settings.topics.alerts, new CountingVerdictSink()),
    logger,
  );
  return {
    ready: async () => {
      const joined = engine.waitForAssignment(60_000);
      await engine.start();
      await joined;
    },
    finished: (count, received) => {
      const s = engine.stats();
      return Promise.resolve(s.accepted + s.late + s.duplicate + s.rejected >= count && received >= s.alerts);
    },
    stop: () => engine.stop(),
  };
}

/**
 * Readiness of an engine in another process: a malformed sentinel message
 * (dead-lettered, no verdict, no alert) is consumed once the engine owns the
 * partitions; it then counts in `consumed`.
 */
function externalEngine(client: KafkaClient, eventsTopic: string, engine: ExternalLatencyEngine): LatencyEngineHandle {
  const sentinels = 1;
  return {
    ready: async () => {
      await client.producer().send(eventsTopic, [{ key: null, value: 'latency-bench sentinel' }]);
      await until(async () => (await engine.progress()).consumed >= sentinels, 60_000);
    },
    finished: async (count, received) => {
      const { consumed, alerts } = await engine.progress();
      return consumed >= count + sentinels && received >= alerts;
    },
    stop: () => engine.stop(),
  };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
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
