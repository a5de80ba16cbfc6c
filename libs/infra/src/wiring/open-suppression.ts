import { MemoryCooldownStore, type CooldownStore, type SnoozeStore } from '@risk/domain';
import { RedisCooldownStore } from '../redis/redis-cooldown.store';
import { RedisSnoozeStore } from '../redis/redis-snooze.store';
import { FileSnoozeStore } from '../snooze-store/file-snooze.store';
import { openAdminState, type AdminStateOptions } from './open-admin-state';

export interface OpenedSuppression {
  readonly cooldowns: CooldownStore;
  readonly snoozes: SnoozeStore;
  readonly backend: 'embedded' | 'redis';
  /** Ends the snooze subscriptions, then closes the connection opened here. */
  close(): Promise<void>;
}

export interface SuppressionOptions extends AdminStateOptions {
  /** ALLOWED_LATENESS: how long a cooldown start is kept after its cooldown ends, for late events. */
  readonly allowedLatenessMs: number;
}

/**
 * The cooldown and snooze stores the configuration asks for (docs/suppression.md), for the service:
 * on Redis both are shared by every instance; embedded, snoozes are under DATA_DIR and cooldowns in memory.
 */
export async function openSuppression(options: SuppressionOptions): Promise<OpenedSuppression> {
  const latenessMs = options.allowedLatenessMs;
  const opened = await openAdminState(options, {
    files: (dataDir) => suppressionStores(new MemoryCooldownStore({ latenessMs }), new FileSnoozeStore(dataDir)),
    redis: (client, keyPrefix) =>
      suppressionStores(new RedisCooldownStore(client, { keyPrefix, latenessMs }), new RedisSnoozeStore(client, keyPrefix)),
  });
  const { cooldowns, snoozes } = opened.stores;
  return { cooldowns, snoozes, backend: opened.backend === 'files' ? 'embedded' : 'redis', close: () => opened.close() };
}

function suppressionStores(cooldowns: CooldownStore, snoozes: SnoozeStore) {
  return { cooldowns, snoozes, close: () => snoozes.close() };
}
