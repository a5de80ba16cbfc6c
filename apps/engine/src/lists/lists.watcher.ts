import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ListStore } from '@risk/domain/lists/list-store';
import { ListSync } from '@risk/domain/lists/list-sync';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { EngineLifecycle } from '../engine/engine.lifecycle';
import { RulesWatcherOptions } from '../rules/rules.watcher';
import { OpenedLists } from './opened-lists';

/**
 * Hot reload of lists, as for rule sets: triggered by the store's
 * notifications (Redis pub/sub on `<prefix>lists:changed`), by
 * reconnections, and every RULES_RECONCILE_INTERVAL; each trigger re-reads
 * every list's version and brings this instance's matchers to it in the background.
 */
@Injectable()
export class ListsWatcher implements OnApplicationBootstrap {
  private readonly log: JsonLogger;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  private closed = false;

  constructor(
    private readonly store: ListStore,
    private readonly opened: OpenedLists,
    private readonly sync: ListSync,
    private readonly lifecycle: EngineLifecycle,
    private readonly options: RulesWatcherOptions,
    logger: JsonLogger,
  ) {
    this.log = logger.child('lists');
  }

  async onApplicationBootstrap(): Promise<void> {
    this.lifecycle.register({ close: () => this.close() });
    await this.subscribe();
    this.timer = setInterval(() => {
      if (this.unsubscribe === undefined) void this.subscribe();
      void this.sync.sync();
    }, this.options.reconcileIntervalMs);
    this.timer.unref();
    // A list may have changed between the first load and subscribing.
    await this.sync.sync();
  }

  private async subscribe(): Promise<void> {
    try {
      this.unsubscribe = await this.store.subscribe(() => void this.sync.sync());
    } catch (error) {
      this.log.warn('cannot subscribe to list changes; polling only for now', { error: (error as Error).message });
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
