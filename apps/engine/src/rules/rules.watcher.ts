import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { RuleSetHolder } from '@risk/domain';
import { RuleSetStore, RuleSetSync } from '@risk/domain/rules/lifecycle';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { EngineMetrics } from '@risk/infra/metrics/engine.metrics';
import { EngineLifecycle } from '../engine/engine.lifecycle';
import { StoreFollower } from '../engine/store-follower';
import { OpenedRuleSets } from './opened-rule-sets';
import { RuleActivations } from './rule-activations';

export abstract class RulesWatcherOptions {
  /** How often each instance re-reads the active pointer, in case a pub/sub message was lost (RULES_RECONCILE_INTERVAL). */
  abstract readonly reconcileIntervalMs: number;
}

/**
 * Hot reload: follows the store's active version. Triggered by the store's
 * notifications (Redis pub/sub), by reconnections and by a periodic
 * reconciliation; each trigger compiles the new version in the background
 * and swaps it into the RuleSetHolder, which the pipeline reads once per batch.
 */
@Injectable()
export class RulesWatcher implements OnApplicationBootstrap {
  private readonly log: JsonLogger;
  private readonly sync: RuleSetSync;

  constructor(
    private readonly store: RuleSetStore,
    private readonly opened: OpenedRuleSets,
    private readonly holder: RuleSetHolder,
    private readonly activations: RuleActivations,
    private readonly metrics: EngineMetrics,
    private readonly lifecycle: EngineLifecycle,
    private readonly options: RulesWatcherOptions,
    logger: JsonLogger,
  ) {
    this.log = logger.child('rules');
    this.sync = new RuleSetSync(store, holder, {
      onChange: (version, previous) => this.log.info('rule set version activated', { rules_version: version, previous_version: previous }),
      onError: (error) => this.log.warn('cannot read the active rule set version; will retry', { error: (error as Error).message }),
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.metrics.setRulesVersion(this.holder.current.version);
    this.holder.onChange((next) => this.metrics.setRulesVersion(next.version));
    this.activations.listen((set) => this.sync.adopt(set));
    await new StoreFollower({
      subject: 'rule set activations',
      store: this.store,
      sync: () => this.sync.sync(),
      reconcileIntervalMs: this.options.reconcileIntervalMs,
      closeStore: () => this.opened.close(),
      log: this.log,
    }).start(this.lifecycle);
  }

  /** Re-reads the active pointer now (the periodic reconciliation, on demand). */
  reconcile(): Promise<void> {
    return this.sync.sync();
  }
}
