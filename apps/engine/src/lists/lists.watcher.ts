import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ListStore } from '@risk/domain/lists/list-store';
import { ListSync } from '@risk/domain/lists/list-sync';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { EngineLifecycle } from '../engine/engine.lifecycle';
import { StoreFollower } from '../engine/store-follower';
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

  onApplicationBootstrap(): Promise<void> {
    return new StoreFollower({
      subject: 'list changes',
      store: this.store,
      sync: () => this.sync.sync(),
      reconcileIntervalMs: this.options.reconcileIntervalMs,
      closeStore: () => this.opened.close(),
      log: this.log,
    }).start(this.lifecycle);
  }
}
