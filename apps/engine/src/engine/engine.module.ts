import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import {
  AlertPublisher,
  FeatureStore,
  MemoryFeatureStore,
  RejectSink,
  RiskPipeline,
  RuleSetHolder,
  VerdictSink,
  loadFeatureFile,
  type FeatureDefinition,
} from '@risk/domain';
import type { EngineConfig } from '@risk/infra/config/engine-config';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { MemoryAlertPublisher } from '@risk/infra/memory/memory-alert.publisher';
import { MemoryRejectSink } from '@risk/infra/memory/memory-reject.sink';
import { MemoryVerdictStore } from '@risk/infra/memory/memory-verdict.store';
import { TeeAlertPublisher, TeeRejectSink } from '@risk/infra/memory/tee';
import { EngineMetrics } from '@risk/infra/metrics/engine.metrics';
import { VerdictQuery } from '@risk/infra/verdict-query/verdict.query';
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
    const providers: Provider[] = [
      { provide: EngineSettings, useValue: { config } },
      { provide: JsonLogger, useValue: logger },
      { provide: EngineMetrics, useValue: new EngineMetrics() },
      { provide: FeatureDefinitions, useValue: { definitions: features } },
      {
        provide: FeatureStore,
        useFactory: (): FeatureStore => new MemoryFeatureStore(features, config.state),
      },
      { provide: MemoryVerdictStore, useValue: new MemoryVerdictStore(config.verdicts.memoryLimit) },
      { provide: MemoryAlertPublisher, useValue: new MemoryAlertPublisher(config.alerts.recentLimit) },
      {
        provide: MemoryRejectSink,
        useValue: new MemoryRejectSink(config.alerts.recentLimit, (message) =>
          logger.warn('event rejected', { source: message.source, errors: message.errors, stage: message.stage }),
        ),
      },
      { provide: VerdictSink, useExisting: MemoryVerdictStore },
      { provide: VerdictQuery, useFactory: (store: MemoryVerdictStore): VerdictQuery => store.query, inject: [MemoryVerdictStore] },
      {
        provide: AlertPublisher,
        useFactory: (recent: MemoryAlertPublisher): AlertPublisher => new TeeAlertPublisher([recent]),
        inject: [MemoryAlertPublisher],
      },
      {
        provide: RejectSink,
        useFactory: (recent: MemoryRejectSink): RejectSink => new TeeRejectSink([recent]),
        inject: [MemoryRejectSink],
      },
      {
        provide: RiskPipeline,
        useFactory: (store: FeatureStore, rules: RuleSetHolder, verdicts: VerdictSink, alerts: AlertPublisher, rejects: RejectSink) =>
          new RiskPipeline(store, rules, { verdicts, alerts, rejects }, { alertThreshold: config.alerts.threshold }),
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
