import { randomBytes } from 'node:crypto';
import {
  RiskPipeline,
  RuleSetHolder,
  VerdictSink,
  type FeatureDefinition,
  type FeatureStore,
  type InboundMessage,
  type RuleDefinition,
  type Verdict,
} from '@risk/domain';
import { CountingAlertPublisher, NdjsonRejectSink } from '@risk/infra/files/ndjson-file.sinks';
import { RedisFeatureStore } from '@risk/infra/redis/redis-feature.store';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { TestRedisServer } from '@test/support/redis-server';
import { fmt, summarize } from './stats';
import { ENGINE_DEFAULTS } from './engine-defaults';

class SerializingSink extends VerdictSink {
  write(verdicts: readonly Verdict[]): Promise<void> {
    for (const v of verdicts) JSON.stringify(v);
    return Promise.resolve();
  }
}

const TOPIC = 'user-events';
const BATCH = 100;
const WARM_UP_EVENTS = 20_000;

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
 * The Redis feature stores measured side by side, each on the same stream in
 * the same run. `baseline` marks the store the others' ratios are taken
 * against; with one entry left, the bench prints its figures alone.
 */
interface StoreUnderTest {
  readonly name: string;
  readonly baseline?: true;
  readonly create: (client: RedisClient, features: readonly FeatureDefinition[], keyPrefix: string) => FeatureStore;
}

const STORES: readonly StoreUnderTest[] = [
  {
    name: 'ts (new)',
    create: (client, features, keyPrefix) => new RedisFeatureStore(client, features, ENGINE_DEFAULTS.state, { keyPrefix }),
  },
];

interface RunFigures {
  readonly eventsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  /** INFO cpu, used_cpu_user + used_cpu_sys, µs per event. */
  readonly redisCpuUs: number;
  /** INFO commandstats, the sum of every command's usec (wall clock inside commands: on a busy machine it can exceed the CPU figure), µs per event. */
  readonly redisCommandUs: number;
  /** This process (decode, rules, verdict JSON, store and client work), µs per event. */
  readonly nodeCpuUs: number;
  readonly memoryPerUser: number;
  readonly users: number;
}

/**
 * End to end with the Redis state layer: decode → Redis → 50 compiled rules →
 * verdict JSON, batches of 100, against a private redis-server on loopback (a
 * fresh one per store and run). Messages carry Kafka-style ids
 * (`topic/partition/offset`), so the redelivery records are written as in
 * production.
 *
 * For each partition count (one partition, one batch at a time; then the
 * stream split by user_id hash, the partitions decided concurrently and each
 * strictly in order, as KafkaEventConsumer does), every store of STORES runs
 * the same messages, then one table compares them.
 */
export async function benchRedisPipeline(
  lines: readonly string[],
  features: readonly FeatureDefinition[],
  rules: RuleDefinition[],
  partitionCounts: readonly number[] = [1, 3],
): Promise<void> {
  process.stdout.write(
    `\nRedis state: ${fmt(lines.length)} events (~24 h of event time), ${rules.length} rules, batches of ${BATCH}, ` +
      `redis-server on loopback (a fresh one per store and run, after an untimed warm-up of each); stores: ${STORES.map((s) => s.name).join(', ')}\n`,
  );
  // Untimed: every store first decides the start of the stream on a throwaway server, so that no store's run pays
  // for this process's JIT warm-up of the shared path (decode, rules, verdict JSON) or of its own code.
  const warmUp = splitStream(lines.slice(0, Math.min(WARM_UP_EVENTS, Math.ceil(lines.length / 10))), 1);
  for (const store of STORES) await runStore(store, warmUp, features, rules, warmUp[0].length);
  for (const partitions of partitionCounts) {
    const streams = splitStream(lines, partitions);
    const label =
      partitions === 1
        ? '1 partition, one batch at a time'
        : `${partitions} partitions by user_id hash, decided concurrently (each in order), as the Kafka consumer`;
    process.stdout.write(`  [${partitions}p] ${label}\n`);
    const results: { store: StoreUnderTest; figures: RunFigures }[] = [];
    for (const store of STORES) results.push({ store, figures: await runStore(store, streams, features, rules, lines.length) });
    printComparison(partitions, results);
  }
}

function splitStream(lines: readonly string[], partitions: number): InboundMessage[][] {
  const streams: InboundMessage[][] = Array.from({ length: partitions }, () => []);
  for (const value of lines) {
    const p = partitions === 1 ? 0 : partitionOf(value, partitions);
    const offset = streams[p].length;
    streams[p].push({ value, source: { topic: TOPIC, partition: p, offset: String(offset) }, messageId: `${TOPIC}/${p}/${offset}` });
  }
  return streams;
}

