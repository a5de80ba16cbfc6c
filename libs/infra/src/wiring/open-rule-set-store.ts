import type { RuleSetStore } from '@risk/domain/rules/lifecycle';
import type { RedisConfig } from '../config/engine-config';
import { RedisRuleSetStore } from '../redis/redis-rule-set.store';
import { FileRuleSetStore } from '../rule-store/file-rule-set.store';
import { openRedis } from './open-redis';

export interface OpenedRuleSetStore {
  readonly store: RuleSetStore;
  readonly backend: 'files' | 'redis';
  /** Ends the store's subscriptions, then closes the connection opened here. */
  close(): Promise<void>;
}

export interface RuleSetStoreOptions {
  /** Redis when configured (shared by every instance), else files under dataDir (embedded, one instance). */
  readonly redis: RedisConfig | undefined;
  readonly dataDir: string;
  /** Redis only: longest wait for the first connection. */
  readonly redisReadyTimeoutMs: number;
}

export async function openRuleSetStore(options: RuleSetStoreOptions): Promise<OpenedRuleSetStore> {
  if (options.redis === undefined) {
    const store = new FileRuleSetStore(options.dataDir);
    return { store, backend: 'files', close: () => store.close() };
  }
  const client = await openRedis(options.redis, { readyTimeoutMs: options.redisReadyTimeoutMs });
  const store = new RedisRuleSetStore(client, options.redis.keyPrefix);
  return {
    store,
    backend: 'redis',
    close: async () => {
      await store.close();
      await client.quit();
    },
  };
}
