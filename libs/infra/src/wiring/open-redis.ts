import type { RedisConfig } from '../config/engine-config';
import { RedisClient } from '../redis/redis.client';

/** One node (`url`) or the seeds of a cluster (`clusterNodes`): the connection part of REDIS_URL / REDIS_CLUSTER_NODES. */
export type RedisTarget = Pick<RedisConfig, 'url' | 'clusterNodes'>;

export interface OpenRedisOptions {
  /** Longest wait for the first connection; past it the open fails. */
  readonly readyTimeoutMs: number;
  /** Passed to the client: a command unanswered this long fails (client default when absent). */
  readonly commandTimeoutMs?: number;
}

/** Names the target in error messages. */
export function describeRedisTarget(target: RedisTarget): string {
  return target.url ?? target.clusterNodes?.join(',') ?? '(no Redis target)';
}

/**
 * A Redis client that answered, or the connection error. The client is
 * disconnected before the error is thrown: it would otherwise keep
 * reconnecting and hold the process open.
 */
export async function openRedis(target: RedisTarget, options: OpenRedisOptions): Promise<RedisClient> {
  const client = new RedisClient({ url: target.url, clusterNodes: target.clusterNodes, commandTimeoutMs: options.commandTimeoutMs });
  try {
    await client.waitReady(options.readyTimeoutMs);
  } catch (error) {
    client.disconnect();
    throw error;
  }
  return client;
}
