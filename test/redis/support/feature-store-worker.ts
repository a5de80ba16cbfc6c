/**
 * One engine process of the concurrency test (concurrent-partitions.test.ts),
 * run as a child process:
 *   node feature-store-worker.js <redisUrl> <keyPrefix> <jobFile> <resultFile>
 * The job file holds the definitions, the settings, the partition and its
 * batches. The worker opens its own RedisClient and RedisFeatureStore,
 * prints `ready`, waits for a line on stdin (so that both workers start
 * together), applies the batches in order, and writes the outcomes of each
 * batch and `store.conflicts` to the result file as JSON.
 *
 * After computing each attempt's entity states and before writing them, it
 * waits 0–3 ms (`afterStep('computed')`): the other worker writes shared
 * entities in between, so compare-and-set conflicts are forced, not left to
 * chance.
 *
 * A batch that gives up with a retriable REDIS_CONFLICT (its entities kept
 * changing for every attempt: nothing of it was written) is applied again,
 * as the Kafka consumer does with a batch that failed with a retriable error.
 * Under a loaded test run the worker that must re-read can lose the race to
 * the other one's cached writes many times in a row; the guarantees under test
 * (no update lost, one sequential order) hold either way.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { FeatureDefinition, StateInput, StateOutcome, StateSettings } from '@risk/domain';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { RedisFeatureStore } from '@risk/infra/redis/redis-feature.store';

export interface WorkerJob {
  readonly definitions: FeatureDefinition[];
  readonly settings: StateSettings;
  readonly partition: string;
  readonly batches: StateInput[][];
}

export interface WorkerResult {
  readonly outcomes: StateOutcome[][];
  readonly conflicts: number;
  /** Batches applied again after a retriable REDIS_CONFLICT. */
  readonly batchRetries: number;
  /** Wall-clock ms spent applying (from the start signal). */
  readonly elapsedMs: number;
}

async function main(): Promise<void> {
  const [url, keyPrefix, jobFile, resultFile] = process.argv.slice(2);
  const job = JSON.parse(readFileSync(jobFile, 'utf8')) as WorkerJob;
  const client = new RedisClient({ url, commandTimeoutMs: 5_000 });
  await client.waitReady();
  const store = new RedisFeatureStore(client, job.definitions, job.settings, {
    keyPrefix,
    afterStep: async (step) => {
      if (step === 'computed') await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
    },
  });
  const lines = createInterface({ input: process.stdin });
  const go = new Promise<void>((resolve) => lines.once('line', () => resolve()));
  process.stdout.write('ready\n');
  await go;
  lines.close();
  const started = Date.now();
  const outcomes: StateOutcome[][] = [];
  let batchRetries = 0;
  for (const batch of job.batches) {
    for (;;) {
      try {
        outcomes.push(await store.apply(job.partition, batch));
        break;
      } catch (error) {
        const coded = error as { code?: unknown; retriable?: unknown };
        if (coded.code !== 'REDIS_CONFLICT' || coded.retriable !== true || batchRetries >= 50) throw error;
        batchRetries++;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
      }
    }
  }
  const result: WorkerResult = { outcomes, conflicts: store.conflicts, batchRetries, elapsedMs: Date.now() - started };
  writeFileSync(resultFile, JSON.stringify(result));
  await store.close();
  await client.quit();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
