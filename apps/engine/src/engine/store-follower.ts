import type { JsonLogger } from '@risk/infra/logging/json-logger';
import type { EngineLifecycle } from './engine.lifecycle';

/** A store whose writers notify its followers (Redis pub/sub, DATA_DIR polling). */
export interface NotifyingStore {
  subscribe(listener: () => void): Promise<() => Promise<void>>;
}

export interface StoreFollowerOptions {
  /** What the notifications announce, for the logs ("rule set activations"). */
  readonly subject: string;
  readonly store: NotifyingStore;
  /** Brings this instance to the store; never rejects (it logs its own errors). */
  readonly sync: () => Promise<void>;
  /** RULES_RECONCILE_INTERVAL: the poll that converges even when a notification was lost. */
  readonly reconcileIntervalMs: number;
  /** Closes the opened store, after the subscription has ended. */
  readonly closeStore: () => Promise<void>;
  readonly log: JsonLogger;
}

/**
 * The one hot-reload loop shared by rules, lists and snoozes: each instance
 * syncs on the store's notifications, on (re)subscription and on a periodic
 * reconciliation, and closes its subscription, then its store, at shutdown.
 * A failed subscription degrades to polling; each tick tries to subscribe again.
 */
export class StoreFollower {
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  private closed = false;

  constructor(private readonly options: StoreFollowerOptions) {}

  /** Subscribes, starts the reconciliation and syncs once (a change may have landed before the subscription). */
  async start(lifecycle: EngineLifecycle): Promise<void> {
    lifecycle.register({ close: () => this.close() });
    await this.subscribe();
    this.timer = setInterval(() => {
      if (this.unsubscribe === undefined) void this.subscribe();
      void this.options.sync();
    }, this.options.reconcileIntervalMs);
    this.timer.unref();
    await this.options.sync();
  }

  private async subscribe(): Promise<void> {
    try {
      this.unsubscribe = await this.options.store.subscribe(() => void this.options.sync());
    } catch (error) {
      // Polling still converges; the next tick tries to subscribe again.
      this.options.log.warn(`cannot subscribe to ${this.options.subject}; polling only for now`, { error: (error as Error).message });
    }
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.unsubscribe?.();
    await this.options.closeStore();
  }
}
