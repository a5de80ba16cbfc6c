import type { RuleSetStore } from '@risk/domain/rules/lifecycle';
import type { EngineConfig } from '@risk/infra/config/engine-config';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { RedisRuleSetStore } from '@risk/infra/redis/redis-rule-set.store';
import { FileRuleSetStore } from '@risk/infra/rule-store/file-rule-set.store';

/** Redis when configured (shared by every instance), else files under DATA_DIR (embedded, one instance). */
export async function createRuleSetStore(config: EngineConfig): Promise<RuleSetStore> {
  if (config.redis === undefined) return new FileRuleSetStore(config.dataDir);
  const client = new RedisClient({ url: config.redis.url, clusterNodes: config.redis.clusterNodes });
  try {
    await client.waitReady();
  } catch (error) {
    await client.quit();
    throw error;
  }
  return new RedisRuleSetStore(client, config.redis.keyPrefix, { ownsClient: true });
}
