import { randomBytes } from 'node:crypto';
import { DEFAULT_STATE_SETTINGS, FeatureStore, type StateInput, type StateOutcome } from '@risk/domain';
import { RedisFeatureStore } from '@risk/infra/redis/redis-feature.store';
import { RedisClient } from '@risk/infra/redis/redis.client';
import type { StateFactory } from './replay.command';

/**
 * `replay --state redis://…`: the Redis backend under a key prefix of its
 * own, so a replay starts from empty state and never touches a live
 * engine's keys; the keys are deleted when the replay ends.
 */
export const redisStateFactory: StateFactory = async (url, features, lateness) => {
  const client = new RedisClient({ url, commandTimeoutMs: 10_000 });
  try {
    await client.waitReady(10_000);
  } catch (error) {
    // Stop reconnecting, or the process would never exit.
    await client.quit();
    throw error;
  }
  const prefix = `replay-${randomBytes(4).toString('hex')}:`;
  const store = new RedisFeatureStore(client, features, { ...DEFAULT_STATE_SETTINGS, allowedLatenessMs: lateness }, { keyPrefix: prefix });
  return new (class extends FeatureStore {
    apply(partition: string, inputs: readonly StateInput[]): Promise<StateOutcome[]> {
      return store.apply(partition, inputs);
    }
    async close(): Promise<void> {
      await store.close();
      await client.deleteMatching(`${prefix}*`);
      await client.quit();
    }
  })();
};
