import { randomBytes } from 'node:crypto';
import {
  DEFAULT_STATE_SETTINGS,
  RiskPipeline,
  RuleSetHolder,
  VerdictSink,
  type FeatureDefinition,
  type RuleDefinition,
  type Verdict,
} from '@risk/domain';
import { CountingAlertPublisher, NdjsonRejectSink } from '@risk/infra/files/ndjson-file.sinks';
import { RedisFeatureStore } from '@risk/infra/redis/redis-feature.store';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { TestRedisServer } from '@test/support/redis-server';
import { fmt, line, summarize } from './stats';

class SerializingSink extends VerdictSink {
  write(verdicts: readonly Verdict[]): Promise<void> {
    for (const v of verdicts) JSON.stringify(v);
    return Promise.resolve();
  }
}

/**
 * End to end with the Redis state layer: decode → Redis (Lua, one round
 * trip set per batch) → 50 compiled rules → verdict JSON, one partition,
 * batches of 100, against a private redis-server on loopback.
 */
export async function benchRedisPipeline(
  lines: readonly string[],
  features: readonly FeatureDefinition[],
  rules: RuleDefinition[],
): Promise<void> {
  const server = await TestRedisServer.start();
  const client = new RedisClient({ url: server.url, commandTimeoutMs: 10_000 });
  try {
    await client.waitReady();
    const prefix = `bench-${randomBytes(3).toString('hex')}:`;
    const store = new RedisFeatureStore(client, features, DEFAULT_STATE_SETTINGS, { keyPrefix: prefix });
    const pipeline = new RiskPipeline(
      store,
      new RuleSetHolder({ version: 1, rules }),
      { verdicts: new SerializingSink(), alerts: new CountingAlertPublisher(), rejects: new NdjsonRejectSink(undefined) },
      { alertThreshold: 'MEDIUM' },
    );
    const cpu = async (): Promise<number> => {
      const info = await client.info('cpu');
      return Number(info.used_cpu_user ?? 0) + Number(info.used_cpu_sys ?? 0);
    };
    const memory = async (): Promise<number> => Number((await client.info('memory')).used_memory ?? 0);
    const cpuBefore = await cpu();
    const memoryBefore = await memory();
    const batchMs: number[] = [];
    const users = new Set<string>();
    const started = performance.now();
    for (let i = 0; i < lines.length; i += 100) {
      const t0 = performance.now();
      const batch = await pipeline.process(
        'bench',
        lines.slice(i, i + 100).map((value) => ({ value, source: {} })),
      );
      batchMs.push(performance.now() - t0);
      for (const v of batch.verdicts) users.add(v.user_id);
    }
    const seconds = (performance.now() - started) / 1000;
    const redisCpu = (await cpu()) - cpuBefore;
    const perUser = ((await memory()) - memoryBefore) / Math.max(users.size, 1);
    const { p50, p99 } = summarize(batchMs);
    process.stdout.write(
      `\nRedis state: ${fmt(lines.length)} events (~24 h of event time), ${rules.length} rules, batches of 100, redis-server on loopback\n`,
    );
    line('throughput', `${fmt(lines.length / seconds)} events/s   (target ≥ 25,000)`);
    line('batch latency', `p50 ${fmt(p50, 2)} ms   p99 ${fmt(p99, 2)} ms   (target p99 < 20 ms)`);
    line('Redis CPU', `${fmt(redisCpu, 2)} s  (${fmt((redisCpu / lines.length) * 1e6, 1)} µs per event)`);
    line('Redis used_memory per active user', `${fmt(perUser)} bytes (${fmt(users.size)} users)`);
    await store.close();
  } finally {
    await client.quit();
    await server.dispose();
  }
}
