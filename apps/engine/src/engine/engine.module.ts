import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import {
  AlertPublisher,
  AlertSuppressor,
  FeatureStore,
  RecentAlerts,
  RecentRejects,
  RejectSink,
  RiskPipeline,
  RuleSetHolder,
  VerdictQuery,
  VerdictSink,
  loadFieldFile,
} from '@risk/domain';
import type { EngineConfig } from '@risk/infra/config/engine-config';
import { loadRulesDirFeatures } from '@risk/infra/wiring/rules-dir-features';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { EngineMetrics } from '@risk/infra/metrics/engine.metrics';
import { ReadinessRegistry } from '../health/readiness';
import { RulesModule } from '../rules/rules.module';
import { SuppressionModule } from '../suppression/suppression.module';
import { ClientRegistry } from './client-registry';
import { EngineAdapters, openEngineAdapters } from './engine-adapters';
import { EngineLifecycle } from './engine.lifecycle';
import { EngineSettings } from './engine.tokens';
import { FeatureDefinitions } from './feature-definitions';
import { KafkaConnection } from './kafka-connection';

/**
 * Builds the engine from the validated configuration. Every adapter is
 * opened by one async provider (EngineAdapters, see engine-adapters.ts);
 * each port below is a field of it, so no provider depends on another being
 * built first.
 */
@Module({})
export class EngineModule {
  static forRoot(config: EngineConfig, logger: JsonLogger): DynamicModule {
    // Without features.json, the shipped defaults, said in the log (issue 13 item 4); versions may pin their own.
    const features = loadRulesDirFeatures(config.rulesDir, (message) => logger.warn(message));
    // Declared event fields (docs/fields.md): none unless rules/ holds a fields.json.
    const fields = loadFieldFile(config.rulesDir, features);
    const readiness = new ReadinessRegistry();
    const clients = new ClientRegistry();
    const metrics = new EngineMetrics();
    const adapter = <T>(provide: abstract new (...args: never[]) => T, pick: (adapters: EngineAdapters) => T): Provider => ({
      provide,
      useFactory: pick,
      inject: [EngineAdapters],
    });
    const providers: Provider[] = [
      { provide: EngineSettings, useValue: { config } },
      { provide: JsonLogger, useValue: logger },
      { provide: EngineMetrics, useValue: metrics },
      { provide: FeatureDefinitions, useValue: { definitions: features } },
      { provide: ReadinessRegistry, useValue: readiness },
      { provide: ClientRegistry, useValue: clients },
      {
        provide: EngineAdapters,
        useFactory: (): Promise<EngineAdapters> => openEngineAdapters({ config, features, logger, metrics, readiness, clients }),
      },
      adapter(FeatureStore, (a) => a.featureStore),
      adapter(VerdictSink, (a) => a.verdicts),
      adapter(VerdictQuery, (a) => a.verdictQuery),
      adapter(AlertPublisher, (a) => a.alerts),
      adapter(RejectSink, (a) => a.rejects),
      adapter(RecentAlerts, (a) => a.recentAlerts),
      adapter(RecentRejects, (a) => a.recentRejects),
      adapter(KafkaConnection, (a): KafkaConnection => ({ client: a.kafka })),
      {
        provide: RiskPipeline,
        useFactory: (adapters: EngineAdapters, rules: RuleSetHolder, suppressor: AlertSuppressor) =>
          new RiskPipeline(
            adapters.featureStore,
            rules,
            { verdicts: adapters.verdicts, alerts: adapters.alerts, rejects: adapters.rejects },
            { alertThreshold: config.alerts.threshold, maxEventTimeSkewMs: config.maxEventTimeSkewMs, suppressor },
          ),
        inject: [EngineAdapters, RuleSetHolder, AlertSuppressor],
      },
      EngineLifecycle,
    ];
    return {
      module: EngineModule,
      global: true,
      imports: [RulesModule.forRoot(config, features, fields), SuppressionModule.forRoot(config, features, fields)],
      providers,
      exports: providers.map((p) => ('provide' in p ? p.provide : p)),
    };
  }
}
