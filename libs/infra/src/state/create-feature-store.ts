import { MemoryFeatureStore, type FeatureDefinition, type FeatureStore, type StateSettings } from '@risk/domain';
import type { RedisConfig } from '../config/engine-config';
import { RedisFeatureStore } from '../redis/redis-feature.store';
import { RedisClient } from '../redis/redis.client';

export interface OpenedFeatureStore {
  readonly store: FeatureStore;
  readonly backend: 'memory' | 'redis';
  /** Readiness probe of the backend. */
  check(): Promise<{ ok: boolean; detail?: unknown }>;
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
): Promise<OpenedFeatureStore> {
  if (redis === undefined) {
    return { store: new MemoryFeatureStore(definitions, settings), backend: 'memory', check: async () => ({ ok: true, detail: 'memory' }) };
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