async function runStore(
  under: StoreUnderTest,
  streams: readonly (readonly InboundMessage[])[],
  features: readonly FeatureDefinition[],
  rules: RuleDefinition[],
  events: number,
): Promise<RunFigures> {
  const server = await TestRedisServer.start();
  const client = new RedisClient({ url: server.url, commandTimeoutMs: 10_000 });
  try {
    await client.waitReady();
    const store = under.create(client, features, `bench-${randomBytes(3).toString('hex')}:`);
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
    const commandUsec = async (): Promise<number> => {
      let usec = 0;
      for (const [key, value] of Object.entries(await client.info('commandstats'))) {
        if (key.startsWith('cmdstat_')) usec += Number(/(?:^|,)usec=(\d+)/.exec(value)?.[1] ?? 0);
      }
      return usec;
    };
    const memory = async (): Promise<number> => Number((await client.info('memory')).used_memory ?? 0);
    const cpuBefore = await cpu();
    const commandBefore = await commandUsec();
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
    const redisCpu = (await cpu()) - cpuBefore;
    const redisCommandUsec = (await commandUsec()) - commandBefore;
    const memoryPerUser = ((await memory()) - memoryBefore) / Math.max(users.size, 1);
    await store.close();
    const { p50, p99 } = summarize(batchMs);
    return {
      eventsPerSecond: events / seconds,
      p50,
      p99,
      redisCpuUs: (redisCpu / events) * 1e6,
      redisCommandUs: redisCommandUsec / events,
      nodeCpuUs: (nodeCpuUsage.user + nodeCpuUsage.system) / events,
      memoryPerUser,
      users: users.size,
    };
  } finally {
    await client.quit();
    await server.dispose();
  }
}

const COLUMNS: readonly {
  readonly title: string;
  readonly width: number;
  readonly cell: (f: RunFigures) => string;
  readonly value: (f: RunFigures) => number;
}[] = [
  { title: 'events/s', width: 9, cell: (f) => fmt(f.eventsPerSecond), value: (f) => f.eventsPerSecond },
  { title: 'batch p50', width: 10, cell: (f) => `${fmt(f.p50, 2)} ms`, value: (f) => f.p50 },
  { title: 'batch p99', width: 10, cell: (f) => `${fmt(f.p99, 2)} ms`, value: (f) => f.p99 },
  { title: 'Redis CPU/ev', width: 12, cell: (f) => `${fmt(f.redisCpuUs, 1)} µs`, value: (f) => f.redisCpuUs },
  { title: 'Redis cmds/ev', width: 13, cell: (f) => `${fmt(f.redisCommandUs, 1)} µs`, value: (f) => f.redisCommandUs },
  { title: 'engine CPU/ev', width: 13, cell: (f) => `${fmt(f.nodeCpuUs, 1)} µs`, value: (f) => f.nodeCpuUs },
  { title: 'memory/user', width: 11, cell: (f) => `${fmt(f.memoryPerUser)} B`, value: (f) => f.memoryPerUser },
];

/**
 * One row per store, then each store's ratios to the baseline (when both ran).
 * Redis CPU/ev is INFO cpu (user + sys: the whole server, network I/O
 * included); Redis cmds/ev is INFO commandstats (wall-clock time inside
 * commands only, preemption included); engine CPU/ev is this process.
 */
function printComparison(partitions: number, results: readonly { store: StoreUnderTest; figures: RunFigures }[]): void {
  const ratioLabel = (store: StoreUnderTest, baseline: StoreUnderTest): string =>
    `${store.name.split(' ')[0]}/${baseline.name.split(' ')[0]}`;
  const nameWidth = Math.max(`[${partitions}p] store`.length, ...results.map((r) => r.store.name.length)) + 1;
  const row = (name: string, cells: readonly string[]): void => {
    process.stdout.write(`    ${name.padEnd(nameWidth)}${cells.map((c, i) => c.padStart(COLUMNS[i].width + 2)).join('')}\n`);
  };
  row(
    `[${partitions}p] store`,
    COLUMNS.map((c) => c.title),
  );
  for (const { store, figures } of results)
    row(
      store.name,
      COLUMNS.map((c) => c.cell(figures)),
    );
  const baseline = results.find((r) => r.store.baseline === true);
  if (baseline !== undefined) {
    for (const { store, figures } of results) {
      if (store === baseline.store) continue;
      row(
        ratioLabel(store, baseline.store),
        COLUMNS.map((c) => `${fmt(c.value(figures) / c.value(baseline.figures), 2)}×`),
      );
    }
  }
  const users = [...new Set(results.map((r) => fmt(r.figures.users)))].join(' / ');
  process.stdout.write(
    `    (${users} active users; targets for the new store: Redis CPU/ev ≤ 1/3 of the old store's, ` +
      `≥ 25,000 events/s with 3 partitions in flight, batch p99 < 20 ms)\n`,
  );
}
