import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestElasticsearchNode } from '@test/support/elasticsearch-node';
import { TestKafkaCluster } from '@test/support/kafka-broker';
import { TestRedisServer } from '@test/support/redis-server';

/**
 * `npm run stack`: the compose stack's flow without Docker, for developers and
 * users who want to see the whole engine work: a real Kafka broker (KRaft) and
 * a real Elasticsearch 8 node from the Maven jars, a private redis-server, and
 * one engine process wired to all three. Every server listens on a free
 * loopback port (never the standard ones, which may belong to something else);
 * the addresses and a few commands to try are printed. Ctrl-C stops it all and
 * removes its data.
 */
const TOPICS = ['user-events:6', 'risk-alerts:6', 'user-events-dlq:6'];

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  const port = process.env.PORT ?? '8080';
  say('stack: starting Kafka, Elasticsearch and Redis (first start takes ~30 s)…');
  const [kafka, elasticsearch, redis] = await Promise.all([
    TestKafkaCluster.start({ topics: TOPICS, partitions: 6 }),
    TestElasticsearchNode.start({ heapMb: 384 }),
    TestRedisServer.start(),
  ]);
  const dataDir = mkdtempSync(join(tmpdir(), 'risk-stack-data-'));
  const brokers = kafka.brokers.join(',');
  const engine: ChildProcess = spawn(process.execPath, [join(process.cwd(), 'dist', 'apps', 'engine', 'src', 'main.js')], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      PORT: port,
      DATA_DIR: dataDir,
      KAFKA_BROKERS: brokers,
      REDIS_URL: redis.url,
      ELASTICSEARCH_NODE: elasticsearch.url,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    },
  });

  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('stack: stopping the engine, then the servers…');
    if (engine.exitCode === null) {
      await new Promise<void>((resolve) => {
        engine.once('exit', () => resolve());
        engine.kill('SIGTERM');
      });
    }
    await Promise.allSettled([kafka.stop(), elasticsearch.stop(), redis.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  engine.once('exit', (code) => {
    if (!stopping) {
      say(`stack: the engine exited (${code}); stopping the servers`);
      void stop(code ?? 1);
    }
  });

  say(
    [
      '',
      'stack: running (Ctrl-C stops everything and removes its data)',
      `  engine         http://127.0.0.1:${port}   (/health, /ready, /metrics, /docs, /verdicts, /alerts)`,
      `  Kafka          ${brokers}   topics: user-events, risk-alerts, user-events-dlq`,
      `  Elasticsearch  ${elasticsearch.url}   verdicts under the risk-verdicts alias`,
      `  Redis          ${redis.url}`,
      '',
      'try:',
      `  npx risk-engine generate --events 2000 --seed 7 --format kcat | kcat -P -b ${brokers} -t user-events -K '|'`,
      `  kcat -C -b ${brokers} -t risk-alerts -o beginning -e`,
      `  curl -s '${elasticsearch.url}/risk-verdicts/_count'`,
      `  curl -s 'http://127.0.0.1:${port}/metrics' | grep risk_engine_events_total`,
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`stack: ${(error as Error).message}\n`);
  process.exit(1);
});
