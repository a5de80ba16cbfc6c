import { MemoryCooldownStore, type CooldownStore, type SnoozeStore } from '@risk/domain';
import type { RedisConfig } from '../config/engine-config';
import { RedisCooldownStore } from '../redis/redis-cooldown.store';
import { RedisSnoozeStore } from '../redis/redis-snooze.store';
import { FileSnoozeStore } from '../snooze-store/file-snooze.store';
import { openRedis } from './open-redis';

export interface OpenedSuppression {
  readonly cooldowns: CooldownStore;
  readonly snoozes: SnoozeStore;
  readonly backend: 'embedded' | 'redis';
  /** Ends the snooze subscriptions, then closes the connection opened here. */
  close(): Promise<void>;
}

export interface SuppressionOptions {
  /** Redis when configured (cooldowns and snoozes shared by every instance), else memory and DATA_DIR. */
  readonly redis: RedisConfig | undefined;
  readonly dataDir: string;
  /** ALLOWED_LATENESS: how long a cooldown start is kept after its cooldown ends, for late events. */
  readonly allowedLatenessMs: number;
  /** Redis only: longest wait for the first connection. */
  readonly redisReadyTimeoutMs: number;
}

/** The cooldown and snooze stores the configuration asks for (docs/suppression.md), for the service. */
export async function openSuppression(options: SuppressionOptions): Promise<OpenedSuppression> {
  if (options.redis === undefined) {
    const snoozes = new FileSnoozeStore(options.dataDir);
    return {
      cooldowns: new MemoryCooldownStore({ latenessMs: options.allowedLatenessMs }),
      snoozes,
      backend: 'embedded',
      close: () => snoozes.close(),
    };
  }
  const client = await openRedis(options.redis, { readyTimeoutMs: options.redisReadyTimeoutMs });
  const snoozes = new RedisSnoozeStore(client, options.redis.keyPrefix);
  return {
    cooldowns: new RedisCooldownStore(client, { keyPrefix: options.redis.keyPrefix, latenessMs: options.allowedLatenessMs }),
    snoozes,
    backend: 'redis',
    close: async () => {
      await snoozes.close();
      await client.quit();
    },
  };
}
