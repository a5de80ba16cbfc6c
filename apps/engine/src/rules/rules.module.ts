import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { RuleSetHolder, knownFacts, loadRuleFiles, validateRule, type DeclaredField, type FeatureDefinition } from '@risk/domain';
import { RuleAdministration, RuleSetStore } from '@risk/domain/rules/lifecycle';
import type { EngineConfig } from '@risk/infra/config/engine-config';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { openRuleSetStore } from '@risk/infra/wiring/open-rule-set-store';
import { RulesController } from '../admin/rules.controller';
import { ListsController } from '../admin/lists.controller';
import { ListRegistry } from '@risk/domain/lists/list-registry';
import { ListStore } from '@risk/domain/lists/list-store';
import { ListSync } from '@risk/domain/lists/list-sync';
import { listProviders } from '../lists/lists.providers';
import { RuleSetsController } from '../admin/rulesets.controller';
import { BacktestsController } from '../admin/backtests.controller';
import { FeaturesController } from '../admin/features.controller';
import { ApiKeyGuard } from '../auth/api-key.guard';
import { ApiKeyVerifier } from '../auth/api-key.verifier';
import { RuleActivations } from './rule-activations';
import { OpenedRuleSets } from './opened-rule-sets';
import { RulesWatcher, RulesWatcherOptions } from './rules.watcher';

/** Longest wait for Redis to answer when the engine starts. */
const REDIS_STARTUP_TIMEOUT_MS = 10_000;

/**
 * Rule lifecycle: the versioned rule set store (Redis or files), the
 * RuleSetHolder the pipeline decides with (loaded from the store's active
 * version; the shipped `rules/` directory seeds version 1 of an empty store),
 * the hot-reload watcher, the admin API and the API-key guard.
 */
@Module({})
export class RulesModule {
  static forRoot(config: EngineConfig, features: readonly FeatureDefinition[], fields: readonly DeclaredField[] = []): DynamicModule {
    const activations = new RuleActivations();
    const providers: Provider[] = [
      { provide: RuleActivations, useValue: activations },
      { provide: RulesWatcherOptions, useValue: { reconcileIntervalMs: config.rulesReconcileIntervalMs } },
      { provide: ApiKeyVerifier, useValue: new ApiKeyVerifier(config.apiKeys) },
      { provide: APP_GUARD, useClass: ApiKeyGuard },
      {
        // Closed by RulesWatcher when it stops (its subscription first).
        provide: OpenedRuleSets,
        useFactory: (): Promise<OpenedRuleSets> =>
          openRuleSetStore({ redis: config.redis, dataDir: config.dataDir, redisReadyTimeoutMs: REDIS_STARTUP_TIMEOUT_MS }),
      },
      { provide: RuleSetStore, useFactory: (opened: OpenedRuleSets): RuleSetStore => opened.store, inject: [OpenedRuleSets] },
      {
        provide: RuleAdministration,
        useFactory: (store: RuleSetStore, lists: ListStore, registry: ListRegistry): RuleAdministration =>
          new RuleAdministration(store, features, {
            fields,
            onActivated: (set) => activations.emit(set),
            knownLists: async () => new Set((await lists.summaries()).map((list) => list.name)),
            lists: registry,
          }),
        inject: [RuleSetStore, ListStore, ListRegistry],
      },
      {
        provide: RuleSetHolder,
        // ListSync is injected so that the lists are loaded before the first version decides.
        useFactory: async (
          admin: RuleAdministration,
          store: RuleSetStore,
          logger: JsonLogger,
          registry: ListRegistry,
        ): Promise<RuleSetHolder> => {
          const log = logger.child('rules');
          if ((await store.activeVersion()) === undefined) {
            const seeded = await admin.seed(loadRuleFiles(config.rulesDir, knownFacts(features, fields)));
            log.info('rule set store was empty: seeded from the rules directory', {
              rules_dir: config.rulesDir,
              rules_version: seeded.version,
            });
          }
          const active = await admin.active();
          // Stored versions were valid when written; one stored without features reads as features.json, which may have changed.
          for (const rule of active.rules) {
            const problems = validateRule(rule, admin.facts);
            if (problems.length > 0)
              log.warn("an active rule no longer validates against its version's features", { rule_id: rule.id, problems });
          }
          if (fields.length > 0) log.info('declared event fields', { fields: fields.map((f) => `${f.name}: ${f.type}`) });
          log.info('deciding with rule set version', { rules_version: active.version, rules: active.rules.length });
          log.info('deciding with features', { features: admin.featuresOf(active).map((f) => f.name) });
          // Versions stored before features were versioned decide with the start-up features.json (docs/features.md).
          return new RuleSetHolder(active, fields, registry, features);
        },
        inject: [RuleAdministration, RuleSetStore, JsonLogger, ListRegistry, ListSync],
      },
      RulesWatcher,
      ...listProviders(config),
    ];
    return {
      module: RulesModule,
      global: true,
      controllers: [RulesController, RuleSetsController, FeaturesController, ListsController, BacktestsController],
      providers,
      exports: [RuleSetHolder, RuleSetStore, RuleAdministration, RulesWatcher],
    };
  }
}
