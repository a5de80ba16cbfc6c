// Not a test: `node <out>/apps/bench/src/redis-state-once.js` measures the Redis state layer once on a generated 24-hour stream.
import { benchRedisFeatureStore } from './redis-feature-store.bench';
import { TestRedisServer } from '@test/support/redis-server';
import { chunk, defaultDefinitions, generateStream } from '@test/support/state-stream';

async function main(): Promise<void> {
  const events = Number(process.argv[2] ?? 300_000);
  const users = Number(process.argv[3] ?? 20_000);
  const server = await TestRedisServer.start();
  try {
    const inputs = generateStream({
      seed: 1,
      events,
      spanMs: 24 * 3_600_000,
      users,
      ips: Math.round(users / 4),
      devices: Math.round(users * 1.2),
      allowedLatenessMs: 600_000,
    });
    const result = await benchRedisFeatureStore({ url: server.url, batches: chunk(inputs, 100), definitions: defaultDefinitions() });
    console.log(JSON.stringify({ events, users, batchSize: 100, ...result }));
  } finally {
    await server.dispose();
  }
}

void main();
