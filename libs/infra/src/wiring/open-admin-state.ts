import type { RedisConfig } from '../config/engine-config';
import type { RedisClient } from '../redis/redis.client';
import { openRedis } from './open-redis';

/** Where the state the admin API writes (rule sets, lists, snoozes) lives. */
export interface AdminStateOptions {
  /** Redis when configured (shared by every instance), else files under dataDir (embedded, one instance). */
  readonly redis: RedisConfig | undefined;
  readonly dataDir: string;
  /** Redis only: longest wait for the first connection. */
  readonly redisReadyTimeoutMs: number;
}

/** Builds the stores on either backend; `close` ends what the stores hold (their subscriptions). */
export interface AdminStateBuilders<Stores extends { close(): Promise<void> }> {
  readonly files: (dataDir: string) => Stores;
  readonly redis: (client: RedisClient, keyPrefix: string) => Stores;
}

/** One opened admin-written store: the port, where it lives, and what closes it. */
export interface OpenedAdminStore<Store> {
  readonly store: Store;
  readonly backend: 'files' | 'redis';
  /** Ends the store's subscriptions, then closes the connection opened here. */
  close(): Promise<void>;
}

export interface OpenedAdminState<Stores> {
  readonly stores: Stores;
  readonly backend: 'files' | 'redis';
  /** Closes the stores, then the connection opened here. */
  close(): Promise<void>;
}

/**
 * The one choice for every admin-written store: Redis when REDIS_URL or
 * REDIS_CLUSTER_NODES is set, on a connection opened for the store and
 * closed with it, else files under DATA_DIR.
 */
export async function openAdminState<Stores extends { close(): Promise<void> }>(
  options: AdminStateOptions,
  build: AdminStateBuilders<Stores>,
): Promise<OpenedAdminState<Stores>> {
  if (options.redis === undefined) {
    const stores = build.files(options.dataDir);
    return { stores, backend: 'files', close: () => stores.close() };
  }
  const client = await openRedis(options.redis, { readyTimeoutMs: options.redisReadyTimeoutMs });
  const stores = build.redis(client, options.redis.keyPrefix);
  return {
    stores,
    backend: 'redis',
    close: async () => {
      await stores.close();
      await client.quit();
    },
  };
}
