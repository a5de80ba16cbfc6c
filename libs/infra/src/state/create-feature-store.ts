import { MemoryFeatureStore, type FeatureDefinition, type FeatureStore, type MemoryBudget, type StateSettings } from '@risk/domain';
import { HeapGuard, HeapGuardedFeatureStore } from '../memory/heap-guard';
import type { RedisConfig } from '../config/engine-config';
import { RedisFeatureStore } from '../redis/redis-feature.store';
import { RedisClient } from '../redis/redis.client';

export interface OpenedFeatureStore {
  readonly store: FeatureStore;
  readonly backend: 'memory' | 'redis';
  /** Readiness probe of the backend. */
  check(): Promise<{ ok: boolean; detail?: unknown }>;
  /** In-memory backend only: the state's estimated bytes (compared with the budget). */
  estimatedBytes?: () => number;
}

/** Embedded mode's memory limits (see MemoryBudget and HeapGuard). */
export interface MemoryLimits {
  readonly budget: MemoryBudget;
  readonly guard?: HeapGuard;
  /** Told how many events were refused under heap pressure. */
  readonly onRefused?: (events: number) => void;
}

/**
 * The state layer the configuration asks for: Redis (shared by every
 * instance of the consumer group) when configured, else process memory.
 */
export async function openFeatureStore(
  definitions: readonly FeatureDefinition[],
  settings: StateSettings,
  redis: RedisConfig | undefined,
  startupTimeoutMs = 15_000,
  memory?: MemoryLimits,
): Promise<OpenedFeatureStore> {
  if (redis === undefined) {
    const store = new MemoryFeatureStore(definitions, settings, memory?.budget);
    return {
      store: memory?.guard === undefined ? store : new HeapGuardedFeatureStore(store, memory.guard.start(), memory.onRefused),
      backend: 'memory',
      check: async () => ({ ok: true, detail: 'memory' }),
      estimatedBytes: () => store.stateSize.estimatedBytes,
    };
  }
  const client = new RedisClient({ url: redis.url, clusterNodes: redis.clusterNodes });
  try {
    await client.waitReady(startupTimeoutMs);
  } catch (error) {
    await client.quit();
    throw new Error(`cannot reach Redis at ${redis.url ?? redis.clusterNodes?.join(',')}: ${(error as Error).message}`);
  }
  const store = new RedisFeatureStore(client, definitions, settings, { keyPrefix: redis.keyPrefix, closeClient: true });
  return {
    store,
    backend: 'redis',
    check: async () => {
      try {
        await client.ping();
        return { ok: true };
      } catch (error) {
        return { ok: false, detail: (error as Error).message };
      }
    },
  };
}
