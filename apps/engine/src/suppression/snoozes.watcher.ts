import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { SnoozeAdministration, SnoozeStore } from '@risk/domain';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import type { OpenedSuppression } from '@risk/infra/wiring/open-suppression';
import { EngineLifecycle } from '../engine/engine.lifecycle';
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
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  private closed = false;

  constructor(
    private readonly store: SnoozeStore,
    private readonly opened: OpenedSuppressionStores,
    private readonly admin: SnoozeAdministration,
    private readonly settings: EngineSettings,
    private readonly lifecycle: EngineLifecycle,
    logger: JsonLogger,
  ) {
    this.log = logger.child('snoozes');
  }

  async onApplicationBootstrap(): Promise<void> {
    this.lifecycle.register({ close: () => this.close() });
    await this.subscribe();
    this.timer = setInterval(() => {
      if (this.unsubscribe === undefined) void this.subscribe();
      void this.reload();
    }, this.settings.config.rulesReconcileIntervalMs);
    this.timer.unref();
    await this.reload();
  }

  reload(): Promise<void> {
    return this.admin.refresh().catch((error: Error) => this.log.warn('cannot reload snoozes; will retry', { error: error.message }));
  }

  private async subscribe(): Promise<void> {
    try {
      this.unsubscribe = await this.store.subscribe(() => void this.reload());
    } catch (error) {
      this.log.warn('cannot subscribe to snooze changes; polling only for now', { error: (error as Error).message });
    }
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.unsubscribe?.();
    await this.opened.close();
  }
}
