import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import {
  AlertPublisher,
  FeatureStore,
  RecentAlerts,
  RecentRejects,
  RejectSink,
  RiskPipeline,
  RuleSetHolder,
  VerdictQuery,
  VerdictSink,
  loadFeatureFile,
  type FeatureDefinition,
} from '@risk/domain';
import type { EngineConfig } from '@risk/infra/config/engine-config';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { HeapGuard } from '@risk/infra/memory/heap-guard';
import { openSqlite } from '@risk/infra/sqlite/sqlite.database';
import { SqliteAlertStore, SqliteRejectStore } from '@risk/infra/sqlite/sqlite-recent.stores';
import { SqliteVerdictStore } from '@risk/infra/sqlite/sqlite-verdict.store';
import { TeeAlertPublisher, TeeRejectSink } from '@risk/infra/memory/tee';
import { EngineMetrics } from '@risk/infra/metrics/engine.metrics';
import { openFeatureStore } from '@risk/infra/state/create-feature-store';
import { ReadinessRegistry } from '../health/readiness';
import { ElasticsearchClient } from '@risk/infra/elasticsearch/elasticsearch.client';
import { ElasticsearchVerdictSink } from '@risk/infra/elasticsearch/elasticsearch-verdict.sink';
import { ElasticsearchVerdictQuery } from '@risk/infra/elasticsearch/elasticsearch-verdict.query';
import { ClientRegistry } from './client-registry';
import { KafkaClient } from '@risk/infra/kafka/kafka.client';
import { KafkaAlertPublisher } from '@risk/infra/kafka/kafka-alert.publisher';
import { KafkaDeadLetterSink } from '@risk/infra/kafka/kafka-dead-letter.sink';
import type { KafkaConfig } from '@risk/infra/config/engine-config';
import { KafkaConnection } from '../ingest/kafka-connection';
import { retryAtStartup } from './startup-retry';
import { EngineSettings } from './engine.tokens';
import { FeatureDefinitions } from './feature-definitions';
import { EngineLifecycle } from './engine.lifecycle';
import { RulesModule } from '../rules/rules.module';

/**
 * Builds the engine from the validated configuration: each part runs
 * in memory unless its service is configured (KAFKA_BROKERS, REDIS_URL,
 * ELASTICSEARCH_NODE).
 */
