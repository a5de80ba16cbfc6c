import { randomBytes } from 'node:crypto';
import {
  RiskPipeline,
  RuleSetHolder,
  VerdictSink,
  type FeatureDefinition,
  type InboundMessage,
  type RuleDefinition,
  type Verdict,
} from '@risk/domain';
import { CountingAlertPublisher, NdjsonRejectSink } from '@risk/infra/files/ndjson-file.sinks';
import { RedisFeatureStore } from '@risk/infra/redis/redis-feature.store';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { TestRedisServer } from '@test/support/redis-server';
import { fmt, line, summarize } from './stats';
import { ENGINE_DEFAULTS } from './engine-defaults';

class SerializingSink extends VerdictSink {
  write(verdicts: readonly Verdict[]): Promise<void> {
    for (const v of verdicts) JSON.stringify(v);
    return Promise.resolve();
  }
}

const TOPIC = 'user-events';
const BATCH = 100;

/** Kafka-style keying: a stable hash of user_id picks the partition (FNV-1a here; Kafka uses murmur2, any stable hash spreads alike). */
function partitionOf(value: string, partitions: number): number {
  let userId = '';
  try {
    const parsed = JSON.parse(value) as { user_id?: unknown };
    if (typeof parsed.user_id === 'string') userId = parsed.user_id;
  } catch {
    // Invalid lines are rejected by the pipeline wherever they land.
  }
  let h = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) h = Math.imul(h ^ userId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % partitions;
}

/**
 * End to end with the Redis state layer: decode → Redis (Lua, one round
 * trip set per batch) → 50 compiled rules → verdict JSON, batches of 100,
 * against a private redis-server on loopback (a fresh one per run).
 * Messages carry Kafka-style ids (`topic/partition/offset`), so the
 * redelivery records are written as in production.
 *
 * Two runs: one partition, one batch at a time; then the stream split over
 * three partitions by user_id hash, the partitions decided concurrently and
 * each strictly in order, as KafkaEventConsumer does (3 partitions at once
 * by default).
 */
export async function benchRedisPipeline(
  lines: readonly string[],
  features: readonly FeatureDefinition[],
  rules: RuleDefinition[],
  partitionCounts: readonly number[] = [1, 3],
): Promise<void> {
  process.stdout.write(
    `\nRedis state: ${fmt(lines.length)} events (~24 h of event time), ${rules.length} rules, batches of ${BATCH}, redis-server on loopback\n`,
  );
  for (const count of partitionCounts) await runPartitions(lines, features, rules, count);
}

async function runPartitions(
  lines: readonly string[],
  features: readonly FeatureDefinition[],
  rules: RuleDefinition[],
  partitions: number,
): Promise<void> {
  const streams: InboundMessage[][] = Array.from({ length: partitions }, () => []);
  for (const value of lines) {
    const p = partitions === 1 ? 0 : partitionOf(value, partitions);
    const offset = streams[p].length;
    streams[p].push({ value, source: { topic: TOPIC, partition: p, offset: String(offset) }, messageId: `${TOPIC}/${p}/${offset}` });
  }
  const server = await TestRedisServer.start();
  const client = new RedisClient({ url: server.url, commandTimeoutMs: 10_000 });
  try {
    await client.waitReady();
    const prefix = `bench-${randomBytes(3).toString('hex')}:`;
    const store = new RedisFeatureStore(client, features, ENGINE_DEFAULTS.state, { keyPrefix: prefix });
    const pipeline = new RiskPipeline(
      store,
      new RuleSetHolder({ version: 1, rules }),
      { verdicts: new SerializingSink(), alerts: new CountingAlertPublisher(), rejects: new NdjsonRejectSink(undefined) },
      { alertThreshold: 'MEDIUM', maxEventTimeSkewMs: ENGINE_DEFAULTS.maxEventTimeSkewMs },
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
    const nodeCpuBefore = process.cpuUsage();
    await Promise.all(
      streams.map(async (messages, p) => {
        for (let i = 0; i < messages.length; i += BATCH) {
          const t0 = performance.now();
          const batch = await pipeline.process(`${TOPIC}/${p}`, messages.slice(i, i + BATCH));
          batchMs.push(performance.now() - t0);
          for (const v of batch.verdicts) users.add(v.user_id);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const nodeCpuUsage = process.cpuUsage(nodeCpuBefore);
    const nodeCpu = (nodeCpuUsage.user + nodeCpuUsage.system) / 1e6;
    const redisCpu = (await cpu()) - cpuBefore;
    const perUser = ((await memory()) - memoryBefore) / Math.max(users.size, 1);
    const { p50, p99 } = summarize(batchMs);
    const label =
      partitions === 1
        ? '1 partition, one batch at a time'
        : `${partitions} partitions by user_id hash, decided concurrently (each in order), as the Kafka consumer`;
    process.stdout.write(`  [${partitions}p] ${label}\n`);
    line(`[${partitions}p] throughput`, `${fmt(lines.length / seconds)} events/s   (target ≥ 25,000)`);
    line(`[${partitions}p] batch latency`, `p50 ${fmt(p50, 2)} ms   p99 ${fmt(p99, 2)} ms   (target p99 < 20 ms)`);
    line(`[${partitions}p] Redis CPU`, `${fmt(redisCpu, 2)} s  (${fmt((redisCpu / lines.length) * 1e6, 1)} µs per event)`);
    line(`[${partitions}p] Node CPU (this process)`, `${fmt(nodeCpu, 2)} s  (${fmt((nodeCpu / lines.length) * 1e6, 1)} µs per event)`);
    line(`[${partitions}p] Redis used_memory per active user`, `${fmt(perUser)} bytes (${fmt(users.size)} users)`);
    await store.close();
  } finally {
    await client.quit();
    await server.dispose();
  }
}
