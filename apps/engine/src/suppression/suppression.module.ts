import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import {
  AlertSuppressor,
  RuleSetHolder,
  SnoozeAdministration,
  SnoozeBook,
  SnoozeStore,
  entityKeysOf,
  knownFacts,
  type DeclaredField,
  type FeatureDefinition,
} from '@risk/domain';
import type { EngineConfig } from '@risk/infra/config/engine-config';
import { openSuppression } from '@risk/infra/wiring/open-suppression';
import { OpenedSuppressionStores, SnoozesWatcher } from './snoozes.watcher';
import { SnoozesController } from './snoozes.controller';

/** Longest wait for Redis to answer when the engine starts. */
const REDIS_STARTUP_TIMEOUT_MS = 10_000;

/**
 * Alert suppression (docs/suppression.md): the cooldown store (memory, or
 * Redis shared by the fleet), the snoozes (DATA_DIR or Redis) with their
 * admin API and hot reload, and the AlertSuppressor the pipeline consults.
 */
@Module({})
export class SuppressionModule {
  static forRoot(config: EngineConfig, features: readonly FeatureDefinition[], fields: readonly DeclaredField[]): DynamicModule {
    const book = new SnoozeBook();
    const providers: Provider[] = [
      {
        // Closed by SnoozesWatcher when it stops (its subscription first).
        provide: OpenedSuppressionStores,
        useFactory: () =>
          openSuppression({
            redis: config.redis,
            dataDir: config.dataDir,
            allowedLatenessMs: config.state.allowedLatenessMs,
            redisReadyTimeoutMs: REDIS_STARTUP_TIMEOUT_MS,
          }),
      },
      { provide: SnoozeStore, useFactory: (opened: OpenedSuppressionStores) => opened.snoozes, inject: [OpenedSuppressionStores] },
      {
        provide: AlertSuppressor,
        useFactory: (opened: OpenedSuppressionStores) => new AlertSuppressor(opened.cooldowns, book),
        inject: [OpenedSuppressionStores],
      },
      {
        provide: SnoozeAdministration,
        useFactory: (store: SnoozeStore, rules: RuleSetHolder) =>
          new SnoozeAdministration(store, book, {
            entityKeys: entityKeysOf(knownFacts(features, fields)),
            ruleExists: (id) => rules.current.ruleSet.rules.some((rule) => rule.id === id),
          }),
        inject: [SnoozeStore, RuleSetHolder],
      },
      SnoozesWatcher,
    ];
    return {
      module: SuppressionModule,
      global: true,
      controllers: [SnoozesController],
      providers,
      exports: [AlertSuppressor, SnoozeAdministration, SnoozeStore],
    };
  }
}
