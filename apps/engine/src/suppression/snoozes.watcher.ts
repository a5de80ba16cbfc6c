import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { SnoozeAdministration, SnoozeStore } from '@risk/domain';
import { CoalescedRun } from '@risk/domain/shared/coalesced-run';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import type { OpenedSuppression } from '@risk/infra/wiring/open-suppression';
import { EngineLifecycle } from '../engine/engine.lifecycle';
import { StoreFollower } from '../engine/store-follower';
import { EngineSettings } from '../engine/engine.tokens';

/** Injection token for the opened cooldown and snooze stores (openSuppression). */
export abstract class OpenedSuppressionStores implements OpenedSuppression {
  abstract readonly cooldowns: OpenedSuppression['cooldowns'];
  abstract readonly snoozes: OpenedSuppression['snoozes'];
  abstract readonly backend: OpenedSuppression['backend'];
  abstract close(): Promise<void>;
}

/**
 * Hot reload of snoozes, as for rules: the store's notifications (Redis
 * pub/sub), reconnections and a periodic reload (RULES_RECONCILE_INTERVAL)
 * each replace the instance's SnoozeBook with the stored active snoozes. The
 * instance that takes a write reloads at once.
 */
@Injectable()
export class SnoozesWatcher implements OnApplicationBootstrap {
  private readonly log: JsonLogger;
  /** Reloads one at a time, so an older read never replaces a newer book. */
  private readonly reloads: CoalescedRun;

  constructor(
    private readonly store: SnoozeStore,
    private readonly opened: OpenedSuppressionStores,
    private readonly admin: SnoozeAdministration,
    private readonly settings: EngineSettings,
    private readonly lifecycle: EngineLifecycle,
    logger: JsonLogger,
  ) {
    this.log = logger.child('snoozes');
    this.reloads = new CoalescedRun(
      () => this.admin.refresh(),
      (error) => this.log.warn('cannot reload snoozes; will retry', { error: (error as Error).message }),
    );
  }

  onApplicationBootstrap(): Promise<void> {
    return new StoreFollower({
      subject: 'snooze changes',
      store: this.store,
      sync: () => this.reload(),
      reconcileIntervalMs: this.settings.config.rulesReconcileIntervalMs,
      closeStore: () => this.opened.close(),
      log: this.log,
    }).start(this.lifecycle);
  }

  reload(): Promise<void> {
    return this.reloads.trigger();
  }
}
