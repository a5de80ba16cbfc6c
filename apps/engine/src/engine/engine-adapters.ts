import {
  type AlertPublisher,
  type FeatureDefinition,
  type FeatureStore,
  type RecentAlerts,
  type RecentRejects,
  type RejectSink,
  type VerdictQuery,
  type VerdictSink,
} from '@risk/domain';
import type { EngineConfig } from '@risk/infra/config/engine-config';
import type { KafkaClient } from '@risk/infra/kafka/kafka.client';
import { KafkaAlertPublisher } from '@risk/infra/kafka/kafka-alert.publisher';
import { KafkaDeadLetterSink } from '@risk/infra/kafka/kafka-dead-letter.sink';
import type { JsonLogger } from '@risk/infra/logging/json-logger';
import { HeapGuard } from '@risk/infra/memory/heap-guard';
import { TeeAlertPublisher, TeeRejectSink } from '@risk/infra/memory/tee';
import type { EngineMetrics } from '@risk/infra/metrics/engine.metrics';
import { openFeatureStore } from '@risk/infra/wiring/open-feature-store';
import { openKafka } from '@risk/infra/wiring/open-kafka';
import { openSqliteStores } from '@risk/infra/wiring/open-sqlite-stores';
import { openVerdictStore } from '@risk/infra/wiring/open-verdict-store';
import type { ReadinessRegistry } from '../health/readiness';
import type { ClientRegistry } from './client-registry';
import { retryAtStartup } from './startup-retry';

/** Longest wait for Redis to answer when the engine starts. */
const REDIS_STARTUP_TIMEOUT_MS = 15_000;

/**
 * Every adapter the pipeline and the read side run on, opened once, in one
 * place (EngineModule provides each field as its port).
 */
export abstract class EngineAdapters {
  abstract readonly featureStore: FeatureStore;
  abstract readonly verdicts: VerdictSink;
  abstract readonly verdictQuery: VerdictQuery;
  abstract readonly alerts: AlertPublisher;
  abstract readonly rejects: RejectSink;
  abstract readonly recentAlerts: RecentAlerts;
  abstract readonly recentRejects: RecentRejects;
  /** The Kafka client when KAFKA_BROKERS is set. */
  abstract readonly kafka: KafkaClient | undefined;
}

export interface EngineAdapterContext {
  readonly config: EngineConfig;
  readonly features: readonly FeatureDefinition[];
  readonly logger: JsonLogger;
  readonly metrics: EngineMetrics;
  readonly readiness: ReadinessRegistry;
  /** Receives the close of everything opened here, closed in reverse order in the last shutdown phase. */
  readonly clients: ClientRegistry;
}

/**
 * Opens each adapter the configuration asks for: a service when configured
 * (KAFKA_BROKERS, REDIS_URL, ELASTICSEARCH_NODE), else its embedded
 * counterpart. If one fails to open, what was already opened is closed.
 */
export async function openEngineAdapters(context: EngineAdapterContext): Promise<EngineAdapters> {
  const { config, logger, metrics, readiness, clients } = context;
  const opened = new ClientList();
  try {
    const kafka = config.kafka === undefined ? undefined : opened.add('kafka', openKafka(config.kafka, logger));
    // Always opened: recent alerts and rejects stay on disk under DATA_DIR whatever else is configured.
    const sqlite = opened.add(
      'sqlite',
      openSqliteStores({
        dataDir: config.dataDir,
        verdictsLimit: config.verdicts.limit,
        recentLimit: config.alerts.recentLimit,
        onReject: (message) => logger.warn('event rejected', { source: message.source, errors: message.errors, stage: message.stage }),
      }),
    );
    // Kafka first (durable, acknowledged), then this instance's recent list.
    const alerts = new TeeAlertPublisher(
      kafka === undefined || config.kafka === undefined
        ? [sqlite.alerts]
        : [new KafkaAlertPublisher({ client: kafka.client, topic: config.kafka.alertsTopic }), sqlite.alerts],
    );
    const rejects = new TeeRejectSink(
      kafka === undefined || config.kafka === undefined
        ? [sqlite.rejects]
        : [new KafkaDeadLetterSink({ client: kafka.client, topic: config.kafka.deadLetterTopic }), sqlite.rejects],
    );
    // Both may wait for their service to come up: side by side, then registered in a fixed order.
    const [verdictStore, state] = await settleAll(
      openVerdictStore({
        elasticsearch: config.elasticsearch,
        embedded: sqlite.verdicts,
        rejects,
        retryAtStartup: (what, step) => retryAtStartup(what, step, logger),
      }),
      openFeatureStore(context.features, {
        settings: config.state,
        redis: config.redis,
        redisReadyTimeoutMs: REDIS_STARTUP_TIMEOUT_MS,
        memory: {
          budget: { bytes: config.memoryBudgetBytes, onEvict: (kind, count) => metrics.recordStateEvictions(kind, count) },
          guard: new HeapGuard(),
          onRefused: (events) => metrics.recordMemoryRefusal(events),
        },
      }),
      (settled) => {
        // One of the two failed: close the other if it opened.
        for (const result of settled) if (result.status === 'fulfilled') opened.add('partially opened adapter', result.value);
      },
    );
    opened.add(verdictStore.backend, verdictStore);
    opened.add('feature state', state);

    readiness.add({ name: 'state', check: () => state.check() });
    if (verdictStore.check !== undefined) readiness.add({ name: 'elasticsearch', check: verdictStore.check });
    if (state.estimatedBytes !== undefined) metrics.watchStateBytes(state.estimatedBytes);
    if (state.conflicts !== undefined) metrics.watchStateConflicts(state.conflicts);
    logger.info('feature state ready', { backend: state.backend });

    opened.moveTo(clients);
    return {
      featureStore: state.store,
      verdicts: verdictStore.sink,
      verdictQuery: verdictStore.query,
      alerts,
      rejects,
      recentAlerts: sqlite.alerts,
      recentRejects: sqlite.rejects,
      kafka: kafka?.client,
    };
  } catch (error) {
    await opened.closeAll(logger);
    throw error;
  }
}

interface Closable {
  close(): Promise<void>;
}

/** What has been opened so far, in order. */
class ClientList {
  private readonly entries: { name: string; close: () => Promise<void> }[] = [];

  add<T extends Closable>(name: string, opened: T): T {
    this.entries.push({ name, close: () => opened.close() });
    return opened;
  }

  moveTo(clients: ClientRegistry): void {
    for (const { name, close } of this.entries.splice(0)) clients.add(name, close);
  }

  async closeAll(logger: JsonLogger): Promise<void> {
    for (const { name, close } of this.entries.splice(0).reverse()) {
      await close().catch((error: Error) => logger.warn('error while closing a client', { client: name, error: error.message }));
    }
  }
}

/** Both results, or the first failure once both have settled (`onFailure` sees both, to close what did open). */
async function settleAll<A extends Closable, B extends Closable>(
  a: Promise<A>,
  b: Promise<B>,
  onFailure: (settled: readonly PromiseSettledResult<A | B>[]) => void,
): Promise<[A, B]> {
  const settled = await Promise.allSettled([a, b]);
  const [first, second] = settled;
  if (first.status === 'fulfilled' && second.status === 'fulfilled') return [first.value, second.value];
  onFailure(settled);
  throw first.status === 'rejected' ? first.reason : (second as PromiseRejectedResult).reason;
}
