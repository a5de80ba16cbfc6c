import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { type FeatureDefinition, type StateInput } from '@risk/domain';
import { RedisFeatureStore } from '@risk/infra/redis/redis-feature.store';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { percentile } from './stats';
import { ENGINE_DEFAULTS } from './engine-defaults';

export interface RedisFeatureStoreBench {
  readonly eventsPerSec: number;
  readonly batchP50Ms: number;
  readonly batchP99Ms: number;
  /** Redis server CPU (user + sys, all masters) spent during the run. */
  readonly redisCpuSec: number;
  /** `redisCpuSec` per event, in microseconds: the figure to compare on a shared machine, where wall-clock rates are noisy. */
  readonly redisCpuUsPerEvent: number;
  /** Growth of used_memory over the run divided by the distinct users of the stream: all state included (dedup, IPs, devices). */
  readonly usedMemoryPerUserBytes: number;
}

/**
 * Applies `batches` in order, one partition, one batch at a time (as a Kafka
 * partition consumer does), against the Redis at `url`, under a fresh key
 * prefix that is deleted afterwards. Measures the state layer alone: rules
 * are the caller's business.
 */
export async function benchRedisFeatureStore(opts: {
  url: string;
  batches: StateInput[][];
  definitions: FeatureDefinition[];
}): Promise<RedisFeatureStoreBench> {
  const client = new RedisClient({ url: opts.url, commandTimeoutMs: 10_000 });
  const prefix = `bench-${randomBytes(4).toString('hex')}:`;
  try {
    await client.waitReady();
    const store = new RedisFeatureStore(client, opts.definitions, ENGINE_DEFAULTS.state, { keyPrefix: prefix });
    const cpuBefore = await redisCpu(client);
    const memoryBefore = await usedMemory(client);
    const latencies: number[] = [];
    const users = new Set<string>();
    let events = 0;
    const started = performance.now();
    for (const batch of opts.batches) {
      const t = performance.now();
      await store.apply('bench/0', batch);
      latencies.push(performance.now() - t);
      events += batch.length;
    }
    const elapsedSec = (performance.now() - started) / 1000;
    const cpuAfter = await redisCpu(client);
    const memoryAfter = await usedMemory(client);
    for (const batch of opts.batches) for (const { event } of batch) users.add(event.user_id);
    await store.close();
    latencies.sort((a, b) => a - b);
    return {
      eventsPerSec: Math.round(events / elapsedSec),
      batchP50Ms: round(percentile(latencies, 50)),
      batchP99Ms: round(percentile(latencies, 99)),
      redisCpuSec: round(cpuAfter - cpuBefore),
      redisCpuUsPerEvent: round(((cpuAfter - cpuBefore) * 1e6) / Math.max(events, 1)),
      usedMemoryPerUserBytes: Math.round((memoryAfter - memoryBefore) / Math.max(users.size, 1)),
    };
  } finally {
    try {
      await client.deleteMatching(`${prefix}*`);
    } finally {
      await client.quit();
    }
  }
}

async function redisCpu(client: RedisClient): Promise<number> {
  const info = await client.info('cpu');
  return Number(info.used_cpu_user ?? 0) + Number(info.used_cpu_sys ?? 0);
}

async function usedMemory(client: RedisClient): Promise<number> {
  return Number((await client.info('memory')).used_memory ?? 0);
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
