import type { Verdict } from '@risk/domain';
import { benchElasticsearchSink } from './elasticsearch-sink.bench';
import { spawnEsTestServer } from '@test/support/es-test-server';
import { fmt, line } from './stats';

/** Verdicts into the Elasticsearch-API test server (in its own process), bulk requests of a few MB. */
export async function benchSink(verdicts: Verdict[]): Promise<void> {
  const server = await spawnEsTestServer();
  try {
    const result = await benchElasticsearchSink({ verdicts, node: server.url });
    process.stdout.write(
      `\nElasticsearch sink: ${fmt(verdicts.length)} verdicts (+ one profile update each) into the ES-API test server\n`,
    );
    line('throughput', `${fmt(result.docsPerSec)} verdicts/s   (target ≥ 20,000)`);
    line('bulk latency', `p50 ${fmt(result.bulkP50Ms, 1)} ms   p99 ${fmt(result.bulkP99Ms, 1)} ms`);
  } finally {
    await server.stop();
  }
}
