import type { ListStore } from '@risk/domain/lists/list-store';
import type { RedisConfig } from '../config/engine-config';
import { FileListStore } from '../list-store/file-list.store';
import { RedisListStore } from '../redis/redis-list.store';
import { openRedis } from './open-redis';

export interface OpenedListStore {
  readonly store: ListStore;
  readonly backend: 'files' | 'redis';
  /** Ends the store's subscriptions, then closes the connection opened here. */
  close(): Promise<void>;
}

export interface ListStoreOptions {
  /** Redis when configured (shared by every instance), else files under dataDir (embedded, one instance). */
  readonly redis: RedisConfig | undefined;
  readonly dataDir: string;
  /** Redis only: longest wait for the first connection. */
  readonly redisReadyTimeoutMs: number;
}

/** Where lists live: the same choice as for rule sets (docs/lists.md). */
export async function openListStore(options: ListStoreOptions): Promise<OpenedListStore> {
  if (options.redis === undefined) {
    const store = new FileListStore(options.dataDir);
    return { store, backend: 'files', close: () => store.close() };
  }
  const client = await openRedis(options.redis, { readyTimeoutMs: options.redisReadyTimeoutMs });
  const store = new RedisListStore(client, options.redis.keyPrefix);
  return {
    store,
    backend: 'redis',
    close: async () => {
      await store.close();
      await client.quit();
    },
  };
}