@Module({})
export class EngineModule {
  static forRoot(config: EngineConfig, logger: JsonLogger): DynamicModule {
    const features = loadFeatureFile(config.rulesDir);
    const readiness = new ReadinessRegistry();
    const clients = new ClientRegistry();
    const kafka = config.kafka === undefined ? undefined : openKafka(config.kafka, logger);
    if (kafka !== undefined) clients.add('kafka', () => kafka.close());
    let esQuery: VerdictQuery | undefined;
    // Embedded default: verdicts, profiles, recent alerts and rejects on disk under DATA_DIR (bounded, kept across restarts).
    const sqlite = openSqlite(config.dataDir);
    clients.add('sqlite', async () => void sqlite.close());
    const metrics = new EngineMetrics();
    const providers: Provider[] = [
      { provide: EngineSettings, useValue: { config } },
      { provide: JsonLogger, useValue: logger },
      { provide: EngineMetrics, useValue: metrics },
      { provide: FeatureDefinitions, useValue: { definitions: features } },
      { provide: ReadinessRegistry, useValue: readiness },
      {
        provide: FeatureStore,
        useFactory: async (): Promise<FeatureStore> => {
          const opened = await openFeatureStore(features, config.state, config.redis, undefined, {
            budget: { bytes: config.memoryBudgetBytes, onEvict: (kind, count) => metrics.recordStateEvictions(kind, count) },
            guard: new HeapGuard(),
            onRefused: (events) => metrics.recordMemoryRefusal(events),
          });
          if (opened.estimatedBytes !== undefined) metrics.watchStateBytes(opened.estimatedBytes);
          readiness.add({ name: 'state', check: () => opened.check() });
          logger.info('feature state ready', { backend: opened.backend });
          return opened.store;
        },
      },
      { provide: SqliteVerdictStore, useValue: new SqliteVerdictStore(sqlite, config.verdicts.limit) },
      { provide: RecentAlerts, useValue: new SqliteAlertStore(sqlite, config.alerts.recentLimit) },
      {
        provide: RecentRejects,
        useValue: new SqliteRejectStore(sqlite, config.alerts.recentLimit, (message) =>
          logger.warn('event rejected', { source: message.source, errors: message.errors, stage: message.stage }),
        ),
      },
      { provide: ClientRegistry, useValue: clients },
      {
        provide: VerdictSink,
        useFactory: async (embedded: SqliteVerdictStore, rejects: RejectSink): Promise<VerdictSink> => {
          if (config.elasticsearch === undefined) return embedded;
          const es = config.elasticsearch;
          const client = new ElasticsearchClient({
            node: es.node,
            username: es.username,
            password: es.password,
            apiKey: es.apiKey,
            requestTimeoutMs: es.requestTimeoutMs,
          });
          clients.add('elasticsearch', () => client.close());
          const sink = new ElasticsearchVerdictSink(client, rejects, {
            flushMaxDocs: es.flushMaxDocs,
            flushMaxBytes: es.flushMaxBytes,
            flushIntervalMs: es.flushIntervalMs,
          });
          await retryAtStartup('elasticsearch', () => sink.ensureSetup(), logger);
          readiness.add({
            name: 'elasticsearch',
            check: async () => {
              const health = await sink.health();
              return { ok: health.status === 'green' || health.status === 'yellow', detail: health };
            },
          });
          esQuery = new ElasticsearchVerdictQuery(client);
          return sink;
        },
        inject: [SqliteVerdictStore, RejectSink],
      },
      {
        provide: VerdictQuery,
        // Depends on VerdictSink so that the Elasticsearch client exists by then.
        useFactory: (embedded: SqliteVerdictStore): VerdictQuery => esQuery ?? embedded.query,
        inject: [SqliteVerdictStore, VerdictSink],
      },
      { provide: KafkaConnection, useValue: { client: kafka } },
      {
        // Kafka first (durable, acknowledged), then this instance's recent list for GET /alerts.
        provide: AlertPublisher,
        useFactory: (recent: SqliteAlertStore): AlertPublisher =>
          new TeeAlertPublisher(
            kafka === undefined ? [recent] : [new KafkaAlertPublisher({ client: kafka, topic: config.kafka!.alertsTopic }), recent],
          ),
        inject: [RecentAlerts],
      },
      {
        provide: RejectSink,
        useFactory: (recent: SqliteRejectStore): RejectSink =>
          new TeeRejectSink(
            kafka === undefined ? [recent] : [new KafkaDeadLetterSink({ client: kafka, topic: config.kafka!.deadLetterTopic }), recent],
          ),
        inject: [RecentRejects],
      },
      {
        provide: RiskPipeline,
        useFactory: (store: FeatureStore, rules: RuleSetHolder, verdicts: VerdictSink, alerts: AlertPublisher, rejects: RejectSink) =>
          new RiskPipeline(
            store,
            rules,
            { verdicts, alerts, rejects },
            { alertThreshold: config.alerts.threshold, maxEventTimeSkewMs: config.maxEventTimeSkewMs },
          ),
        inject: [FeatureStore, RuleSetHolder, VerdictSink, AlertPublisher, RejectSink],
      },
      EngineLifecycle,
    ];
    return {
      module: EngineModule,
      global: true,
      imports: [RulesModule.forRoot(config, features)],
      providers,
      exports: providers.map((p) => ('provide' in p ? p.provide : p)),
    };
  }
}

export type { FeatureDefinition };

function openKafka(kafka: KafkaConfig, logger: JsonLogger): KafkaClient {
  return new KafkaClient({
    brokers: kafka.brokers,
    clientId: kafka.clientId,
    groupId: kafka.groupId,
    ssl: kafka.ssl,
    sasl: kafka.sasl,
    logger: logger.child('kafkajs'),
  });
}
