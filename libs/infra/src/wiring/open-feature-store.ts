import { MemoryFeatureStore, type FeatureDefinition, type FeatureStore, type MemoryBudget, type StateSettings } from '@risk/domain';
import type { RedisConfig } from '../config/engine-config';
import { HeapGuard, HeapGuardedFeatureStore } from '../memory/heap-guard';

export interface OpenedFeatureStore {
  readonly store: FeatureStore;
  readonly backend: 'memory' | 'redis';
  /** Readiness probe of the backend. */
  check(): Promise<{ ok: boolean; detail?: unknown }>;
  /** In-memory backend only: the state's estimated bytes (compared with the budget). */
  readonly estimatedBytes?: () => number;
  /** Redis backend only: writes refused by the compare-and-set so far. */
  readonly conflicts?: () => number;
  /** Waits for in-flight state writes, then closes the connection opened here. */
  close(): Promise<void>;
}

/** Embedded mode's memory limits (see MemoryBudget and HeapGuard). */
export interface MemoryLimits {
  readonly budget: MemoryBudget;
  readonly guard?: HeapGuard;
  /** Told how many events were refused under heap pressure. */
  readonly onRefused?: (events: number) => void;
}

export interface FeatureStoreOptions {
  readonly settings: StateSettings;
  /** Redis when configured (shared by every instance of the consumer group), else process memory. */
  readonly redis: RedisConfig | undefined;
  /** Redis only: longest wait for the first connection. */
  readonly redisReadyTimeoutMs: number;
  /** Memory only: the budget and heap guard (none: unbounded, as in a replay). */
  readonly memory?: MemoryLimits;
}

/** The state layer the configuration asks for, with what closes it. */
export async function openFeatureStore(
  definitions: readonly FeatureDefinition[],
  options: FeatureStoreOptions,
): Promise<OpenedFeatureStore> {
  const { redis, memory } = options;
  if (redis === undefined) {
    const store = new MemoryFeatureStore(definitions, options.settings, memory?.budget);
    return {
      store: memory?.guard === undefined ? store : new HeapGuardedFeatureStore(store, memory.guard.start(), memory.onRefused),
      backend: 'memory',
      check: async () => ({ ok: true, detail: 'memory' }),
      estimatedBytes: () => store.stateSize.estimatedBytes,
      close: () => store.close(),
    };
  }
  // Loaded only here: the Redis client costs ~40 ms of start-up that an in-memory replay need not pay.
  const [{ RedisFeatureStore }, { describeRedisTarget, openRedis }] = await Promise.all([
    import('../redis/redis-feature.store'),
    import('./open-redis'),
  ]);
  let client;
  try {
    client = await openRedis(redis, { readyTimeoutMs: options.redisReadyTimeoutMs });
  } catch (error) {
    throw new Error(`cannot reach Redis at ${describeRedisTarget(redis)}: ${(error as Error).message}`);
  }
  const opened = client;
  const store = new RedisFeatureStore(opened, definitions, options.settings, {
    keyPrefix: redis.keyPrefix,
    cacheEntities: redis.stateCache,
  });
  try {
    // Never compute from empty state while the old layout's state sits under other keys: refuse with the command.
    await store.checkLayout();
  } catch (error) {
    opened.disconnect();
    throw error;
  }
  return {
    store,
    backend: 'redis',
    conflicts: () => store.conflicts,
    check: async () => {
      try {
        await opened.ping();
        return { ok: true };
      } catch (error) {
        return { ok: false, detail: (error as Error).message };
      }
    },
    close: async () => {
      await store.close();
      await opened.quit();
    },
  };
}
